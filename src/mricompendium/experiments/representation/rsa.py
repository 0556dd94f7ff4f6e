"""RDMs, their geo-topological transforms and identification by RDM comparison (rsatoolbox).

Representational similarity analysis (RSA) summarises a representation by its representational
dissimilarity matrix (RDM): the dissimilarity of the response patterns of every pair of stimuli.
Topological RSA (Lin & Kriegeskorte, *The Topology and Geometry of Neural Representations*,
arXiv:2309.11028) passes each RDM through a geo-topological (GT) transform before comparing it:
dissimilarities below a lower threshold ``l`` become 0, those above an upper threshold ``u``
become 1, and those in between are mapped linearly onto [0, 1]; the thresholds are quantiles of
the RDM's own dissimilarities. The geodesic variant then treats the GT-transformed RDM as a
weighted graph without its saturated (``>= u``) edges and replaces every dissimilarity by the
length of the shortest path.

Every transform here is rsatoolbox's own (``rsatoolbox.rdm.transform``, version 0.3.2). Four
behaviours of that version are handled in this module, and tests pin them:

* both transforms write into the RDMs object they are given: we always pass a copy;
* :func:`rsatoolbox.rdm.transform.geotopological_transform` takes its quantiles over every RDM
  of the object at once: we transform one RDM at a time, so each uses its own quantiles;
* its last step saturates every value above the upper threshold *after* the middle band has been
  rescaled to [0, 1], so when that threshold is below 1 (correlation distances of similar
  patterns, for instance) rescaled values above it are set to 1 as well. The transform is
  invariant to adding a constant to every dissimilarity, so we shift each RDM until its smallest
  value is 1 before the call: the rescaled values then never exceed the threshold and the result
  is the transform as the paper defines it (a test checks it against the formula);
* :func:`rsatoolbox.rdm.transform.geodesic_transform` builds its graph with networkx, which
  leaves out zero-weight entries, so pairs the GT transform set to 0 are joined only through
  paths; pairs left in different components come back infinite: we set them to the number of
  stimuli, longer than any path (each edge weighs at most 1). The zero-weight behaviour is kept:
  it is the reference implementation's geodesic transform.

Vectors: an RDM is stored as its upper triangle ``(P,)`` with ``P = N (N - 1) / 2`` for ``N``
stimuli (rsatoolbox's layout); a stack of ``K`` RDMs is ``(K, P)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import RDMs, calc_rdm, compare
from rsatoolbox.rdm.transform import geodesic_transform, geotopological_transform
from scipy.spatial.distance import squareform

__all__ = [
    "METHODS",
    "MEASURES",
    "gt_grid",
    "identify",
    "monotone_share",
    "n_stimuli",
    "rdm_vectors",
    "select_thresholds",
    "similarity",
    "square",
    "transform",
]

METHODS: tuple[str, ...] = ("RDM", "GT", "GT geodesic")
MEASURES: tuple[str, ...] = ("correlation", "euclidean")


def n_stimuli(n_pairs: int) -> int:
    """The number of stimuli ``N`` of an RDM vector with ``n_pairs = N (N - 1) / 2`` entries."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{n_pairs} is not the length of an RDM vector N (N - 1) / 2")
    return n


def rdm_vectors(patterns: Sequence[np.ndarray], measure: str = "correlation") -> np.ndarray:
    """RDMs of response patterns, one per pattern matrix: ``(K, P)`` float64.

    Args:
        patterns: ``K`` arrays ``(N, F_k)``: ``N`` stimuli (the same for all) by ``F_k`` channels
            (voxels, units); channel counts may differ.
        measure: one of :data:`MEASURES` (rsatoolbox's ``calc_rdm`` method): correlation
            distance (1 - Pearson r between two stimuli's patterns) or squared Euclidean distance
            per channel.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if not patterns:
        raise ValueError("give at least one pattern matrix")
    n = {np.shape(p)[0] for p in patterns}
    if len(n) != 1 or any(np.ndim(p) != 2 for p in patterns) or n.pop() < 3:
        raise ValueError("patterns must be 2D (N, F) arrays with one N >= 3 for all")
    out = [calc_rdm(Dataset(np.asarray(p, np.float64)), method=measure).get_vectors()[0]
           for p in patterns]  # fmt: skip
    return np.stack(out)


def _one(vector: np.ndarray) -> RDMs:
    return RDMs(np.array(vector, dtype=np.float64, copy=True)[None, :])


def transform(
    vectors: np.ndarray, method: str, thresholds: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """Transform each RDM of ``vectors`` ``(K, P)`` by ``method`` (one of :data:`METHODS`).

    ``"RDM"`` returns a copy; ``"GT"`` applies rsatoolbox's geo-topological transform with the
    quantile thresholds ``(low, up)`` of each RDM: 0 below the ``low`` quantile ``q_l``, 1 above
    the ``up`` quantile ``q_u``, ``(d - q_l) / (q_u - q_l)`` between; ``"GT geodesic"`` applies it
    and then rsatoolbox's geodesic transform (see the module's notes). Inputs are never
    modified.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    vectors = np.atleast_2d(np.asarray(vectors, np.float64))
    low, up = (float(t) for t in thresholds)
    if not 0.0 <= low < up <= 1.0:
        raise ValueError(f"thresholds must satisfy 0 <= low < up <= 1, got {thresholds}")
    if method == "RDM":
        return vectors.copy()
    out = np.empty_like(vectors)
    for k, v in enumerate(vectors):
        shifted = v + (1.0 - v.min())  # see the module's notes: every value >= 1 before the call
        gt = geotopological_transform(_one(shifted), low, up)
        if method == "GT geodesic":
            gt = geodesic_transform(gt)
        row = gt.get_vectors()[0]
        out[k] = np.where(np.isfinite(row), row, float(n_stimuli(v.size)))
    return out


