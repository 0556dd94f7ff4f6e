"""Case-level classification metrics: AUROC and its jackknife pseudo-values.

The area under the ROC curve is a property of a set of cases, not of one case. To compare two
readings of the same cases (e.g. a classifier on registered vs unregistered images) with the
verdict engine, which works on per-case values, each case gets its **jackknife pseudo-value**
(Quenouille; the Dorfman-Berbaum-Metz method of multi-reader ROC analysis):
``p_k = N AUC - (N - 1) AUC_(-k)``, with ``AUC_(-k)`` the AUROC without case ``k``. The mean of
the pseudo-values is the AUROC itself (exactly, for the Mann-Whitney AUROC), the sample variance
of the pseudo-values over ``N`` is the jackknife variance of the AUROC, and the paired
differences of two readings' pseudo-values give the jackknife test of their AUROC difference.
Pseudo-values are not confined to [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["auroc", "auroc_pseudovalues"]


def _inputs(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 or booleans")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError("AUROC needs at least one positive and one negative case")
    return s, y


def _placements(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per positive: the share of negatives it outranks; per negative: the share of positives
    that outrank it (ties count one half)."""
    pos, neg = s[y], s[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(1), psi.mean(0)


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic; ties count one half)."""
    s, y = _inputs(scores, labels)
    v_pos, _ = _placements(s, y)
    return float(v_pos.mean())


def auroc_pseudovalues(scores: Any, labels: Any) -> np.ndarray:
    """Jackknife pseudo-values of the AUROC, one per case (``(N,)``, the cases' order).

    Needs at least two positive and two negative cases (so that leaving one out keeps both).
    """
    s, y = _inputs(scores, labels)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError("pseudo-values need at least two positive and two negative cases")
    v_pos, v_neg = _placements(s, y)
    auc = v_pos.mean()
    without = np.empty(len(s))
    without[y] = (m * auc - v_pos) / (m - 1)
    without[~y] = (n * auc - v_neg) / (n - 1)
    big_n = m + n
    return big_n * auc - (big_n - 1) * without
