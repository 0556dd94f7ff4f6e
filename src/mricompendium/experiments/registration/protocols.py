"""The registration notebooks' shared protocol: brain pair sets, one method's evaluation, summaries.

* :func:`brain_pairs`: MNI coronal slices split into disjoint training, validation and test
  anatomies, a :class:`PairGenerator` for each (test deformations from another family than
  training), and a sentence describing exactly what was generated.
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
    TissueContrast,
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
    "degenerate_counts",
    "deformation_summary",
    "evaluate_method",
    "dilate",
    "label_dice",
    "myocardial_jacobian",
    "pool_batches",
    "ssim_after",
    "ssim_reference",
    "summarise",
]


@dataclass(frozen=True)
class BrainPairs:
    """Training, validation and test pair generators over disjoint template slices."""

    anatomies: Anatomies
    train: PairGenerator
    val: PairGenerator
    test: PairGenerator
    slice_step_mm: float = 0.0

    def description(self, n_val: int, n_test: int) -> str:
        """What was generated, in words, from the parameters actually used."""
        a, tr, te = self.anatomies, self.train, self.test
        grid = "x".join(str(s) for s in a.shape)
        if len(a.shape) == 3:
            source = (
                f"the whole 3D template at {grid} ({a.spacing_mm:g} mm voxels): one anatomy, so "
                f"every pair shares one unit of independence"
            )
        else:
            source = (
                f"{len(tr.anatomies)} training, {len(self.val.anatomies)} validation and "
                f"{len(te.anatomies)} test coronal slices (disjoint sets; test slices "
                f"{self.slice_step_mm:g} mm apart) at {grid} ({a.spacing_mm:.2f} mm pixels)"
            )
        fixed = (
            f"the moving image T1-like (the template's own intensities with tissue gains, "
            f"gamma, bias and noise), the fixed image rendered from the tissue maps in a "
            f"{te.fixed_contrast.name} contrast with levels drawn per image"
            if te.multi_contrast
            else "each image with its own draw of the T1-like contrast (tissue gains, gamma, "
            "bias field, noise)"
        )
        return (
            f"synthetic pairs from the MNI ICBM152 2009a template (nilearn): {source}; each pair "
            f"is two random deformations of one anatomy, {fixed}; labels CSF, WM and "
            f"{a.n_labels - 2} grey-matter Voronoi parcels. Training and validation deformations: "
            f"{_family(tr)}; test deformations: {_family(te)}. {n_val} validation and {n_test} "
            f"test pairs visit their slices in turn (the unit of independence is the slice), "
            f"training pairs are drawn on the fly"
        )


def _family(g: PairGenerator) -> str:
    if g.deformation == "svf":
        return (
            f"integrated stationary velocity fields (sd {g.amplitude_mm:.3g} mm at control points "
            f"{g.control_spacing_mm:g} mm apart, scaling and squaring)"
        )
    return (
        f"Gaussian-smoothed random displacement fields drawn directly as the true displacement "
        f"(no velocity, no integration; sd {g.amplitude_mm:.3g} mm, kernel sd "
        f"{g.control_spacing_mm:g} mm, shrunk where the Jacobian would fall below 0.2)"
    )


def brain_pairs(
    size: int,
    *,
    n_parcels: int = 16,
    amplitude_mm: float = 3.0,
    control_spacing_mm: float = 24.0,
    test_every: int = 4,
    contrast: ContrastModel | None = None,
    fixed_contrast: TissueContrast | None = None,
    test_deformation: str = "gaussian",
    seed: int = 0,
    ndim: int = 2,
    template_mm: float = 2.0,
) -> BrainPairs:
    """Training, validation and test pair generators.

    2D (``ndim=2``): template coronal slices every 2 mm from y = -60 to +30 mm resampled to
    ``size``; of every ``test_every`` consecutive slices one is a test and one a validation
    anatomy, the rest train (adjacent slices are correlated, so no test slice is trained on).
    3D (``ndim=3``, the GPU profile): the whole template at ``template_mm`` (``size`` unused);
    there is one 3D anatomy, so pairs differ only in their deformations and contrasts.

    Training and validation pairs deform with integrated velocity fields; test pairs with
    ``test_deformation`` (``"gaussian"``: another family, the true displacement's sd matched to
    the measured sd of the training pairs' true displacements; ``"svf"``: the training family).
    """
    contrast = ContrastModel() if contrast is None else contrast
    kw = dict(amplitude_mm=amplitude_mm, control_spacing_mm=control_spacing_mm, contrast=contrast,
              fixed_contrast=fixed_contrast)  # fmt: skip
    if ndim == 3:
        a = brain_volume(template_mm, n_parcels=n_parcels, seed=seed)
        parts = (a, a, a)
    elif ndim == 2:
        if test_every < 3:
            raise ValueError(f"test_every must be >= 3, got {test_every}")
        a = brain_slices(size, n_parcels=n_parcels, seed=seed)
        idx = np.arange(len(a))
        test_idx, val_idx = idx[test_every // 2 :: test_every], idx[::test_every]
        train_idx = np.setdiff1d(idx, np.union1d(test_idx, val_idx))
        parts = (a.subset(train_idx), a.subset(val_idx), a.subset(test_idx))
    else:
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    train, val = PairGenerator(parts[0], **kw), PairGenerator(parts[1], **kw)
    if test_deformation == "gaussian":
        kw["amplitude_mm"] = train.truth_sd_mm(seed=seed)
    test = PairGenerator(parts[2], deformation=test_deformation, **kw)
    step = 2.0 * test_every if ndim == 2 else 0.0  # brain_slices: one slice every 2 mm
    return BrainPairs(anatomies=a, train=train, val=val, test=test, slice_step_mm=step)


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
    inputs: Sequence[str] = (),
    hd95: bool = True,
) -> list[dict[str, Any]]:
    """Register ``pairs`` with ``fn`` (timed, one pair at a time) and return per-case rows
    (``inputs``: further entries of ``pairs`` passed to ``fn``, see :func:`register_pairs`)."""
    disp, seconds = register_pairs(fn, pairs, repeats=repeats, inputs=inputs)
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
        hd95=hd95,
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


def deformation_summary(pairs: Mapping[str, Any], spacing_mm: float) -> dict[str, float]:
    """What a pair set asks of a registration: the true displacement's sd (mm) and SDlogJ, and
    the mean Dice of the labels before registration and after the true displacement."""
    truth = pairs["truth"]
    after = warp(pairs["moving_labels"], truth, mode="nearest")
    return {
        "truth_sd_mm": float(truth.std()) * spacing_mm,
        "truth_sdlogj": float(rm.logjac_sd(truth).mean()),
        "dice_before": float(rm.mean_dice(pairs["moving_labels"], pairs["fixed_labels"]).mean()),
        "dice_truth": float(rm.mean_dice(after, pairs["fixed_labels"]).mean()),
    }


def degenerate_counts(results: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Cases flagged ``degenerate`` per method (rows) and training seed (columns) in ``setting``,
    at each method's full budget (the untrained methods under seed -1)."""
    df = results[results["setting"] == setting]
    df = df[df["budget"] == df.groupby("method")["budget"].transform("max")]
    table = df.pivot_table(index="method", columns="seed", values="degenerate", aggfunc="sum")
    return table.fillna(0).astype(int)


def ssim_reference(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
    """SSIM between the warped moving image and ``fixed_reference`` (the moving image's own
    contrast at the fixed position, noise-free; data range: the reference's max); pairs without
    one (real, mono-modal) use the fixed image, as :func:`ssim_after`."""
    warped = warp(pairs["moving"], disp)[:, 0].numpy()
    ref = pairs.get("fixed_reference", pairs["fixed"])[:, 0].numpy()
    return ssim(warped, ref, data_range=ref.reshape(len(ref), -1).max(1))


def myocardial_jacobian(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
    """Mean ``|J - 1|`` inside the fixed frame's myocardium (0: incompressible)."""
    return rm.jacobian_deviation(disp, mask=pairs["fixed_labels"] == MYO)


def pool_batches(pool: Mapping[str, Any], batch_size: int = 4):
    """A training batch function ``(step, generator) -> batch`` drawing ``batch_size`` pairs at
    random (with replacement) from a fixed pool of pairs (its tensor entries)."""
    n = len(pool["moving"])
    keys = [k for k, v in pool.items() if isinstance(v, torch.Tensor) and len(v) == n]

    def batch(step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        del step
        idx = torch.randint(n, (batch_size,), generator=generator)
        return {k: pool[k][idx] for k in keys}

    return batch


def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Binary dilation of ``(N, 1, *S)`` masks by ``pixels`` (a square/cube neighbourhood)."""
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0, got {pixels}")
    if pixels == 0:
        return mask.bool()
    k = 2 * pixels + 1
    pool = torch.nn.functional.max_pool2d if mask.ndim == 4 else torch.nn.functional.max_pool3d
    return pool(mask.float(), k, stride=1, padding=pixels) > 0.5


def label_dice(label: int) -> MetricFn:
    """``fn(pairs, disp)``: Dice of one label between the warped moving labels (nearest) and
    the fixed labels (NaN-free: every fixed label map must hold the label)."""

    def fn(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
        warped = warp(pairs["moving_labels"], disp, mode="nearest")
        return rm.mean_dice(warped, pairs["fixed_labels"], labels=[label])

    return fn
