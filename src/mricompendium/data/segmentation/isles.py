"""ISLES 2022 (ischemic stroke lesion segmentation) cases: DWI, ADC, FLAIR and the lesion mask.

Hernandez Petzsche et al., "ISLES 2022: A multi-center magnetic resonance imaging stroke lesion
segmentation dataset", Scientific Data 9:762 (2022). The release is BIDS-like::

    rawdata/sub-strokecase0001/ses-0001/dwi/sub-strokecase0001_ses-0001_dwi.nii.gz
    rawdata/sub-strokecase0001/ses-0001/dwi/sub-strokecase0001_ses-0001_adc.nii.gz
    rawdata/sub-strokecase0001/ses-0001/anat/sub-strokecase0001_ses-0001_FLAIR.nii.gz
    derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz

The archive as distributed has the subject folders at its top (``ISLES-2022/sub-strokecase0001/
ses-0001/dwi/...``, ``anat/..._FLAIR.nii.gz``, ``derivatives/sub-.../ses-0001/..._msk.nii.gz``);
some copies put them under ``rawdata/``: both are found, at any depth.

Every volume is reoriented to RAS+ (:mod:`mricompendium.data.orientation`). The DWI
(b = 1000 s/mm^2), ADC and mask must share one grid (refused, naming both files, otherwise);
FLAIR has its own and is resampled onto the DWI grid through the two affines. The mask holds 0
and 1 only. :func:`find_cases` also accepts any folder tree whose files end in ``_dwi``, ``_adc``,
``_flair`` (any case) and ``_msk`` with a shared prefix. Unreadable or inconsistent files raise
:class:`~mricompendium.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import (
    Grid,
    check_same_grid,
    header_grid,
    label_values,
    load_ras,
)

__all__ = ["IslesCase", "IslesFiles", "check_case", "find_cases", "load_case"]

PathLike = str | os.PathLike[str]
_SUFFIX = re.compile(r"^(?P<prefix>.+)_(?P<kind>dwi|adc|flair|msk)\.nii(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class IslesFiles:
    """The files of one case (``flair`` may be ``None``)."""

    name: str
    dwi: Path
    adc: Path
    flair: Path | None
    mask: Path


@dataclass(frozen=True)
class IslesCase:
    """One case on the DWI grid.

    Attributes:
        name: the case prefix (``sub-strokecase0001_ses-0001``).
        dwi, adc: float32 ``(X, Y, Z)`` RAS+ (ADC in the file's units, usually 1e-6 mm^2/s).
        flair: float32 FLAIR resampled onto the DWI grid (linear), or ``None``.
        mask: bool lesion mask.
        affine: float64 ``(4, 4)`` voxel -> world (mm) of the DWI grid.
    """

    name: str
    dwi: np.ndarray
    adc: np.ndarray
    flair: np.ndarray | None
    mask: np.ndarray
    affine: np.ndarray


def find_cases(root: PathLike) -> list[IslesFiles]:
    """Every case under ``root`` with DWI, ADC and a mask (FLAIR optional), sorted by name.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DataError: no case found, a DWI without its ADC or mask, or a file found twice.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: ISLES data_path is not a folder")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(base.rglob("*.nii*")):
        m = _SUFFIX.match(path.name)
        if not m:
            continue
        kinds = found.setdefault(m["prefix"], {})
        kind = m["kind"].lower()
        if kind in kinds:
            raise DataError(path, f"a second {kind} file for case {m['prefix']} ({kinds[kind]})")
        kinds[kind] = path
    cases = []
    for name, kinds in sorted(found.items()):
        if "dwi" not in kinds:
            continue
        for need in ("adc", "msk"):
            if need not in kinds:
                raise DataError(kinds["dwi"], f"has no {name}_{need}.nii.gz under {base}")
        cases.append(IslesFiles(name, kinds["dwi"], kinds["adc"], kinds.get("flair"), kinds["msk"]))
    if not cases:
        raise DataError(base, "no ISLES case (*_dwi.nii.gz with *_adc and *_msk) found")
    return cases


def _volume(path: Path, dtype=np.float32) -> tuple[np.ndarray, Grid]:
    return load_ras(path, dtype=dtype, finite=dtype is not None)


def _check_mask_values(values: np.ndarray, path: Path) -> None:
    bad = sorted(set(values.tolist()) - {0, 1})
    if bad:
        raise DataError(path, f"lesion mask holds values {bad}; ISLES masks are 0/1")


def check_case(files: IslesFiles) -> Grid:
    """Check one case as :func:`load_case` reads it, from headers and the mask only.

    Returns:
        the DWI grid (RAS+).

    Raises:
        DataError: as :func:`load_case`, naming the file.
    """
    ref = header_grid(files.dwi)
    check_same_grid(ref, header_grid(files.adc), what="ADC")
    values, grid = label_values(files.mask)
    check_same_grid(ref, grid, what="lesion mask")
    _check_mask_values(values, files.mask)
    if files.flair is not None:
        header_grid(files.flair)
    return ref


def _resample_onto(data: np.ndarray, affine: np.ndarray, shape, target: np.ndarray) -> np.ndarray:
    """Linear resampling of ``data`` (world ``affine``) onto a grid ``shape`` with ``target``."""
    from scipy import ndimage

    vox = np.linalg.inv(affine) @ target  # target voxel -> source voxel
    return ndimage.affine_transform(
        data, vox[:3, :3], offset=vox[:3, 3], output_shape=tuple(shape), order=1, cval=0.0
    ).astype(np.float32)


def load_case(files: IslesFiles) -> IslesCase:
    """Read one case (RAS+); FLAIR is resampled onto the DWI grid.

    Raises:
        DataError: unreadable or 4-D files, ADC or mask not on the DWI grid (names both files),
            mask values other than 0/1, NaN in an image (an empty mask is allowed: a user's data
            may have one).
    """
    dwi, grid = _volume(files.dwi)
    adc, adc_grid = _volume(files.adc)
    check_same_grid(grid, adc_grid, what="ADC")
    mask, mask_grid = _volume(files.mask, dtype=None)
    check_same_grid(grid, mask_grid, what="lesion mask")
    _check_mask_values(np.unique(mask), files.mask)
    flair = None
    if files.flair is not None:
        f, f_grid = _volume(files.flair)
        flair = _resample_onto(f, f_grid.affine, dwi.shape, grid.affine)
    return IslesCase(files.name, dwi, adc, flair, np.asarray(mask) > 0, grid.affine)
