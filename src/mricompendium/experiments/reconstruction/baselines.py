"""Untrained baselines: the zero-filled image and L1-wavelet compressed sensing.

Both see exactly what the networks see (the undersampled data, the estimated maps or the radial
operator) and CS runs on the same normalised input (:func:`~.protocol.input_scale`), so its
weight is relative to the data's scale. :func:`tune_cs_lambda` picks the weight on validation
cases from a grid that widens until the chosen value is interior.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mricompendium.data.recon import ReconBatch
from mricompendium.experiments.reconstruction.cs import l1_wavelet_recon
from mricompendium.experiments.reconstruction.protocol import Method, evaluate, input_scale
from mricompendium.physics.masks import Sampling

__all__ = ["cs_baseline", "tune_cs_lambda", "zero_filled"]


def zero_filled() -> Method:
    """The zero-filled SENSE image (gridding for radial data) as a reconstruction."""

    def recon(batch: ReconBatch) -> torch.Tensor:
        return batch.zero_filled()

    return recon


def cs_baseline(lam: float, iters: int) -> Method:
    """L1-wavelet CS (FISTA, :func:`l1_wavelet_recon`) on the normalised input, ``lam`` relative."""
    if not lam >= 0 or iters < 1:
        raise ValueError(f"need lam >= 0 and iters >= 1, got {lam}, {iters}")

    def recon(batch: ReconBatch) -> torch.Tensor:
        s = input_scale(batch)
        y = batch.kspace / s.view(-1, *([1] * (batch.kspace.dim() - 1))).to(batch.kspace.real.dtype)
        x = l1_wavelet_recon(y, batch.operator(), lam=lam, num_iters=iters)
        return x * s.view(-1, 1, 1).to(x.real.dtype)

    return recon


def tune_cs_lambda(
    source: Any,
    samplings: Sequence[Sampling | str],
    grid: Sequence[float],
    *,
    iters: int,
    seed: int,
    indices: Sequence[int] | None = None,
    metric: str = "ssim_brain",
    max_widen: int = 8,
) -> tuple[float, list[dict[str, Any]]]:
    """The CS weight with the best mean ``metric`` on validation cases, from a widening grid.

    The grid is evaluated; while the best value sits at an end of the grid, one more value is
    added beyond that end (the grid's outer ratio again) and evaluated, at most ``max_widen``
    times, so the chosen weight is interior unless the search gave up (``interior`` False).

    Returns:
        ``(lam, table)``: the table has one row per weight tried (``lam``, ``score``,
        ``chosen``, ``interior``).
    """
    values = sorted(float(v) for v in grid)
    if len(values) < 2 or values[0] <= 0:
        raise ValueError(f"grid needs at least two positive weights, got {list(grid)}")
    meta = [(str(i), str(i), "val") for i in range(len(source))]
    scores: dict[float, float] = {}

    def score(lam: float) -> float:
        if lam not in scores:
            per = [
                evaluate(cs_baseline(lam, iters), source, s, meta, seed=seed, name="CS",
                         indices=indices).values(metric).mean()
                for s in samplings
            ]  # fmt: skip
            scores[lam] = float(np.mean(per))
        return scores[lam]

    for lam in values:
        score(lam)
    for _ in range(max_widen):
        best = max(values, key=score)
        if values[0] < best < values[-1]:
            break
        if best == values[0]:
            values.insert(0, values[0] * values[0] / values[1])
            score(values[0])
        else:
            values.append(values[-1] * values[-1] / values[-2])
            score(values[-1])
    best = max(values, key=score)
    interior = values[0] < best < values[-1]
    table = [{"lam": v, "score": scores[v], "chosen": v == best, "interior": interior}
             for v in values]  # fmt: skip
    return best, table
