"""Self-configuring U-Net pipeline: nnU-Net's planning rules, preprocessing, post-processing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mricompendium.experiments.segmentation import autoconfig, pipeline
from mricompendium.experiments.segmentation.volumes import Volume


@pytest.mark.parametrize(
    "spacing,patch,strides,kernels",
    [  # expected values: nnunetv2 2.8.1 get_pool_and_conv_props(spacing, patch, 4, 999999)
        ([1, 1, 1], [128, 128, 128], [[1, 1, 1]] + [[2, 2, 2]] * 5, [[3, 3, 3]] * 6),
        (
            [10, 1.56, 1.56],
            [20, 256, 224],
            [[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
            [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
        ),
        (
            [3, 3, 6],
            [40, 48, 20],
            [[1, 1, 1], [2, 2, 1], [2, 2, 2], [2, 2, 2]],
            [[3, 3, 1], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
        ),
        ([1.0, 0.8], [200, 180], [[1, 1]] + [[2, 2]] * 5, [[3, 3]] * 6),
    ],
)
def test_pool_and_conv_matches_nnunet(spacing, patch, strides, kernels):
    s, k, p = autoconfig.pool_and_conv(spacing, patch)
    assert s == strides and k == kernels
    div = np.prod(np.asarray(strides), axis=0)
    assert all(a % d == 0 for a, d in zip(p, div, strict=True))


def _fingerprint(spacings, shapes, names=("T1",), crop_fraction=1.0):
    return autoconfig.Fingerprint(
        np.asarray(spacings, float), np.asarray(shapes, float), crop_fraction, tuple(names),
        tuple({"mean": 10.0, "sd": 2.0, "p00_5": 5.0, "p99_5": 15.0} for _ in names),
    )  # fmt: skip


def test_target_spacing_median_and_anisotropic_correction():
    iso = _fingerprint([[1, 1, 1], [1.2, 1, 1], [0.8, 1, 1]], [[100, 100, 100]] * 3)
    np.testing.assert_allclose(autoconfig.target_spacing(iso), [1, 1, 1])
    # ACDC-like: 10 mm slices, few of them -> the coarse axis goes to its 10th percentile
    aniso = _fingerprint([[1.5, 1.5, 10], [1.5, 1.5, 5], [1.5, 1.5, 10], [1.5, 1.5, 10]],
                         [[200, 200, 10]] * 4)  # fmt: skip
    t = autoconfig.target_spacing(aniso)
    assert t[2] == pytest.approx(np.percentile([10, 5, 10, 10], 10))


def test_normalisation_rule_and_plan_budget():
    fp = _fingerprint([[1, 1, 2]] * 4, [[64, 64, 32]] * 4, names=("T1", "CT"), crop_fraction=0.5)
    p = autoconfig.plan(fp, base_features=8, initial_voxels=32**3, max_patch_voxels=8000)
    assert p.normalisation == ("zscore", "CT")
    assert p.use_mask_for_norm == (True, False)  # cropping shrank the cases below 3/4
    assert np.prod(p.patch_size) <= 8000 and p.batch_size >= 2
    div = np.prod(np.asarray(p.strides), axis=0)
    assert all(a % d == 0 for a, d in zip(p.patch_size, div, strict=True))
    assert p.features == tuple(8 * 2**i for i in range(len(p.strides)))
    assert len(p.rules) == 5
    p2d = autoconfig.plan(fp, configuration="2d", base_features=8)
    assert len(p2d.patch_size) == 2
    with pytest.raises(ValueError, match="configuration"):
        autoconfig.plan(fp, configuration="3d_lowres")


def test_keep_largest_component_and_the_postprocessing_rule():
    target = np.zeros((1, 10, 10), np.int64)
    target[0, 2:6, 2:6] = 1
    target[0, 2:6, 6:9] = 2
    pred = target.copy()
    pred[0, 8, 0] = 2  # a spurious blob of class 2
    cleaned = autoconfig.keep_largest_component(pred)
    assert cleaned[0, 8, 0] == 0 and (cleaned[0, 2:6, 2:9] == target[0, 2:6, 2:9]).all()
    split = target.copy()
    split[0, 8:10, 8:10] = 1  # class 1 in two pieces in the reference too
    assert autoconfig.keep_largest_component(split, 1)[0, 9, 9] == 0
    pp = autoconfig.plan_postprocessing([pred[0]], [target[0]], [1, 2])
    assert pp.foreground and pp.describe().startswith("largest component of whole foreground")
    assert np.array_equal(pp.apply(pred), target)
    none = autoconfig.plan_postprocessing([split[0]], [split[0]], [1, 2])
    assert not none.foreground and none.classes == () and none.describe() == "none"


def _volumes(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lab = np.zeros((20, 18, 10), np.int64)
        c = rng.integers(6, 12, 3)
        lab[c[0] - 3 : c[0] + 3, c[1] - 3 : c[1] + 3, 3:7] = 2
        lab[c[0] - 1 : c[0] + 1, c[1] - 1 : c[1] + 1, 4:6] = 3
        img = np.stack([lab * (k + 1) + rng.normal(0, 0.3, lab.shape) for k in range(2)])
        out.append(Volume(img.astype(np.float32), lab, (2.0, 2.0, 4.0), f"v{seed}-{i}"))
    return out


def test_prepare_and_a_short_training_run():
    vols = _volumes(3, 0)
    fp = autoconfig.fingerprint([v.image for v in vols], [v.labels for v in vols],
                                [v.spacing_mm for v in vols], ("A", "B"))  # fmt: skip
    p = autoconfig.plan(fp, base_features=4, initial_voxels=16**3, max_patch_voxels=2000)
    train = pipeline.prepare(vols, p, fp)
    test = pipeline.prepare(_volumes(2, 1), p, fp)
    assert train.x.shape[:2] == (3, 2) and train.y.shape[1] == 1
    assert all(s >= q for s, q in zip(train.x.shape[2:], p.patch_size, strict=True))
    regions = {"ET": (3,), "WT": (1, 2, 3)}
    res = pipeline.train_variant(
        p, residual_encoder=True, method="R", seed=0, train=train, val=test, test=test, steps=2,
        lr=1e-3, n_classes=4, regions=regions, setting="s", group="g", device="cpu",
    )  # fmt: skip
    methods = sorted({(r["method"], r["budget"]) for r in res["rows"]})
    assert methods == [("R", 1), ("R", 2), ("R+CC", 1), ("R+CC", 2)]
    assert all(0 <= r["dice_WT"] <= 1 for r in res["rows"])


def test_matched_plan_widens_the_plain_network_to_the_residual_count():
    vols = _volumes(3, 0)
    fp = autoconfig.fingerprint([v.image for v in vols], [v.labels for v in vols],
                                [v.spacing_mm for v in vols], ("A", "B"))  # fmt: skip
    p = autoconfig.plan(fp, base_features=4, initial_voxels=16**3, max_patch_voxels=2000)
    io = dict(in_channels=2, out_channels=4)
    target = pipeline.n_parameters(p, residual_encoder=True, **io)
    plain = pipeline.n_parameters(p, residual_encoder=False, **io)
    wide = pipeline.matched_plan(p, target, **io)
    n = pipeline.n_parameters(wide, residual_encoder=False, **io)
    assert plain < target and abs(n / target - 1) < 0.2 < abs(plain / target - 1)
    for base in (wide.features[0] - 1, wide.features[0] + 1):  # no neighbouring width is closer
        other = pipeline.matched_plan(p, target, **io)
        other = dataclasses.replace(other, features=tuple(f * base // other.features[0]
                                                          for f in other.features))  # fmt: skip
        assert abs(pipeline.n_parameters(other, residual_encoder=False, **io) - target) >= abs(
            n - target
        )
    ratio = [b / a for a, b in zip(wide.features, wide.features[1:], strict=False)]
    assert ratio == [b / a for a, b in zip(p.features, p.features[1:], strict=False)]
    assert wide.patch_size == p.patch_size and wide.strides == p.strides
    assert "matched budget" in wide.summary().splitlines()[-1]


def test_floor_cases_are_empty_or_the_training_majority():
    vols = _volumes(3, 0)
    fp = autoconfig.fingerprint([v.image for v in vols], [v.labels for v in vols],
                                [v.spacing_mm for v in vols], ("A", "B"))  # fmt: skip
    p = autoconfig.plan(fp, base_features=4, initial_voxels=16**3, max_patch_voxels=2000)
    train = pipeline.prepare(vols, p, fp)
    test = pipeline.prepare(_volumes(2, 1), p, fp)
    empty = pipeline.floor_cases("empty mask", test, train)
    prior = pipeline.floor_cases("majority map", test, train)
    assert all(
        not e.any() and e.shape == tuple(t.shape) for e, t in zip(empty, test.labels, strict=True)
    )
    assert all(m.shape == tuple(t.shape) for m, t in zip(prior, test.labels, strict=True))
    assert set(np.unique(prior[0])) <= {0, 2, 3} and (prior[0] == 2).any()
    with pytest.raises(ValueError, match="kind"):
        pipeline.floor_cases("atlas", test, train)
