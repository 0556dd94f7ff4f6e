"""Evaluation and tuning of multi-frame (cine, multi-echo) reconstructions.

- :func:`frame_metrics`: per-case metrics of a multi-frame magnitude reconstruction: each case
  divided by its reference's maximum over all frames (data range 1, the family's
  ``slice_normalised`` protocol applied to the whole series), PSNR and NMSE over every frame,
  SSIM the mean over frames, and the same inside the case's region (``*_roi``).
- :func:`evaluate_frames`: long-format rows of a method in one setting (every method sees the
  same inputs: the data of a case depend only on ``(case, seed)``), one case per call so that
  each case's reconstruction time is its own (``recon_time_s``).
- :func:`tune_weights`: the weights of a classical method chosen on validation cases with a
  fixed number of evaluations, the same for every method: a Latin-hypercube design over the
  method's log10 box, then a second design in a box half as wide around the best point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mricompendium import metrics
from mricompendium.data.recon.frames import FrameBatch, parse_sampling
from mricompendium.experiments.reconstruction.dynamic import DynamicMethod, Solved

__all__ = [
    "FRAME_METRICS",
    "FrameEvaluation",
    "classical",
    "evaluate_frames",
    "frame_metrics",
    "tune_weights",
]

FRAME_METRICS = ("psnr", "ssim", "nmse", "psnr_roi", "ssim_roi")
FrameMethod = Callable[[FrameBatch], Any]  # -> (B, T, H, W) tensor or a Solved


def frame_metrics(
    pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor
) -> dict[str, np.ndarray]:
    """Metrics of magnitudes ``(B, T, H, W)`` against references, ``region`` ``(B, H, W)``.

    Returns:
        ``{name: (B,) float64}`` for :data:`FRAME_METRICS`.
    """
    p, t = pred.abs().double().cpu(), target.abs().double().cpu()
    b, n, h, w = t.shape
    peak = t.amax(dim=(1, 2, 3), keepdim=True)
    if torch.any(peak <= 0):
        raise ValueError("every reference needs a positive maximum")
    p, t = p / peak, t / peak
    reg = region.bool().cpu().unsqueeze(1).expand(b, n, h, w)
    err = (p - t).square()
    mse = err.mean(dim=(1, 2, 3))
    mse_roi = (err * reg).sum(dim=(1, 2, 3)) / reg.sum(dim=(1, 2, 3)).clamp_min(1)
    flat_p, flat_t = p.reshape(b * n, h, w), t.reshape(b * n, h, w)
    win = min(7, h - (1 - h % 2), w - (1 - w % 2))
    ssim = metrics.ssim(flat_p, flat_t, data_range=1.0, win_size=win).reshape(b, n).mean(1)
    ssim_roi = metrics.ssim(flat_p, flat_t, data_range=1.0, win_size=win,
                            mask=reg.reshape(b * n, h, w)).reshape(b, n).mean(1)  # fmt: skip
    nmse = err.sum(dim=(1, 2, 3)) / t.square().sum(dim=(1, 2, 3))
    return {
        "psnr": (-10 * torch.log10(mse)).numpy(),
        "ssim": ssim,
        "nmse": nmse.numpy(),
        "psnr_roi": (-10 * torch.log10(mse_roi)).numpy(),
        "ssim_roi": ssim_roi,
    }


@dataclass
class FrameEvaluation:
    """Rows of one method in one setting, per-case times and (optionally) kept images."""

    rows: list[dict[str, Any]]
    time_s: np.ndarray
    recon: list[np.ndarray] = field(default_factory=list)
    target: list[np.ndarray] = field(default_factory=list)

    def values(self, metric: str) -> np.ndarray:
        return np.asarray([r[metric] for r in self.rows], dtype=np.float64)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_frames(
    method: FrameMethod,
    source: Any,
    sampling: Any,
    meta: Sequence[tuple[str, str, str]],
    *,
    seed: int,
    name: str,
    train_seed: int = -1,
    budget: int = 0,
    setting: str | None = None,
    indices: Sequence[int] | None = None,
    keep: int = 0,
    extra: Callable[[FrameBatch, torch.Tensor], dict[str, float]] | None = None,
) -> FrameEvaluation:
    """Per-case rows of ``method`` under ``sampling`` (one case per call).

    Args:
        method: ``f(batch) -> images (B, T, H, W)`` or a :class:`Solved`.
        source: a frame simulator or real multi-frame set.
        sampling: the setting (``"vd_kt@8"``, ``"poisson_2d@6"``...).
        meta: ``(case, unit, group)`` per index of ``source``.
        seed: seeds the test data (the same for every method).
        name, train_seed, budget: the ``method``, ``seed`` and ``budget`` columns.
        setting: the ``setting`` column (default ``str(sampling)``).
        indices: the cases (default all).
        keep: keep the first ``keep`` reconstructions and references (magnitudes).
        extra: more metrics of a case, ``extra(batch, magnitude) -> {name: value}``.
    """
    s = parse_sampling(sampling)
    idx = list(range(len(source))) if indices is None else [int(i) for i in indices]
    if not idx:
        raise ValueError("no cases to evaluate")
    rows, times, out = [], [], FrameEvaluation([], np.zeros(0))
    for i in idx:
        batch = source.batch([i], s, seed)
        with torch.no_grad():
            _sync(source.device)
            t0 = time.perf_counter()
            res = method(batch)
            _sync(source.device)
            elapsed = time.perf_counter() - t0
        image, iters = (res.image, res.iters) if isinstance(res, Solved) else (res, 0)
        mag = image.abs().float()
        vals = frame_metrics(mag, batch.target_abs, batch.region)
        row = {"setting": setting if setting is not None else str(s), "method": name,
               "seed": int(train_seed), "budget": int(budget), "case": meta[i][0],
               "unit": meta[i][1], "group": meta[i][2],
               **{k: float(v[0]) for k, v in vals.items()},
               "recon_time_s": elapsed, "iterations": float(iters)}  # fmt: skip
        if extra is not None:
            row.update(extra(batch, mag))
        rows.append(row)
        times.append(elapsed)
        if len(out.recon) < keep:
            out.recon.append(mag[0].cpu().numpy())
            out.target.append(batch.target_abs[0].float().cpu().numpy())
    out.rows, out.time_s = rows, np.asarray(times)
    return out


def classical(method: DynamicMethod, weights: dict[str, float], *, iters: int, tol: float):
    """``f(batch) -> Solved``: a classical method at fixed weights (for evaluate_frames)."""

    def run(batch: FrameBatch) -> Solved:
        return method.run(batch, weights, iters=iters, tol=tol)[0]

    return run


def _design(box: dict[str, tuple[float, float]], n: int, seed: int) -> list[dict[str, float]]:
    from scipy.stats import qmc

    names = sorted(box)
    lo = np.array([box[k][0] for k in names])
    hi = np.array([box[k][1] for k in names])
    u = qmc.LatinHypercube(d=len(names), seed=seed).random(n)
    return [{k: float(10 ** (lo[j] + (hi[j] - lo[j]) * r[j])) for j, k in enumerate(names)}
            for r in u]  # fmt: skip


def tune_weights(
    method: DynamicMethod,
    source: Any,
    sampling: Any,
    indices: Sequence[int],
    *,
    n_evals: int,
    iters: int,
    tol: float,
    seed: int,
    metric: str = "psnr",
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The weights with the best mean ``metric`` on validation cases, from ``n_evals`` tries.

    Half of the evaluations (rounded up) are a Latin-hypercube design over the method's log10
    box; the rest a second design over a box half as wide (per axis), centred on the best point
    so far and clipped to the original box. The budget does not depend on the number of weights.

    Returns:
        ``(weights, table)``: the table has one row per try (weights, ``score``, ``round``).
    """
    if n_evals < 1 or not indices:
        raise ValueError("need n_evals >= 1 and at least one validation case")
    meta = [(str(i), str(i), "val") for i in range(len(source))]
    table: list[dict[str, Any]] = []

    def score(w: dict[str, float], rnd: int) -> None:
        ev = evaluate_frames(classical(method, w, iters=iters, tol=tol), source, sampling, meta,
                             seed=seed, name=method.name, indices=indices)  # fmt: skip
        table.append({**w, "score": float(ev.values(metric).mean()), "round": rnd})

    first = (n_evals + 1) // 2
    for w in _design(method.box, first, seed):
        score(w, 1)
    best = max(table, key=lambda r: r["score"])
    half = {}
    for k, (lo, hi) in method.box.items():
        c, r = np.log10(best[k]), (hi - lo) / 4
        half[k] = (max(lo, c - r), min(hi, c + r))
    for w in _design(half, n_evals - first, seed + 1) if n_evals > first else []:
        score(w, 2)
    best = max(table, key=lambda r: r["score"])
    return {k: best[k] for k in method.box}, table
