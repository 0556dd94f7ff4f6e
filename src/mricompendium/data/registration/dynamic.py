"""Real dynamic (4D) MRI of free breathing: NIfTI series -> two breathing phases at two resolutions.

A user's series is a NIfTI file per subject, ``(X, Y, T)`` (one dynamic slice) or
``(X, Y, Z, T)`` (the middle slice along ``Z`` is used), brought to RAS+ before slicing. The two
frames registered are the extremes of the series' breathing: the frames at the minimum and the
maximum of its first principal component over time (the dominant temporal mode of a
free-breathing series; which extreme is inhale is not known, so they are called phase A (moving)
and phase B (fixed)). Each frame is cropped to its central square, resampled to ``size`` pixels
and divided by the series' 99th percentile; low-resolution frames are k-space truncations of
those frames, as the paper simulated its dynamic frames. There is no true motion and there are
no labels: only image similarity can be scored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import load_nifti
from mricompendium.data.registration.render import truncate_kspace

__all__ = ["DynamicSeries", "find_dynamic_series", "load_dynamic_series", "series_pairs"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class DynamicSeries:
    """One subject's 2D series ``frames`` ``(T, H, W)`` (RAS+ slice) and pixel size (mm)."""

    name: str
    frames: np.ndarray
    spacing_mm: tuple[float, float]


def find_dynamic_series(root: PathLike) -> list[Path]:
    """The ``.nii`` / ``.nii.gz`` files of a folder (or the file itself), sorted."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    return sorted(p for p in root.iterdir() if p.name.endswith((".nii", ".nii.gz")))


def load_dynamic_series(path: PathLike) -> DynamicSeries:
    """Read one series (see the module docstring); fewer than 2 frames is an error."""
    data, affine = load_nifti(path, dtype=np.float32, ndim=(3, 4), canonical=True)
    if data.ndim == 4:
        data = data[:, :, data.shape[2] // 2]
    if data.shape[-1] < 2:
        raise DataError(path, f"holds {data.shape[-1]} frame(s); a breathing series needs >= 2")
    if not np.all(np.isfinite(data)):
        raise DataError(path, "holds NaN or infinite values")
    spacing = np.linalg.norm(affine[:3, :3], axis=0)[:2]
    name = Path(path).name.removesuffix(".gz").removesuffix(".nii")
    frames = np.moveaxis(data, -1, 0)
    return DynamicSeries(name, frames, (float(spacing[0]), float(spacing[1])))


def _phases(frames: np.ndarray) -> tuple[int, int]:
    """Indices of the frames at the minimum and maximum of the first temporal component."""
    x = frames.reshape(len(frames), -1).astype(np.float64)
    x = x - x.mean(0)
    u, _, _ = np.linalg.svd(x, full_matrices=False)
    return int(np.argmin(u[:, 0])), int(np.argmax(u[:, 0]))


def _square(img: np.ndarray, size: int) -> np.ndarray:
    side = min(img.shape)
    r0, c0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = img[r0 : r0 + side, c0 : c0 + side]
    return ndimage.zoom(crop, size / side, order=1, grid_mode=True, mode="nearest")[:size, :size]


def series_pairs(series: list[DynamicSeries], size: int, factors: tuple[int, ...]) -> dict:
    """Phase A (moving) -> phase B (fixed) pairs in the layout of
    :meth:`~.breathing.BreathingSimulator.pairs` without truth or labels: ``moving``, ``fixed``,
    ``reference`` (= ``fixed``), ``fixed_mask`` (pixels above 10 % of the frame's maximum in
    either phase), ``low_res``, ``subject``, ``spacing_mm`` (per pair, after resampling)."""
    if any(size % f for f in factors):
        raise ValueError(f"size {size} must be a multiple of every factor {factors}")
    mov, fix, spacing = [], [], []
    for s in series:
        a, b = _phases(s.frames)
        scale = max(float(np.percentile(s.frames, 99)), 1e-6)
        mov.append(_square(s.frames[a] / scale, size).astype(np.float32))
        fix.append(_square(s.frames[b] / scale, size).astype(np.float32))
        spacing.append(min(s.frames.shape[1:]) * float(np.mean(s.spacing_mm)) / size)
    moving = torch.from_numpy(np.stack(mov))[:, None]
    fixed = torch.from_numpy(np.stack(fix))[:, None]
    mask = (moving > 0.1 * moving.amax((2, 3), keepdim=True)) | (
        fixed > 0.1 * fixed.amax((2, 3), keepdim=True)
    )

    def coarse(arr: list[np.ndarray], f: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([truncate_kspace(x, f) for x in arr]).astype(np.float32))

    low = {
        f: {"moving": coarse(mov, f)[:, None], "fixed": coarse(fix, f)[:, None]} for f in factors
    }
    return {
        "moving": moving,
        "fixed": fixed,
        "reference": fixed,
        "fixed_mask": mask,
        "low_res": low,
        "subject": [s.name for s in series],
        "spacing_mm": spacing,
    }
