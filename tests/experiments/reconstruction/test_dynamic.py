"""Classical dynamic reconstruction: operators, proximal steps, solvers, equal tuning, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.recon.cine import FrameSimulator
from mricompendium.experiments.reconstruction import dynamic as d
from mricompendium.experiments.reconstruction.multiframe import (
    classical,
    evaluate_frames,
    frame_metrics,
    tune_weights,
)


def _cine(n: int = 2, frames: int = 6, size: int = 16) -> np.ndarray:
    """A disc whose radius beats, on a grid twice finer than ``size``: ``(n, T, 2s, 2s)``."""
    y, x = np.mgrid[: 2 * size, : 2 * size] - (2 * size - 1) / 2
    r = np.hypot(x, y)
    out = []
    for i in range(n):
        t = np.arange(frames) / frames
        rad = size * (0.35 + 0.1 * np.sin(2 * np.pi * t) + 0.02 * i)
        out.append([0.4 * (r < 0.8 * size) + 0.6 * (r < k) for k in rad])
    return np.asarray(out, np.float32)


@pytest.fixture(scope="module")
def sim() -> FrameSimulator:
    obj = _cine()
    region = np.ones((len(obj), 16, 16), bool)
    return FrameSimulator(obj, region, num_coils=4, snr=50.0, seed=0)


def test_svt_matches_the_svd() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 6, 7, dtype=torch.complex64, generator=g)
    for unfolding, m in (("casorati", x.reshape(2, 5, 42)),
                         ("rows", x.permute(0, 2, 1, 3).reshape(2, 6, 35))):  # fmt: skip
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        want = u @ torch.diag_embed((s - 1.0).clamp_min(0).to(u.dtype)) @ vh
        got = d.svt(x, 1.0, unfolding)
        got = (
            got.reshape(2, 5, 42)
            if unfolding == "casorati"
            else got.permute(0, 2, 1, 3).reshape(2, 6, 35)
        )
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError):
        d.svt(x, 1.0, "columns")


def test_gradients_and_their_adjoints() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 5, 6, dtype=torch.complex64, generator=g)
    p = torch.randn(2, 1, 4, 5, 6, dtype=torch.complex64, generator=g)
    q = torch.randn(1, 4, 5, 6, dtype=torch.complex64, generator=g)
    lhs = (d._grad_s(x).conj() * p).sum()
    assert abs(lhs - (x.conj() * d._grad_s_adj(p)).sum()) < 1e-4 * abs(lhs)
    lhs = (d._grad_t(x).conj() * q).sum()
    assert abs(lhs - (x.conj() * d._grad_t_adj(q)).sum()) < 1e-4 * abs(lhs)
    assert torch.allclose(d._grad_t(torch.ones(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize(("name", "weights"), [
    ("L+S", {"lam_l": 0.5, "lam_s": 0.05}),
    ("RDLEDM", {"tv": 0.01, "nn": 0.5, "err": 1.0}),
    ("TV+NN", {"tv": 0.01, "nn": 0.5}),
    ("temporal TV", {"tv": 0.05}),
    ("SENSE", {"lam": 0.01}),
])  # fmt: skip
def test_every_method_beats_zero_filled_on_an_easy_cine(sim, name: str, weights: dict) -> None:
    meta = [("a", "a", "g"), ("b", "b", "g")]
    zf = evaluate_frames(lambda b: b.zero_filled(), sim, "vd_kt@3", meta, seed=1, name="zf")
    ev = evaluate_frames(classical(d.DYNAMIC_METHODS[name], weights, iters=60, tol=1e-5), sim,
                         "vd_kt@3", meta, seed=1, name=name)  # fmt: skip
    assert ev.values("psnr").mean() > zf.values("psnr").mean() + 1.0
    assert all(1 <= r["iterations"] <= 60 for r in ev.rows) and (ev.time_s > 0).all()


def test_the_stopping_rule_stops_early_and_weights_are_checked(sim) -> None:
    b = sim.batch([0], "vd_kt@3", seed=1)
    assert d.lps(b, lam_l=0.5, lam_s=0.05, iters=500, tol=0.05).iters < 500
    with pytest.raises(ValueError):
        d.primal_dual(b, weights={"tv_s": -1.0}, iters=2, tol=0)
    with pytest.raises(ValueError):
        d.primal_dual(b, weights={"wavelet": 1.0}, iters=2, tol=0)


def test_primal_dual_moves_past_a_consistent_zero_filled_start() -> None:
    """One coil: the zero-filled image fits the data, so only the regularisers move it; the
    stopping rule must not stop at the first step."""
    obj = _cine(1)
    one = FrameSimulator(obj, np.ones((1, 16, 16), bool), num_coils=1, snr=50.0, seed=0)
    b = one.batch([0], "vd_kt@3", seed=1)
    out = d.primal_dual(b, weights={"tv_t": 0.05}, iters=30, tol=1e-4)
    assert out.iters > 1
    assert not torch.allclose(out.image, b.zero_filled(), atol=1e-6)


def test_sense_with_full_sampling_recovers_the_reference(sim) -> None:
    b = sim.batch([0], "equispaced_kt@1,acs=0", seed=2)
    out = d.cg_sense(b, lam=0.0, iters=50, tol=1e-8).image
    assert frame_metrics(out.abs(), b.target_abs, b.region)["psnr"][0] > 25


def test_tuning_spends_the_same_budget_whatever_the_dimension(sim) -> None:
    for name in ("temporal TV", "RDLEDM"):
        w, table = tune_weights(d.DYNAMIC_METHODS[name], sim, "vd_kt@3", [0], n_evals=3,
                                iters=5, tol=0, seed=0)  # fmt: skip
        assert len(table) == 3 and set(w) == set(d.DYNAMIC_METHODS[name].box)
        best = max(table, key=lambda r: r["score"])
        assert all(best[k] == v for k, v in w.items())
        for k, (lo, hi) in d.DYNAMIC_METHODS[name].box.items():
            assert all(lo - 1e-9 <= np.log10(r[k]) <= hi + 1e-9 for r in table)


def test_frame_metrics_known_values() -> None:
    t = torch.ones(1, 2, 8, 8)
    p = t * 0.9
    m = frame_metrics(p, t, torch.ones(1, 8, 8, dtype=torch.bool))
    assert m["psnr"][0] == pytest.approx(20.0)  # MSE 0.01 at peak 1
    assert m["nmse"][0] == pytest.approx(0.01)
    assert m["psnr_roi"][0] == pytest.approx(20.0)
    same = frame_metrics(t, t, torch.ones(1, 8, 8, dtype=torch.bool))
    assert same["ssim"][0] == pytest.approx(1.0)
