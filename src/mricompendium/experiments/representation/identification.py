"""Identification by RDM comparison, with GT thresholds chosen on held-out owners.

A *query* is the RDM of one owner's region (a subject's visual area, a network instance's layer);
the *candidates* are the RDMs of every region of the other owners. A method (plain RDM, GT,
GT geodesic; :mod:`.rsa`) transforms queries and candidates alike, correlates them and is right
when the most similar candidate carries the query's label. The GT thresholds ``(low, up)`` are
chosen, per method and setting, on owners held out of the test (tuning owners compared among
themselves only), so no test RDM takes part in the choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mricompendium.experiments.representation import rsa

__all__ = ["IDENTITY", "RDMSet", "Selection", "case_names", "choose", "result_rows", "score"]

IDENTITY: tuple[float, float] = (0.0, 1.0)  # the thresholds that leave an RDM's ranks as they are


@dataclasses.dataclass
class RDMSet:
    """Query RDMs with their labels and owners, and the candidates they are identified among.

    Attributes:
        queries: ``(Q, P)`` RDM vectors; labels, owners: ``Q`` each.
        candidates: ``(C, P)`` (``None``: the queries themselves); cand_labels, cand_owners: the
            same for the candidates (``None``: the queries').
    """

    queries: np.ndarray
    labels: list[str]
    owners: list[str]
    candidates: np.ndarray | None = None
    cand_labels: list[str] | None = None
    cand_owners: list[str] | None = None

    def __post_init__(self) -> None:
        q = np.asarray(self.queries)
        if q.ndim != 2 or len(self.labels) != q.shape[0] or len(self.owners) != q.shape[0]:
            raise ValueError(f"queries {q.shape} need one label and owner each")
        if self.candidates is not None:
            c = np.asarray(self.candidates)
            if c.ndim != 2 or c.shape[1] != q.shape[1]:
                raise ValueError(f"candidates {c.shape} do not match queries {q.shape}")
            if self.cand_labels is None or self.cand_owners is None:
                raise ValueError("candidates need their own labels and owners")
            if not len(self.cand_labels) == len(self.cand_owners) == c.shape[0]:
                raise ValueError("candidates need one label and owner each")

    @property
    def n_labels(self) -> int:
        return len(set(self.labels if self.cand_labels is None else self.cand_labels))


def score(rdms: RDMSet, method: str, thresholds: tuple[float, float] = IDENTITY) -> dict[str, Any]:
    """Transform queries and candidates by ``method`` at ``thresholds`` and identify each query
    (:func:`~.rsa.identify`): ``{"identification", "top1", "degenerate"}`` arrays ``(Q,)``."""
    q = rsa.transform(rdms.queries, method, thresholds)
    if rdms.candidates is None:
        return rsa.identify(rsa.similarity(q, q), rdms.labels, rdms.owners)
    c = rsa.transform(rdms.candidates, method, thresholds)
    return rsa.identify(rsa.similarity(q, c), rdms.labels, rdms.owners, rdms.cand_labels,
                        rdms.cand_owners)  # fmt: skip


@dataclasses.dataclass
class Selection:
    """The thresholds a method uses in one setting, and the tuning scores they were chosen by."""

    method: str
    thresholds: tuple[float, float]
    scores: dict[tuple[float, float], float]

    def to_dict(self) -> dict[str, Any]:
        scores = {f"{lo:g}-{up:g}": v for (lo, up), v in self.scores.items()}
        return {"method": self.method, "thresholds": list(self.thresholds), "tuning_scores": scores}


def choose(
    tuning: RDMSet,
    method: str,
    grid: Sequence[tuple[float, float]],
    metric: str = "identification",
) -> Selection:
    """The thresholds of ``grid`` under which ``method`` identifies the tuning queries best
    (mean ``metric``; the first grid point on ties). ``"RDM"`` has none: :data:`IDENTITY`."""
    if method == "RDM":
        return Selection(method, IDENTITY, {})
    best, scores = rsa.select_thresholds(
        lambda t: float(np.mean(score(tuning, method, t)[metric])), grid
    )
    return Selection(method, best, scores)


def case_names(owners: Sequence[str], labels: Sequence[str]) -> list[str]:
    """``"owner/label"`` per query; ``"owner/label/k"`` (k = 0, 1, ...) where a pair repeats
    (several noise draws of one region)."""
    pairs = [f"{o}/{lab}" for o, lab in zip(owners, labels, strict=True)]
    if len(set(pairs)) == len(pairs):
        return pairs
    seen: dict[str, int] = {}
    out = []
    for p in pairs:
        out.append(f"{p}/{seen.get(p, 0)}")
        seen[p] = seen.get(p, 0) + 1
    return out


def result_rows(
    metrics: dict[str, np.ndarray],
    *,
    setting: str,
    method: str,
    cases: Sequence[str],
    units: Sequence[str],
    groups: Sequence[str],
) -> list[dict[str, Any]]:
    """Per-query rows of the claims format (untrained methods: seed -1, budget 0)."""
    n = len(cases)
    if not len(units) == len(groups) == n or any(len(v) != n for v in metrics.values()):
        raise ValueError(f"{n} cases need one unit, group and metric value each")
    return [
        {"setting": setting, "method": method, "seed": -1, "budget": 0, "case": cases[i],
         "unit": units[i], "group": groups[i], **{k: float(v[i]) for k, v in metrics.items()}}
        for i in range(n)
    ]  # fmt: skip
