"""Multitask reconstruction + segmentation (experiments.reconstruction.multitask)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium import training
from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction import multitask as mt
from mricompendium.models.reconstruction.multitask import ReconSeg, Segmenter

SAMPLING = "poisson_2d@4"


def _labels(sim) -> np.ndarray:
    """Labels the test simulator's objects carry: outside 0, a bright core 3, the rest 2."""
    obj = torch.stack([sim.batch([i], SAMPLING, 0).target_abs[0] for i in range(len(sim))])
    lab = np.zeros(obj.shape, dtype=np.int64)
    inside = obj.numpy() > 0.05
    lab[inside] = 2
    lab[obj.numpy() > 0.8] = 3
    return lab


def test_tissue_labels_and_majority_map() -> None:
    t = np.zeros((2, 3, 2, 2), dtype=np.float32)
    t[0, 0, 0, 0] = 0.9  # CSF
    t[0, 1, 0, 1] = 0.6  # GM over background 0.4
    t[0, 2, 1, 0], t[0, 1, 1, 0] = 0.5, 0.4  # WM
    t[1, 1] = 0.7  # GM everywhere
    lab = mt.tissue_labels(t)
    np.testing.assert_array_equal(lab[0], [[1, 2], [3, 0]])
    np.testing.assert_array_equal(lab[1], np.full((2, 2), 2))
    np.testing.assert_array_equal(mt.majority_map(np.stack([lab[1], lab[1], lab[0]])),
                                  np.full((2, 2), 2))  # fmt: skip
    with pytest.raises(ValueError):
        mt.tissue_labels(t[:, :2])


def test_dice_known_values() -> None:
    ref = np.zeros((1, 4, 4), dtype=np.int64)
    ref[0, :2] = 2  # GM: 8 pixels
    pred = np.zeros_like(ref)
    pred[0, :1] = 2  # 4 pixels, all inside
    # GM 2*4/(4+8) = 2/3; CSF and WM absent from both: 1 each
    assert mt.dice_per_case(pred, ref)[0] == pytest.approx((2 / 3 + 2) / 3)
    assert mt.dice_per_case(ref, ref)[0] == 1.0
    assert mt.dice_per_case(np.zeros_like(ref), ref)[0] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        mt.dice_per_case(pred[0], ref)


def test_segmentation_loss_is_low_for_the_right_answer() -> None:
    labels = torch.tensor([[[0, 1], [2, 3]]])
    right = 20.0 * torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    wrong = right.roll(1, dims=1)
    assert float(mt.segmentation_loss(right, labels)) < 0.01
    assert float(mt.segmentation_loss(wrong, labels)) > 1.0


def test_joint_loss_sums_both_terms_and_reaches_the_reconstruction(sim) -> None:
    lab = _labels(sim)
    torch.manual_seed(0)
    model = ReconSeg(rx.build_model("E2E-VarNet", num_cascades=1, chans=2, pools=1,
                                    sens_chans=2, sens_pools=1), Segmenter(chans=2))  # fmt: skip
    batch = sim.batch([0, 1], SAMPLING, 0)
    seg_only = mt.multitask_loss(torch.as_tensor(lab), recon_weight=0.0, seg_weight=1.0)
    both = mt.multitask_loss(torch.as_tensor(lab), recon_weight=1.0, seg_weight=1.0)
    recon = rx.magnitude_l1(model, batch)
    torch.testing.assert_close(both(model, batch), seg_only(model, batch) + recon)
    both(model, batch).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.recon.parameters())
    with pytest.raises(ValueError):
        mt.multitask_loss(torch.as_tensor(lab), recon_weight=0.0, seg_weight=0.0)


def test_segmenter_overfits_one_batch_and_rows_carry_dice(sim, meta) -> None:
    lab = _labels(sim)
    loss = mt.multitask_loss(torch.as_tensor(lab), recon_weight=0.0, seg_weight=1.0)
    val = mt.dice_validation(sim, [SAMPLING], lab, seed=5, indices=[0, 1])
    settings = [rx.TestSetting(SAMPLING, sim, SAMPLING, meta, 7)]
    out = mt.train_over_seeds(
        "zero-filled + seg",
        lambda s: ReconSeg(None, Segmenter(chans=4)),
        sim,
        [SAMPLING],
        seeds=[0],
        steps=60,
        batch_size=2,
        lr=1e-2,
        val_fn=val,
        val_metric="dice",
        val_every=20,
        loss=loss,
        indices=[0, 1],
        mask_pool=1,
        rows=lambda m, s, b: mt.reconseg_rows(m, "zf+seg", settings, lab, train_seed=s, budget=b),
    )
    hist = out.histories[0]
    assert np.mean(hist.losses[-5:]) < 0.5 * np.mean(hist.losses[:5])
    assert hist.val[-1] > hist.val[0] and hist.val[-1] > 0.8
    assert set(out.halves) == {0} and len(out.curves) == 1
    rows = out.rows
    assert len(rows) == 2 * len(sim)  # full and half budget
    assert {r["budget"] for r in rows} == {60, 30}
    assert all(0.0 <= r["dice"] <= 1.0 and r["degenerate"] in (0.0, 1.0) for r in rows)
    atlas = mt.reconseg_rows(rx.zero_filled(), "atlas", settings, lab,
                             segment=mt.majority_map(lab))  # fmt: skip
    assert len(atlas) == len(sim) and all(r["seed"] == -1 for r in atlas)


def test_train_over_seeds_builds_after_seeding(sim) -> None:
    """Two stages built alike start alike: the builder runs after the seed is set."""
    built = []

    def build(seed: int) -> torch.nn.Module:
        m = Segmenter(chans=2)
        built.append(next(m.parameters()).detach().clone())
        return ReconSeg(None, m)

    lab = _labels(sim)
    loss = mt.multitask_loss(torch.as_tensor(lab), recon_weight=0.0, seg_weight=1.0)
    for _ in range(2):
        training.seed_everything(123)  # whatever came before
        mt.train_over_seeds("a", build, sim, [SAMPLING], seeds=[4], steps=2, batch_size=1,
                            lr=1e-3, val_fn=lambda m: 0.0, val_metric="dice", val_every=1,
                            loss=loss, half_budget=False)  # fmt: skip
    torch.testing.assert_close(built[0], built[1])
