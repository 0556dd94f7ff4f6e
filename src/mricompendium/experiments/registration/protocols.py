"""The registration notebooks' shared protocol: brain pair sets, one method's evaluation, summaries.

* :func:`brain_pairs`: MNI coronal slices split into training and test anatomies (every
  ``test_every``-th slice is a test anatomy), a :class:`PairGenerator` for each, and a sentence
  describing exactly what was generated.
* :func:`evaluate_method`: register a pair set with one method (timed per pair) and score it into
  per-case rows.
* :func:`summarise`: mean and standard deviation per (setting, method) at each method's full
  budget, for the notebooks' tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mricompendium.data.registration import Anatomies, ContrastModel, PairGenerator, brain_slices
from mricompendium.experiments.registration.evaluate import (
    MetricFn,
    RegisterFn,
    register_pairs,
    score_pairs,
)

__all__ = ["BrainPairs", "brain_pairs", "evaluate_method", "summarise"]


@dataclass(frozen=True)
class BrainPairs:
    """Training and test pair generators over disjoint template slices."""

    anatomies: Anatomies
    train: PairGenerator
    test: PairGenerator
    amplitude_mm: float
    control_spacing_mm: float

    def description(self, n_val: int, n_test: int) -> str:
        """One sentence generated from the parameters actually used."""
        a = self.anatomies
        return (
            f"synthetic pairs from the MNI ICBM152 2009a template (nilearn): "
            f"{len(self.train.anatomies)} training and {len(self.test.anatomies)} held-out test "
            f"coronal slices at {a.shape[0]}x{a.shape[1]} ({a.spacing_mm:.2f} mm pixels); each "
            f"pair is two random diffeomorphisms of one slice (stationary velocity fields, sd "
            f"{self.amplitude_mm:g} mm, correlation length {self.control_spacing_mm:g} mm, scaling "
            f"and squaring) with its own contrast (tissue gains, gamma, bias field, noise); labels "
            f"CSF, WM and {a.n_labels - 2} grey-matter Voronoi parcels; {n_val} validation and "
            f"{n_test} test pairs drawn independently from the held-out slices (one unit each), "
            f"training pairs drawn on the fly"
        )


def brain_pairs(
    size: int,
    *,
    n_parcels: int = 16,
    amplitude_mm: float = 3.0,
    control_spacing_mm: float = 24.0,
    test_every: int = 4,
    contrast: ContrastModel | None = None,
    seed: int = 0,
) -> BrainPairs:
    """Template slices every 2 mm from y = -60 to +30 mm; every ``test_every``-th one is a test
    anatomy (adjacent slices are correlated, so test pairs use slices no training pair uses)."""
    if test_every < 2:
        raise ValueError(f"test_every must be >= 2, got {test_every}")
    a = brain_slices(size, n_parcels=n_parcels, seed=seed)
    idx = np.arange(len(a))
    test = idx[test_every // 2 :: test_every]
    train = np.setdiff1d(idx, test)
    contrast = ContrastModel() if contrast is None else contrast
    kw = dict(amplitude_mm=amplitude_mm, control_spacing_mm=control_spacing_mm, contrast=contrast)
    return BrainPairs(
        anatomies=a,
        train=PairGenerator(a.subset(train), **kw),
        test=PairGenerator(a.subset(test), **kw),
        amplitude_mm=amplitude_mm,
        control_spacing_mm=control_spacing_mm,
    )


def evaluate_method(
    fn: RegisterFn,
    pairs: Mapping[str, Any],
    *,
    method: str,
    setting: str,
    group: str,
    seed: int = -1,
    budget: int = 0,
    spacing_mm: float | Sequence[float],
    cases: Sequence[str],
    units: Sequence[str] | None = None,
    repeats: int = 1,
    extra: Mapping[str, MetricFn] | None = None,
) -> list[dict[str, Any]]:
    """Register ``pairs`` with ``fn`` (timed, one pair at a time) and return per-case rows."""
    disp, seconds = register_pairs(fn, pairs, repeats=repeats)
    keys = {"setting": setting, "method": method, "seed": seed, "budget": budget, "group": group}
    return score_pairs(
        pairs, disp, seconds, spacing_mm=spacing_mm, keys=keys, cases=cases, units=units,
        extra=extra,
    )


def summarise(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and sd per (setting, method) at each method's full budget, over cases and seeds."""
    df = pd.DataFrame(list(rows))
    full = df.groupby(["setting", "method"])["budget"].transform("max")
    df = df[df["budget"] == full]
    present = [m for m in metrics if m in df.columns]
    g = df.groupby(["setting", "method"], sort=False)
    out = g[present].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out.insert(0, "n_cases", g["case"].nunique())
    out.insert(1, "seeds", g["seed"].nunique())
    return out.reset_index()
