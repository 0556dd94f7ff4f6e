"""A user's image + label NIfTI pairs, on the synthesiser's grid: the real-data path of notebooks.

A folder holds ``<case><image_suffix>`` and ``<case><label_suffix>`` files (for example
``sub-01_T1w.nii.gz`` and ``sub-01_dseg.nii.gz``; FSL FAST's ``*_pveseg`` uses 1 CSF, 2 GM, 3 WM;
a brain mask is 0/1). Each pair is reoriented to RAS+ (the synthesiser's and the MNI template's
voxel order; :mod:`mricompendium.data.orientation`), must share one grid (image and labels are
paired voxel by voxel: refused, naming both files, otherwise), is resampled to an isotropic
spacing (image linear, labels nearest), centre-cropped or zero-padded to a shape, and the image
scaled so that its 99.5th percentile is 1 (clipped to [0, 1]).
Bad files raise :class:`~mricompendium.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import (
    Grid,
    check_same_grid,
    header_grid,
    label_values,
    load_ras,
)

__all__ = [
    "Pair",
    "check_pair",
    "find_pairs",
    "load_pair",
    "middle_slices",
    "normalise",
    "to_grid",
]

PathLike = str | os.PathLike[str]


class Pair(NamedTuple):
    """One case: its name, image file and label file."""

    name: str
    image: Path
    labels: Path


def find_pairs(folder: PathLike, *, image_suffix: str, label_suffix: str) -> list[Pair]:
    """The ``(name, image, labels)`` pairs of ``folder`` (sorted by name).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        DataError: no pair found, or an image without its label file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data_path is not a folder")
    pairs = []
    for img in sorted(root.glob(f"*{image_suffix}")):
        name = img.name[: -len(image_suffix)]
        lab = root / f"{name}{label_suffix}"
        if not lab.is_file():
            raise DataError(img, f"has no label file {lab.name} beside it")
        pairs.append(Pair(name, img, lab))
    if not pairs:
        raise DataError(root, f"no '*{image_suffix}' images found")
    return pairs


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    ornt = nib.orientations.io_orientation(affine)
    data = nib.orientations.apply_orientation(data, ornt)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(0))[ornt[:, 0].astype(int)]
    return data, spacing


def _fit(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=x.dtype)
    src, dst = [], []
    for n_in, n_out in zip(x.shape, shape, strict=True):
        a, b = max(0, (n_in - n_out) // 2), max(0, (n_out - n_in) // 2)
        m = min(n_in, n_out)
        src.append(slice(a, a + m))
        dst.append(slice(b, b + m))
    out[tuple(dst)] = x[tuple(src)]
    return out


def check_pair(
    pair: Pair,
    *,
    allowed: set[int] | None = None,
    spacing_mm: float | None = None,
    shape: tuple[int, int, int] | None = None,
) -> tuple[Grid, tuple[int, ...]]:
    """Check one pair as :func:`load_pair` reads it, from the image header and the label map.

    Args:
        pair: the files.
        allowed: label values the notebook can score (``None``: any integer).
        spacing_mm, shape: the grid :func:`load_pair` puts the pair on; when given, some label
            must fall inside its centre crop (else no slice could be taken).

    Returns:
        the image's RAS+ grid and the label values found.

    Raises:
        DataError: a 4-D file, grids that differ (names both files), non-integer labels, values
            outside ``allowed``, or no labelled voxel (in the crop).
    """
    grid = header_grid(pair.image)
    values, lab_grid = label_values(pair.labels)
    check_same_grid(grid, lab_grid, what="label file")
    found = tuple(int(v) for v in values)
    if allowed is not None and set(found) - set(allowed):
        bad = sorted(set(found) - set(allowed))
        raise DataError(pair.labels, f"label values {bad} outside {sorted(allowed)}")
    if not any(found):
        raise DataError(pair.labels, "labels are empty: no labelled voxel")
    if spacing_mm is not None and shape is not None:
        lab, _ = load_ras(pair.labels, dtype=None, finite=False)
        idx = np.argwhere(lab != 0)
        zoom = np.asarray(lab_grid.spacing_mm) / float(spacing_mm)
        size = np.round(np.asarray(lab.shape) * zoom)  # scipy.ndimage.zoom's output shape
        start = np.maximum(0, (size - np.asarray(shape)) // 2)  # as _fit crops
        stop = start + np.minimum(size, shape)
        lo, hi = idx.min(0) * zoom, (idx.max(0) + 1) * zoom
        if np.any(hi <= start) or np.any(lo >= stop):
            raise DataError(
                pair.labels,
                f"no labelled voxel inside the central {'x'.join(map(str, shape))} crop at "
                f"{spacing_mm:g} mm (shape, spacing_mm)",
            )
    return grid, found


def load_pair(
    image_path: PathLike,
    label_path: PathLike,
    *,
    spacing_mm: float,
    shape: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """One pair on the grid: float32 image in [0, 1] and int64 labels, both ``shape`` (RAS+).

    Raises:
        DataError: unreadable or 4-D files, image and labels on different grids (names both),
            non-integer labels, NaN in the image.
    """
    img, grid = load_ras(image_path)
    lab, lab_grid = load_ras(label_path, dtype=None, finite=False)
    check_same_grid(grid, lab_grid, what="label file")
    if np.issubdtype(lab.dtype, np.floating) and not np.all(lab == np.round(lab)):
        raise DataError(label_path, "label map holds non-integer values")
    img = to_grid(img, grid.affine, spacing_mm=spacing_mm, shape=shape, order=1)
    lab = to_grid(np.rint(lab).astype(np.int64), grid.affine, spacing_mm=spacing_mm, shape=shape)
    return normalise(img, image_path), lab


def to_grid(
    volume: np.ndarray,
    affine: np.ndarray,
    *,
    spacing_mm: float,
    shape: tuple[int, int, int],
    order: int = 0,
) -> np.ndarray:
    """Reorient to RAS+, resample to isotropic ``spacing_mm`` (spline ``order``; 0 for labels),
    centre-crop or zero-pad to ``shape``; the dtype is kept."""
    data, spacing = _canonical(volume, affine)
    zoom = spacing / float(spacing_mm)
    data = ndimage.zoom(data, zoom, order=order, grid_mode=True, mode="nearest")
    return _fit(data.astype(volume.dtype, copy=False), tuple(shape))


def normalise(image: np.ndarray, source: PathLike = "image") -> np.ndarray:
    """float32 image scaled so that its 99.5th percentile is 1, clipped to [0, 1]."""
    top = np.percentile(image, 99.5)
    if not top > 0:
        raise DataError(source, "is empty (99.5th percentile <= 0)")
    return np.clip(image / top, 0.0, 1.0).astype(np.float32)


def middle_slices(labels: np.ndarray, n: int, *, axis: int = 2) -> list[int]:
    """``n`` evenly spaced indices along ``axis`` within the central half of the labelled extent."""
    others = tuple(a for a in range(labels.ndim) if a != axis)
    occupied = np.flatnonzero((labels > 0).any(axis=others))
    if occupied.size == 0:
        raise DataError("labels", "are empty: no labelled voxel")
    lo, hi = occupied.min(), occupied.max()
    quarter = (hi - lo) / 4
    return sorted({int(round(v)) for v in np.linspace(lo + quarter, hi - quarter, max(1, n))})
