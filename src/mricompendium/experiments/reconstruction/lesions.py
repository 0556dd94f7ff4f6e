"""Unseen pathology (ReconResNet, S38): lesions inserted into test cases, and whether they survive.

A lesion's size is a fraction of the image side (``radius_fraction``), so the same parameter
works at every image size; :func:`lesion_cases` inserts one lesion per case into the object
(on the grid the k-space is simulated on) with :func:`mricompendium.data.lesions.insert_lesion`,
and :func:`lesion_scores` measures, per case,
how much of the lesion's contrast a reconstruction keeps and the SSIM around it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mricompendium import metrics
from mricompendium.data.embedded import resize_stack
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

    The lesion is part of the object: it is inserted on the object grid (``cases.objects``,
    semi-axes ``radius_fraction`` of that grid's side), and the images and lesion masks on the
    reconstruction grid are derived from it (:func:`resize_stack`; a lesion mask is where at
    least half a pixel is lesion). Cases whose mask has no room for a lesion of that size are
    left out, with a clear error if none is left.
    """
    if cases.objects is None or cases.object_masks is None:
        raise ValueError("lesion_cases needs cases with objects (the object grid)")
    size = int(cases.images.shape[-1])
    radius = lesion_radius_px(int(cases.objects.shape[-1]), radius_fraction)
    objects, lesions, keep = [], [], []
    for i, (obj, mask) in enumerate(zip(cases.objects, cases.object_masks, strict=True)):
        try:
            li, lm = insert_lesion(obj, mask, seed=case_seed(seed, i, 5), radius_px=radius,
                                   contrast=contrast)  # fmt: skip
        except ValueError:
            continue  # no room in this (small) mask
        small = resize_stack(lm.astype(np.float32)[None], size)[0] >= 0.5
        if not small.any():
            continue
        objects.append(li)
        lesions.append(small)
        keep.append(i)
    if not keep:
        small_px = lesion_radius_px(size, radius_fraction)
        raise ValueError(
            f"no test case has room for a lesion of {small_px[0]:.1f}-{small_px[1]:.1f} px "
            f"(radius_fraction {list(radius_fraction)} of {size} px): lower lesion_radius"
        )
    sub = cases.subset(keep)
    fine = np.stack(objects).astype(np.float32)
    out = CaseSet(resize_stack(fine, size), sub.masks, sub.case, sub.unit, sub.group, fine,
                  sub.object_masks)  # fmt: skip
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
