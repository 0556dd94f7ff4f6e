"""Multi-frame network training (equal budgets, curves, half-budget rows) and qMRI evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mricompendium.data.recon.cine import FrameSimulator
from mricompendium.data.recon.frames import FrameBatch
from mricompendium.experiments.reconstruction.frame_nets import (
    count_frame_parameters,
    frame_batch_fn,
    match_frame_budget,
    train_frame_seeds,
)
from mricompendium.experiments.reconstruction.qmri import (
    qdess_metrics,
    rank_agreement,
    spearman_discordance,
)
from mricompendium.experiments.reconstruction.study import TestSetting as Setting
from mricompendium.physics.qdess import QDessProtocol, qdess_echoes


def _echo_sim(n: int = 3) -> FrameSimulator:
    y, x = np.mgrid[:32, :32] - 15.5
    r = np.hypot(x, y)
    t2 = np.where(r < 8, 60.0, 110.0)
    objs = []
    for i in range(n):
        inside = torch.from_numpy((r < 10 + i).astype(np.float64))
        e = qdess_echoes(inside, inside * 0 + 1200.0, torch.from_numpy(t2), inside * 0,
                         protocol=QDessProtocol(b_s_mm2=0.0))  # fmt: skip
        objs.append(e.numpy())
    region = np.zeros((n, 16, 16), bool)
    region[:, 6:10, 6:10] = True
    return FrameSimulator(np.asarray(objs, np.float32), region, num_coils=2, snr=None, seed=0)


def test_budget_matching_turns_width_and_depth() -> None:
    over, n = match_frame_budget("E2E-VarNet", 4, 5000, fixed={"num_cascades": 2, "pools": 2})
    assert over["num_cascades"] == 2 and over["pools"] == 2
    assert n == count_frame_parameters("E2E-VarNet", 4, **over)
    unet, m = match_frame_budget("U-Net", 4, n)
    assert "num_pools" in unet and abs(m - n) / n < 0.5
    with pytest.raises(ValueError):
        count_frame_parameters("ResNet", 4)


def test_training_batches_mix_settings_and_share_a_mask() -> None:
    sim = _echo_sim()
    fn = frame_batch_fn(sim, ["poisson_2d@4", "poisson_2d@6"], 2, indices=None, mask_pool=2,
                        seed=0)  # fmt: skip
    b = fn(0, torch.Generator().manual_seed(0))
    assert isinstance(b, FrameBatch) and len(b) == 2 and b.mask.shape == (1, 1, 1, 16, 16)


def test_seeds_give_curves_and_rows_at_half_and_full_budget() -> None:
    sim = _echo_sim()
    meta = [(f"c{i}", f"c{i}", "g") for i in range(len(sim))]
    settings = [Setting("4x", sim, "poisson_2d@4", meta, 1)]
    out = train_frame_seeds("U-Net", sim, ["poisson_2d@4"], settings, frames=2, seeds=[0, 1],
                            steps=4, batch_size=2, lr=1e-3, validation=settings, val_every=2,
                            overrides={"chans": 2, "num_pools": 2},
                            extra=qdess_metrics(QDessProtocol(b_s_mm2=0.0)))  # fmt: skip
    assert sorted(out.models) == [0, 1] and len(out.curves) == 2
    df = pd.DataFrame(out.rows)
    assert sorted(df["budget"].unique()) == [2, 4] and len(df) == 2 * 2 * len(sim)
    assert {"ssim_head", "t2_error", "t2_log_error"} <= set(df.columns)
    assert all(len(c.val) >= 2 for c in out.curves)


def test_a_perfect_reconstruction_has_no_t2_error() -> None:
    sim = _echo_sim()
    b = sim.batch([1], "poisson_2d@4", seed=0)
    m = qdess_metrics(QDessProtocol(b_s_mm2=0.0))(b, b.target_abs)
    assert m["t2_error"] == pytest.approx(0.0, abs=1e-6) and m["ssim_head"] == pytest.approx(1.0)
    assert m["t2_mean_error"] == pytest.approx(0.0, abs=1e-6)
    worse = qdess_metrics(QDessProtocol(b_s_mm2=0.0))(b, b.zero_filled().abs())
    assert worse["t2_error"] > 0.01
    # the region's mean T2 can be right while the map is wrong: never above the map error
    assert 0 <= worse["t2_mean_error"] <= worse["t2_error"] + 1e-9


def test_discordance_and_rank_agreement() -> None:
    rows = []
    for i in range(8):
        noise = (-1) ** i * 0.015  # a rank correlation below one
        for m, s, e in (("A", 0.9 - 0.01 * i, 0.1 + 0.01 * i + noise), ("B", 0.8, 0.05)):
            rows.append(
                {
                    "method": m,
                    "setting": "s",
                    "budget": 1,
                    "case": f"c{i}",
                    "ssim_head": s,
                    "t2_error": e,
                }
            )
    df = pd.DataFrame(rows)
    rho, (lo, hi) = spearman_discordance(df, "A", "s")
    assert -1 < rho < -0.5 and lo <= rho <= hi
    agree = rank_agreement(df, "s", ["A", "B"])
    assert agree["by_ssim_head"] == ["A", "B"] and agree["by_t2_error"] == ["B", "A"]
    assert agree["agree"] is False
