"""Unseen pathology (ReconResNet, S38): lesions inserted into test cases, and whether they survive.

A lesion's size is a fraction of the image side (``radius_fraction``), so the same parameter
works at every image size; :func:`lesion_cases` inserts one lesion per case with
:func:`mricompendium.data.lesions.insert_lesion`, and :func:`lesion_scores` measures, per case,
how much of the lesion's contrast a reconstruction keeps and the SSIM around it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mricompendium import metrics
from mricompendium.data.lesions import insert_lesion, lesion_contrast
from mricompendium.data.recon import CaseSet, case_seed

__all__ = ["lesion_cases", "lesion_radius_px", "lesion_scores"]


def lesion_radius_px(size: int, radius_fraction: Sequence[float]) -> tuple[float, float]:
    """Semi-axis range in pixels for images of side ``size``: ``fraction * size``."""
    lo, hi = (float(f) for f in radius_fraction)
    if not 0 < lo <= hi < 0.5:
        raise ValueError(
            f"radius_fraction must be (lo, hi) with 0 < lo <= hi < 0.5, got {radius_fraction}"
        )
    return lo * size, hi * size


def lesion_cases(
    cases: CaseSet, *, radius_fraction: Sequence[float], contrast: float, seed: int
) -> tuple[CaseSet, np.ndarray]:
    """Each case with one lesion inside its brain mask; and the lesion masks ``(N, H, W)``.

    Cases whose mask has no room for a lesion of that size are left out, with a clear error if
    none is left.
    """
    size = int(cases.images.shape[-1])
    radius = lesion_radius_px(size, radius_fraction)
    images, lesions, keep = [], [], []
    for i, (img, mask) in enumerate(zip(cases.images, cases.masks, strict=True)):
        try:
            li, lm = insert_lesion(img, mask, seed=case_seed(seed, i, 5), radius_px=radius,
                                   contrast=contrast)  # fmt: skip
        except ValueError:
            continue  # no room in this (small) mask
        images.append(li)
        lesions.append(lm)
        keep.append(i)
    if not keep:
        raise ValueError(
            f"no test case has room for a lesion of {radius[0]:.1f}-{radius[1]:.1f} px "
            f"(radius_fraction {list(radius_fraction)} of {size} px): lower lesion_radius"
        )
    out = cases.subset(keep)
    out = CaseSet(np.stack(images).astype(np.float32), out.masks, out.case, out.unit, out.group)
    return out, np.stack(lesions)


def lesion_scores(
    recon: np.ndarray, truth: np.ndarray, lesions: np.ndarray
) -> dict[str, np.ndarray]:
    """Per case: ``retention`` (reconstructed / true lesion contrast) and ``ssim_lesion`` (SSIM
    over the lesion dilated by 3 pixels, slice-normalised protocol)."""
    c_true = np.array([lesion_contrast(t, m) for t, m in zip(truth, lesions, strict=True)])
    c_rec = np.array([lesion_contrast(r, m) for r, m in zip(recon, lesions, strict=True)])
    region = F.max_pool2d(torch.as_tensor(lesions, dtype=torch.float32)[:, None], 7, 1, 3)
    roi = region[:, 0].numpy() > 0
    res = metrics.evaluate(recon, truth, protocol="slice_normalised", mask=roi)
    return {"retention": c_rec / c_true, "ssim_lesion": res["ssim_mask"]}
