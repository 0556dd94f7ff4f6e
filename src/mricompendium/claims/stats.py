"""The statistics behind a comparison: paired per-case differences, clustered by unit.

Per-case differences (A - B, signed so that positive means A is better) are averaged over training
seeds, then over the cases of each unit of independence; the effect is the mean of the unit means.
Its CI is a percentile cluster bootstrap over units, its one-sided p-value a Wilcoxon signed-rank
test over unit means, and P(A > B) the share of (seed, case) pairs where A is better (ties half).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["Stat", "cluster_stat", "holm"]


@dataclasses.dataclass(frozen=True)
class Stat:
    """One estimate of a paired effect (positive: A better)."""

    n_units: int
    n_cases: int
    n_seeds: int
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    p_a_gt_b: float
    mean_a: float
    mean_b: float


def _wilcoxon_greater(u: np.ndarray) -> float:
    if u.size < 2 or np.all(u == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ties/zeros: scipy falls back to the normal approximation
        p = float(stats.wilcoxon(u, alternative="greater").pvalue)
    return 1.0 if math.isnan(p) else p


def cluster_stat(
    diff: np.ndarray,
    units: Sequence[str] | np.ndarray,
    *,
    mean_a: float,
    mean_b: float,
    margin: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Stat:
    """Estimate the effect from signed differences ``diff`` of shape ``(cases, seeds)``.

    Args:
        diff: A - B per case and training seed, signed so that positive means A is better.
        units: the unit of independence of each case (``cases`` values).
        mean_a: mean metric of A (for display).
        mean_b: mean metric of B.
        margin: non-inferiority margin: the test is of ``effect > -margin``.
        n_boot: bootstrap resamples of the units.
        seed: bootstrap seed.
        alpha: the CI is two-sided at ``1 - alpha``.
    """
    diff = np.asarray(diff, dtype=np.float64)
    if diff.ndim != 2 or diff.shape[0] != len(units):
        raise ValueError(f"diff must be (cases, seeds) with one unit per case, got {diff.shape}")
    per_case = diff.mean(axis=1)
    names, inverse = np.unique(np.asarray(units, dtype=str), return_inverse=True)
    u = np.bincount(inverse, weights=per_case) / np.bincount(inverse)
    k = names.size
    if k >= 2:
        rng = np.random.default_rng(seed)
        means = u[rng.integers(0, k, size=(n_boot, k))].mean(axis=1)
        low, high = (float(q) for q in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    else:
        low = high = float("nan")
    return Stat(
        n_units=int(k),
        n_cases=int(diff.shape[0]),
        n_seeds=int(diff.shape[1]),
        effect=float(u.mean()),
        ci_low=low,
        ci_high=high,
        p_value=_wilcoxon_greater(u + margin),
        p_a_gt_b=float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0)),
        mean_a=float(mean_a),
        mean_b=float(mean_b),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]
