"""Registration estimated on low-resolution frames and applied to high-resolution ones.

A dynamic series is fast because it is coarse; a static high-resolution image of the same
anatomy may exist. The motion between two dynamic frames is registered on the coarse grid, the
displacement is brought to the fine grid (:func:`~mricompendium.physics.deform.
upsample_displacement`) and warps the high-resolution image.

* :func:`register_at`: register a pair set at full resolution (``factor = 1``) or on its
  low-resolution frames (``pairs["low_res"][factor]``), timed per pair; fields on the fine grid.
* :func:`evaluate_at`: the same, scored into per-case rows.
* :func:`ssim_to_reference`: a per-case metric: SSIM of the warped fine moving image against the
  noise-free fine fixed frame inside a mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mricompendium.experiments.registration.evaluate import (
    MetricFn,
    RegisterFn,
    register_pairs,
    score_pairs,
)
from mricompendium.metrics.image import ssim
from mricompendium.physics.deform import upsample_displacement, warp

__all__ = ["evaluate_at", "register_at", "ssim_to_reference"]


def register_at(
    fn: RegisterFn, pairs: Mapping[str, Any], factor: int, *, repeats: int = 1
) -> tuple[torch.Tensor, np.ndarray]:
    """``(disp (N, n, *S) in fine voxels, seconds (N,))`` of ``fn`` on the pairs' frames at
    ``factor`` (1: the fine ``moving``/``fixed``; else ``pairs["low_res"][factor]``)."""
    if factor == 1:
        coarse = {"moving": pairs["moving"], "fixed": pairs["fixed"]}
    elif factor in pairs.get("low_res", {}):
        coarse = pairs["low_res"][factor]
    else:
        raise ValueError(f"no low-resolution frames at factor {factor}")
    disp, seconds = register_pairs(fn, coarse, repeats=repeats)
    return upsample_displacement(disp, factor), seconds


def evaluate_at(
    fn: RegisterFn,
    pairs: Mapping[str, Any],
    factor: int,
    *,
    method: str,
    setting: str,
    group: str,
    spacing_mm: float,
    cases: Sequence[str],
    units: Sequence[str] | None = None,
    repeats: int = 1,
    extra: Mapping[str, MetricFn] | None = None,
    hd95: bool = False,
) -> list[dict[str, Any]]:
    """Per-case rows of ``fn`` estimated at ``factor`` and applied on the fine grid (untrained:
    seed -1, budget 0; HD95 only when asked)."""
    disp, seconds = register_at(fn, pairs, factor, repeats=repeats)
    keys = {"setting": setting, "method": method, "seed": -1, "budget": 0, "group": group}
    return score_pairs(
        pairs, disp, seconds, spacing_mm=spacing_mm, keys=keys, cases=cases, units=units,
        extra=extra, hd95=hd95,
    )  # fmt: skip


def ssim_to_reference(mask_key: str = "fixed_mask") -> MetricFn:
    """``fn(pairs, disp)``: SSIM of ``warp(moving, disp)`` against ``pairs["reference"]`` inside
    ``pairs[mask_key]`` (data range: the reference's maximum)."""

    def fn(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
        warped = warp(pairs["moving"], disp)[:, 0].numpy()
        ref = pairs["reference"][:, 0].numpy()
        mask = pairs[mask_key][:, 0].numpy()
        return ssim(warped, ref, data_range=ref.reshape(len(ref), -1).max(1), mask=mask)

    return fn
