"""What both fMRI notebooks share: the ridge baseline and its gap to a model, the validation
score, batching and per-case rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from mricompendium.claims import Comparison
from mricompendium.claims.pairing import pair
from mricompendium.claims.stats import Stat, cluster_stat
from mricompendium.metrics import retrieval

__all__ = [
    "Ridge",
    "baseline_gap",
    "fit_ridge",
    "gap_words",
    "identification",
    "rows_from_metrics",
    "sample_rows",
]


def identification(decoded: Any, target: Any) -> float:
    """The validation score both sides of a comparison are judged by: fMRI-to-image
    identification, the share of the other validation images whose embedding the decoded one is
    less similar to than the seen image's (mean over images; chance 0.5; retrieval top-1 among 2).

    One score for every model, whatever its loss (a loss-valued curve would compare objectives,
    not decoders), and smoother than top-1 among a few dozen validation images, where one image
    moves the score by several points.
    """
    return float(retrieval.image_retrieval(decoded, target, n_candidates=2).mean())


@dataclasses.dataclass
class Ridge:
    """A fitted ridge regression ``y = (x - x_mean) @ weight + y_mean``; ``alpha`` its penalty."""

    x_mean: np.ndarray
    y_mean: np.ndarray
    weight: np.ndarray
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, V)`` -> ``(N, out)`` float32."""
        return ((np.asarray(x, np.float64) - self.x_mean) @ self.weight + self.y_mean).astype(
            np.float32
        )


def fit_ridge(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alphas: Sequence[float],
    x_val: np.ndarray,
    score: Callable[[np.ndarray], float],
) -> Ridge:
    """Ridge regression from voxels to targets, the penalty chosen on validation data.

    The usual NSD decoding baseline: one closed-form ridge per penalty (through the SVD of the
    centred training betas); the penalty whose validation predictions score highest wins.

    Args:
        x: ``(N, V)`` training betas; y: ``(N, out)`` training targets.
        alphas: candidate penalties, relative to the mean squared singular value of ``x``.
        x_val: ``(M, V)`` validation betas.
        score: ``score(prediction (M, out)) -> float``, higher is better.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"x (N, V) and y (N, out) mismatch: {x.shape}, {y.shape}")
    if not alphas:
        raise ValueError("give at least one alpha")
    x_mean, y_mean = x.mean(0), y.mean(0)
    u, s, vt = np.linalg.svd(x - x_mean, full_matrices=False)
    uty = u.T @ (y - y_mean)
    scale = float(np.mean(s**2))
    best: Ridge | None = None
    best_score = -np.inf
    for a in alphas:
        w = vt.T @ ((s / (s**2 + a * scale))[:, None] * uty)
        cand = Ridge(x_mean, y_mean, w, float(a))
        sc = score(cand.predict(x_val))
        if sc > best_score:
            best, best_score = cand, sc
    assert best is not None
    return best


def sample_rows(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` row indices of ``n`` rows without replacement (all rows if ``size >= n``)."""
    if size >= n:
        return torch.randperm(n, generator=generator)
    return torch.randperm(n, generator=generator)[:size]


def rows_from_metrics(
    metrics: Mapping[str, np.ndarray],
    *,
    setting: str,
    method: str,
    seed: int,
    budget: int,
    cases: Sequence[str],
    units: Sequence[str],
    groups: Sequence[str],
) -> list[dict[str, Any]]:
    """Per-case metric arrays -> rows of the claims long format (one per case)."""
    n = len(cases)
    for name, values in metrics.items():
        if len(values) != n:
            raise ValueError(f"metric {name!r} has {len(values)} values for {n} cases")
    return [
        {
            "setting": setting,
            "method": method,
            "seed": int(seed),
            "budget": int(budget),
            "case": cases[i],
            "unit": units[i],
            "group": groups[i],
            **{k: float(v[i]) for k, v in metrics.items()},
        }
        for i in range(n)
    ]


def baseline_gap(
    results: pd.DataFrame, model: str, baseline: str, *, metric: str, setting: str | None = None
) -> Stat:
    """How far ``model`` lies above ``baseline`` on ``metric`` (higher is better), per test case
    paired and averaged over seeds, with the verdict engine's interval (units and seeds random).

    A description, not a declared comparison: it takes no part in the verdict. Both methods are
    taken at their full budget.
    """
    comp = Comparison(model, baseline, setting=setting, metric=metric, higher_is_better=True,
                      smallest_effect=0.0)  # fmt: skip
    p = pair(results, comp)
    return cluster_stat(p.diff, p.units, mean_a=p.mean_a, mean_b=p.mean_b)


def gap_words(gap: Stat, smallest_effect: float) -> str:
    """What a :func:`baseline_gap` says, in words: ``"beats"`` the baseline (interval above 0 and
    effect at least ``smallest_effect``), ``"falls short of"`` it (interval below 0), ``"matches"``
    it (interval inside ``+-smallest_effect``), or cannot be told apart from it at this size."""
    if gap.ci_low > 0 and gap.effect >= smallest_effect:
        return "beats"
    if gap.ci_high < 0:
        return "falls short of"
    if -smallest_effect < gap.ci_low and gap.ci_high < smallest_effect:
        return f"matches (within {smallest_effect:g})"
    return "cannot be told apart at this size from"