def similarity(data: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Pearson correlation of every data RDM ``(Q, P)`` with every candidate ``(C, P)``:
    ``(Q, C)`` (rsatoolbox's ``compare(..., method="corr")``); NaN (a constant RDM) -> -inf."""
    sim = compare(RDMs(np.atleast_2d(data).copy()), RDMs(np.atleast_2d(candidates).copy()), "corr")
    return np.where(np.isfinite(sim), sim, -np.inf)


def identify(
    sim: np.ndarray,
    labels: Sequence[str],
    owners: Sequence[str],
    cand_labels: Sequence[str] | None = None,
    cand_owners: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Identification of each data RDM among the candidates of other owners.

    Args:
        sim: ``(Q, C)`` similarities (higher: more alike).
        labels, owners: each data RDM's label (the area or layer) and owner (subject or network
            instance), ``Q`` each.
        cand_labels, cand_owners: the same for the candidates (default: the data's own, as when
            every RDM is compared with every other).

    Returns:
        ``identification`` ``(Q,)``: per other owner, whether its candidate with the query's
        label is its most similar one, averaged over the other owners; ``top1`` ``(Q,)``: 1.0
        where the most similar candidate of any other owner carries the query's label (the
        pooled form; candidates of the query's own owner are left out); ``degenerate``
        ``(Q,)``: 1.0 where no candidate has a finite similarity. Both scores have chance level
        one over the number of labels when every owner holds every label once. Ties go to the
        first candidate.
    """
    sim = np.asarray(sim, np.float64)
    labels, owners = np.asarray(labels, str), np.asarray(owners, str)
    c_lab = labels if cand_labels is None else np.asarray(cand_labels, str)
    c_own = owners if cand_owners is None else np.asarray(cand_owners, str)
    if sim.shape != (labels.size, c_lab.size) or owners.size != labels.size:
        raise ValueError(f"sim {sim.shape} does not match {labels.size} queries, {c_lab.size} "
                         "candidates")  # fmt: skip
    ident, top1, degenerate = (np.zeros(labels.size) for _ in range(3))
    for q in range(labels.size):
        others = np.flatnonzero(c_own != owners[q])
        if others.size == 0:
            raise ValueError(f"query {q} ({owners[q]}) has no candidate of another owner")
        row = sim[q, others]
        degenerate[q] = float(not np.isfinite(row).any())
        top1[q] = float(c_lab[others[int(np.argmax(row))]] == labels[q])
        hits = []
        for owner in dict.fromkeys(c_own[others]):
            mine = np.flatnonzero(c_own == owner)
            hits.append(c_lab[mine[int(np.argmax(sim[q, mine]))]] == labels[q])
        ident[q] = float(np.mean(hits))
    return {"identification": ident, "top1": top1, "degenerate": degenerate}


def gt_grid(lows: Sequence[float], ups: Sequence[float]) -> list[tuple[float, float]]:
    """Every ``(low, up)`` with ``low < up`` from the two lists, in list order."""
    grid = [(float(lo), float(up)) for lo in lows for up in ups if lo < up]
    if not grid:
        raise ValueError(f"no (low, up) pair with low < up from {list(lows)} x {list(ups)}")
    for lo, up in grid:
        if not 0.0 <= lo < up <= 1.0:
            raise ValueError(f"thresholds are quantiles in [0, 1], got ({lo}, {up})")
    return grid


def select_thresholds(
    score: Callable[[tuple[float, float]], float], grid: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], dict[tuple[float, float], float]]:
    """The grid point with the highest ``score`` (the first one on ties) and every score."""
    scores = {tuple(g): float(score(tuple(g))) for g in grid}
    best = max(scores, key=lambda g: (scores[g], -list(scores).index(g)))
    return best, scores


def monotone_share(x: np.ndarray, y: np.ndarray) -> float:
    """The share of the variance of ``y`` that the best non-decreasing function of ``x``
    explains (isotonic regression; 1.0 exactly when ``y`` is a monotone transform of ``x``)."""
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape or x.size < 3:
        raise ValueError(
            f"x and y must be equal-length vectors of >= 3 values, got {x.shape}, {y.shape}"
        )
    fit = IsotonicRegression(increasing=True).fit_transform(x, y)
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fit) ** 2).sum()) / total if total > 0 else 1.0


def square(vector: np.ndarray) -> np.ndarray:
    """An RDM vector ``(P,)`` as its symmetric ``(N, N)`` matrix (zero diagonal)."""
    return squareform(np.asarray(vector, np.float64))
