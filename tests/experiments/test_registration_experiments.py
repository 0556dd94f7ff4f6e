"""The registration experiment layer: registry, baselines, objectives, training, per-case rows."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from mricompendium.claims import results_frame
from mricompendium.data.registration import PairGenerator, TissueContrast, brain_slices
from mricompendium.experiments import registration as R
from mricompendium.experiments.registration import protocols
from mricompendium.physics.deform import warp


@pytest.fixture(scope="module")
def gen():
    a = brain_slices(32, y_mm=[-20.0, -8.0, 4.0], n_parcels=6, template_mm=4.0)
    return PairGenerator(a, amplitude_mm=6.0, control_spacing_mm=40.0)


def _blob_pair(shift=2.0):
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((yy - 16) ** 2 + (xx - 15) ** 2) / 30.0)[None, None]
    s = torch.zeros(1, 2, 32, 32)
    s[:, 1] = shift
    return blob, warp(blob, -s)  # fixed: the blob moved by +shift columns


@pytest.mark.parametrize("name", sorted(R.REGISTRY))
def test_registry_builds_small_and_paper_configs(name):
    small = R.build_model(name)
    with torch.device("meta"):
        paper = R.build_model(name, "paper")
    assert R.count_parameters(paper) > R.count_parameters(small)
    assert R.REGISTRY[name].citation
    with pytest.raises(ValueError, match="unknown model"):
        R.build_model("NoSuchNet")


@pytest.mark.parametrize(
    "fn", [R.sitk_demons(iterations=50), R.sitk_bspline(mesh_spacing=16, iterations=50)]
)
def test_classical_baselines_move_the_right_way(fn):
    moving, fixed = _blob_pair(2.0)
    disp = fn(moving, fixed)
    assert disp.shape == (1, 2, 32, 32)
    centre = disp[0, :, 12:20, 11:19].mean((1, 2))
    assert centre[1] < -0.5 and abs(centre[0]) < 0.5  # truth: -2 along columns, 0 along rows
    assert (warp(moving, disp) - fixed).abs().mean() < (moving - fixed).abs().mean()


def test_identity_baseline_is_zero():
    moving, fixed = _blob_pair()
    assert torch.count_nonzero(R.identity()(moving, fixed)) == 0


def test_registrator_forward_is_the_bare_network():
    net = R.build_model("VoxelMorph")
    plain = R.Registrator(net, R.LossConfig())
    uw = R.Registrator(net, R.LossConfig(dice=1.0, n_labels=3, adaptive=True))
    moving, fixed = _blob_pair()
    assert torch.equal(plain(moving, fixed).disp, uw(moving, fixed).disp)
    extra = {n for n, _ in uw.named_parameters()} - {n for n, _ in plain.named_parameters()}
    assert extra == {"weighting.log_vars"}


def test_loss_terms_and_guidance(gen):
    batch = gen.sample(2, torch.Generator().manual_seed(0))
    cfg = R.LossConfig(dice=1.0, n_labels=gen.anatomies.n_labels, elastic=0.5)
    terms = R.Registrator(R.build_model("VoxelMorph"), cfg).terms(batch)
    assert set(terms) == {"similarity", "dice", "regulariser"}
    assert all(torch.isfinite(t) and t >= 0 for t in terms.values())
    with pytest.raises(ValueError, match="n_labels"):
        R.LossConfig(dice=1.0)


def test_train_records_validation_and_half_budget(gen):
    val = gen.fixed_set(2, seed=9)
    model, hist = R.train(
        "VoxelMorph",
        R.LossConfig(),
        functools.partial(gen.batch, batch_size=2),
        steps=4,
        lr=1e-3,
        seed=0,
        device="cpu",
        val_pairs=val,
        val_every=2,
        half_budget=lambda m: "snapshot",
    )
    assert hist.val_steps == [2, 4] and len(hist.val) == 2
    assert hist.snapshots == {2: "snapshot"}
    assert not model.training


def test_score_pairs_gives_valid_claims_rows(gen):
    pairs = gen.fixed_set(3, seed=1)
    disp, secs = R.register_pairs(R.identity(), pairs)
    keys = dict(setting="synthetic", method="identity", seed=-1, budget=0, group="template")
    rows = R.score_pairs(
        pairs, disp, secs, spacing_mm=gen.spacing_mm, keys=keys, cases=["a", "b", "c"]
    )
    df = results_frame(rows)
    metrics = {"dice", "hd95", "folding_pct", "logjac_sd", "epe", "runtime_s", "degenerate"}
    assert len(df) == 3 and metrics <= set(df.columns)
    assert df["folding_pct"].eq(0).all() and df["dice"].between(0, 1).all()
    assert df["degenerate"].eq(1.0).all()  # the identity is a constant field
    truth_rows = R.score_pairs(
        pairs, pairs["truth"], secs, spacing_mm=gen.spacing_mm, keys=keys, cases=["a", "b", "c"]
    )
    assert np.all([t["epe"] < 1e-6 for t in truth_rows])
    assert all(t["degenerate"] == 0.0 for t in truth_rows)
    no_epe = R.common_metrics([rows[0], {k: v for k, v in rows[1].items() if k != "epe"}])
    assert all("epe" not in r for r in no_epe)


def test_3d_profile_draws_pairs_and_trains():
    data = protocols.brain_pairs(0, ndim=3, template_mm=8.0, n_parcels=4)
    assert len(data.anatomies.shape) == 3 and all(s % 16 == 0 for s in data.anatomies.shape)
    assert "3D template" in data.description(1, 2) and "one anatomy" in data.description(1, 2)
    val = data.val.fixed_set(1, seed=3)
    small3d = {"ndim": 3, "enc_channels": (4, 4), "dec_channels": (4, 4), "final_channels": (4,)}
    model, hist = R.train(
        "VoxelMorph",
        R.LossConfig(),
        functools.partial(data.train.batch, batch_size=1),
        steps=2,
        lr=1e-3,
        seed=0,
        device="cpu",
        val_pairs=val,
        val_every=1,
        overrides=small3d,
    )
    rows = protocols.evaluate_method(
        R.learned(model.net),
        val,
        method="v",
        setting="s",
        group="g",
        spacing_mm=data.anatomies.spacing_mm,
        cases=["c"],
    )
    assert len(hist.val) == 2 and 0 <= rows[0]["dice"] <= 1


def test_constant_baseline_returns_its_field_whatever_the_images():
    field = torch.randn(1, 2, 32, 32)
    moving, fixed = _blob_pair()
    out = R.constant(field)(moving, fixed)
    assert torch.equal(out, field) and out is not field
    with pytest.raises(ValueError, match="grid"):
        R.constant(field)(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16))


def test_similarity_weight_scales_the_similarity_term(gen):
    batch = gen.sample(2, torch.Generator().manual_seed(0))
    net = R.build_model("VoxelMorph")
    plain = R.Registrator(net, R.LossConfig(smoothness=1.0))
    heavy = R.Registrator(net, R.LossConfig(smoothness=1.0, similarity_weight=3.0))
    t = plain.terms(batch)
    assert torch.isclose(heavy.loss(batch), 3.0 * t["similarity"] + t["regulariser"])
    uw = R.Registrator(net, R.LossConfig(similarity_weight=2.0, adaptive=True))
    assert uw.weighting.weights()["similarity"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="similarity_weight"):
        R.LossConfig(similarity_weight=0.0)


def test_brain_pairs_split_slices_and_test_with_another_family():
    data = protocols.brain_pairs(24, n_parcels=4, test_every=4, fixed_contrast=TissueContrast())
    names = [set(g.anatomies.names) for g in (data.train, data.val, data.test)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert sum(map(len, names)) == len(data.anatomies)
    assert (data.train.deformation, data.val.deformation, data.test.deformation) == (
        "svf",
        "svf",
        "gaussian",
    )
    # the test family's true displacement has the training pairs' measured sd
    assert data.test.amplitude_mm == pytest.approx(data.train.truth_sd_mm(), rel=1e-6)
    text = data.description(2, 3)
    assert "Gaussian-smoothed" in text and "b0-like" in text and "unit of independence" in text
    pairs = data.test.fixed_set(2, seed=0)
    assert (
        protocols.ssim_reference(pairs, pairs["truth"]).min()
        > protocols.ssim_reference(pairs, torch.zeros_like(pairs["truth"])).min() - 0.05
    )


def test_train_can_validate_on_ssim(gen):
    val = gen.fixed_set(2, seed=9)
    _, hist = R.train("VoxelMorph", R.LossConfig(), functools.partial(gen.batch, batch_size=2),
                      steps=2, lr=1e-3, seed=0, device="cpu", val_pairs=val, val_every=1,
                      val_metric="ssim")  # fmt: skip
    assert len(hist.val) == 2 and all(-1 <= v <= 1 for v in hist.val)
    with pytest.raises(ValueError, match="val_metric"):
        R.train("VoxelMorph", R.LossConfig(), gen.batch, steps=1, lr=1e-3, seed=0, device="cpu",
                val_pairs=val, val_every=1, val_metric="mi")  # fmt: skip


def test_bspline_coefficients_are_bounded():
    moving, fixed = _blob_pair(6.0)
    loose = R.sitk_bspline(mesh_spacing=16, iterations=50)(moving, fixed)
    tight = R.sitk_bspline(mesh_spacing=16, iterations=50, max_coefficient=0.05)(moving, fixed)
    assert tight.abs().max() <= 0.05 * 16 + 1e-6 < loose.abs().max()
    with pytest.raises(ValueError, match="max_coefficient"):
        R.sitk_bspline(max_coefficient=0.0)
