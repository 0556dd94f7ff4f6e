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
import torch

from mricompendium.data.registration import (
    MYO,
    Anatomies,
    ContrastModel,
    PairGenerator,
    brain_slices,
    brain_volume,
)
from mricompendium.experiments.registration.evaluate import (
    MetricFn,
    RegisterFn,
    register_pairs,
    score_pairs,
)
from mricompendium.metrics import registration as rm
from mricompendium.metrics.image import ssim
from mricompendium.physics.deform import warp

__all__ = [
    "BrainPairs",
    "brain_pairs",
    "evaluate_method",
    "myocardial_jacobian",
    "ssim_after",
    "summarise",
]


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
        grid = "x".join(str(s) for s in a.shape)
        if len(a.shape) == 3:
            source = f"the whole 3D template at {grid} ({a.spacing_mm:g} mm voxels)"
        else:
            source = (
                f"{len(self.train.anatomies)} training and {len(self.test.anatomies)} held-out "
                f"test coronal slices at {grid} ({a.spacing_mm:.2f} mm pixels)"
            )
        held_out = "from the held-out slices " if len(a.shape) == 2 else ""
        return (
            f"synthetic pairs from the MNI ICBM152 2009a template (nilearn): {source}; each "
            f"pair is two random diffeomorphisms of one anatomy (stationary velocity fields, sd "
            f"{self.amplitude_mm:g} mm, correlation length {self.control_spacing_mm:g} mm, scaling "
            f"and squaring) with its own contrast (tissue gains, gamma, bias field, noise); labels "
            f"CSF, WM and {a.n_labels - 2} grey-matter Voronoi parcels; {n_val} validation and "
            f"{n_test} test pairs drawn independently {held_out}(one unit each), training pairs "
            f"drawn on the fly"
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
    ndim: int = 2,
    template_mm: float = 2.0,
) -> BrainPairs:
    """Training and test pair generators.

    2D (``ndim=2``): template coronal slices every 2 mm from y = -60 to +30 mm resampled to
    ``size``; every ``test_every``-th one is a test anatomy (adjacent slices are correlated, so
    test pairs use slices no training pair uses). 3D (``ndim=3``, the GPU profile): the whole
    template at ``template_mm`` (``size`` unused); there is one 3D anatomy, so training and test
    pairs differ only in their deformations and contrasts.
    """
    contrast = ContrastModel() if contrast is None else contrast
    kw = dict(amplitude_mm=amplitude_mm, control_spacing_mm=control_spacing_mm, contrast=contrast)
    if ndim == 3:
        a = brain_volume(template_mm, n_parcels=n_parcels, seed=seed)
        train, test = PairGenerator(a, **kw), PairGenerator(a, **kw)
        return BrainPairs(a, train, test, amplitude_mm, control_spacing_mm)
    if ndim != 2:
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    if test_every < 2:
        raise ValueError(f"test_every must be >= 2, got {test_every}")
    a = brain_slices(size, n_parcels=n_parcels, seed=seed)
    idx = np.arange(len(a))
    test_idx = idx[test_every // 2 :: test_every]
    train_idx = np.setdiff1d(idx, test_idx)
    return BrainPairs(
        anatomies=a,
        train=PairGenerator(a.subset(train_idx), **kw),
        test=PairGenerator(a.subset(test_idx), **kw),
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
        pairs,
        disp,
        seconds,
        spacing_mm=spacing_mm,
        keys=keys,
        cases=cases,
        units=units,
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


def ssim_after(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
    """SSIM between the warped moving and the fixed image (data range: the fixed image's max)."""
    warped = warp(pairs["moving"], disp)[:, 0].numpy()
    fixed = pairs["fixed"][:, 0].numpy()
    return ssim(warped, fixed, data_range=fixed.reshape(len(fixed), -1).max(1))


def myocardial_jacobian(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
    """Mean ``|J - 1|`` inside the fixed frame's myocardium (0: incompressible)."""
    return rm.jacobian_deviation(disp, mask=pairs["fixed_labels"] == MYO)
