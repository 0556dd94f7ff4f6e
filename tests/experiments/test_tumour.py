"""The tumour task: synthetic and BraTS cases, the model registry, one short training run."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from mricompendium.experiments.segmentation import tumour
from mricompendium.models.segmentation import monai_nets


@pytest.fixture(scope="module")
def slices():
    return tumour.synth_cases(3, first_seed=10, dims=2, size=64)


def test_synth_cases_shapes_regions_and_determinism(slices):
    assert slices.x.shape == (3, 4, 64, 64) and slices.y.shape == (3, 3, 64, 64)
    et, tc, wt = slices.y[:, 0], slices.y[:, 1], slices.y[:, 2]
    assert bool((et <= tc).all() and (tc <= wt).all())  # nested BraTS regions
    assert bool((wt.flatten(1).sum(1) > 0).all())  # every slice cuts the tumour
    assert slices.units == slices.cases and len(set(slices.cases)) == 3
    again = tumour.synth_cases(1, first_seed=10, dims=2, size=64)
    assert torch.equal(again.x[0], slices.x[0])
    assert "3 synthetic tumour cases (2D, 64x64 voxels of 3x3 mm" in slices.describe()


def test_zscore_nonzero_keeps_zeros_and_standardises():
    img = torch.zeros(2, 8, 8)
    img[:, 2:6, 2:6] = torch.arange(32.0).reshape(2, 4, 4) + 5
    z = tumour.zscore_nonzero(img)
    assert bool((z[:, 0] == 0).all())
    inside = z[:, 2:6, 2:6].reshape(2, -1)
    torch.testing.assert_close(inside.mean(1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(inside.std(1), torch.ones(2), atol=1e-5, rtol=0)


def test_brats_cases_resample_and_crop(tmp_path):
    shape = (30, 30, 24)
    lab = np.zeros(shape, np.int16)
    lab[10:20, 10:20, 8:16] = 2
    lab[13:17, 13:17, 10:14] = 1
    lab[14:16, 14:16, 11:13] = 4
    for cid in ("A", "B"):
        folder = tmp_path / cid
        folder.mkdir()
        for i, m in enumerate(["t1", "t1ce", "t2", "flair"]):
            data = (np.random.default_rng(i).random(shape) + 1).astype(np.float32)
            nib.save(nib.Nifti1Image(data, np.eye(4)), folder / f"{cid}_{m}.nii.gz")
        nib.save(nib.Nifti1Image(lab, np.eye(4)), folder / f"{cid}_seg.nii.gz")
    data = tumour.brats_cases(str(tmp_path), max_cases=1, skip=1, dims=3, size=8, spacing_mm=2.0)
    assert data.cases == ["B"] and data.x.shape == (1, 4, 8, 8, 8)
    assert data.y[0, 2].sum() > 0 and data.group == "BraTS"
    flat = tumour.brats_cases(str(tmp_path), max_cases=2, dims=2, size=8, spacing_mm=2.0)
    assert flat.x.shape == (2, 4, 8, 8)


def test_registry_builds_every_model_and_refuses_unknown():
    for name in tumour.MODELS:
        net = tumour.build_model(name, dims=2, size=64, width=12 if "Swin" in name else 8)
        out = net.eval()(torch.randn(1, 4, 64, 64))
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (1, 3, 64, 64)
        assert name in tumour.PAPER_PROFILES
    with pytest.raises(ValueError, match="unknown model"):
        tumour.build_model("nnFormer", dims=2, size=64, width=8)


def test_train_and_evaluate_gives_full_and_half_budget_rows(slices):
    res = tumour.train_and_evaluate(
        "U-Net", seed=0, train=slices, val=slices, test=slices, steps=4, batch_size=2, lr=1e-3,
        width=8, setting="2D", val_every=2,
    )  # fmt: skip
    budgets = sorted({r["budget"] for r in res.rows})
    assert budgets == [2, 4] and len(res.rows) == 6
    assert all(0.0 <= r["dice"] <= 1.0 and np.isfinite(r["hd95"]) for r in res.rows)
    assert res.history.val_steps == [2, 4] and res.n_parameters > 0


def test_matched_width_brings_a_rival_to_the_reference_count():
    target = monai_nets.n_parameters(tumour.build_model("Swin UNETR", dims=2, size=64, width=12))
    for name in ("SegResNet", "U-Net"):
        w = tumour.matched_width(name, target, dims=2, size=64)
        n = monai_nets.n_parameters(tumour.build_model(name, dims=2, size=64, width=w))
        step = tumour.WIDTH_STEP[name]
        worse = [monai_nets.n_parameters(tumour.build_model(name, dims=2, size=64, width=v))
                 for v in (w - step, w + step)]  # fmt: skip
        assert w % step == 0 and all(abs(n - target) <= abs(m - target) for m in worse)


def test_floor_rows_and_patch_training(slices):
    rows = tumour.floor_rows("empty mask", slices, setting="2D")
    assert [r["method"] for r in rows] == ["empty mask"] * 3
    assert all(r["dice_WT"] == 0.0 and r["degenerate"] == 1.0 and r["seed"] == -1 for r in rows)
    res = tumour.train_and_evaluate(
        "SegResNet", seed=0, train=slices, val=slices, test=slices, steps=2, batch_size=2,
        lr=1e-3, width=8, setting="2D", crop=32, half_budget=False,
    )  # fmt: skip
    assert len(res.rows) == 3 and res.history.lrs[-1] < res.history.lrs[0]  # cosine schedule
