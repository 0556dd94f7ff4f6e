"""BraTS loader: four NIfTI modalities and a label file per case, label conventions explicit.

A BraTS case is a folder holding one NIfTI file per modality and a label file, named after the
case id. Two naming and labelling schemes are in use:

========  ==========================================  =============================================
release   files (``<id>`` = folder name)              labels
========  ==========================================  =============================================
2018-21   ``<id>_t1``, ``_t1ce``, ``_t2``, ``_flair``,  1 necrotic / non-enhancing tumour core
          ``_seg`` (``.nii.gz`` or ``.nii``)          (NCR/NET), 2 peritumoural oedema (ED),
                                                      4 GD-enhancing tumour (ET)
2023      ``<id>-t1n``, ``-t1c``, ``-t2w``, ``-t2f``,  1 necrotic core (NCR), 2 oedema (ED),
          ``-seg``                                    3 enhancing tumour (ET)
========  ==========================================  =============================================

The evaluated regions are nested: **ET** = enhancing tumour; **TC** (tumour core) = ET + NCR(/NET);
**WT** (whole tumour) = TC + ED. :func:`regions_from_labels` maps either convention to the three
binary regions, in the order :data:`REGIONS` = (ET, TC, WT).

Images come back as float32 ``(4, X, Y, Z)`` in the order T1, T1c, T2, FLAIR (:data:`MODALITIES`)
in the files' voxel order; ``spacing_mm`` is read from the header (BraTS: 1 mm isotropic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mricompendium.data.errors import DataError

__all__ = [
    "CONVENTIONS",
    "MODALITIES",
    "REGIONS",
    "BratsCase",
    "find_cases",
    "load_case",
    "load_cases",
    "regions_from_labels",
]

MODALITIES = ("t1", "t1c", "t2", "flair")
REGIONS = ("ET", "TC", "WT")
# label values of each sub-region, per convention
CONVENTIONS: dict[str, dict[str, int]] = {
    "2018": {"NCR": 1, "ED": 2, "ET": 4},  # BraTS 2018-2021: 1 NCR/NET, 2 ED, 4 ET
    "2023": {"NCR": 1, "ED": 2, "ET": 3},  # BraTS 2023: 1 NCR, 2 ED, 3 ET
}
Convention = Literal["2018", "2023", "auto"]

# file-name suffixes per modality, per naming scheme (2018-2021 first, then 2023)
_SUFFIXES = {
    "t1": ("_t1", "-t1n"),
    "t1c": ("_t1ce", "-t1c"),
    "t2": ("_t2", "-t2w"),
    "flair": ("_flair", "-t2f"),
    "seg": ("_seg", "-seg"),
}
_EXTS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class BratsCase:
    """One case.

    Attributes:
        case_id: the folder name.
        image: float32 ``(4, X, Y, Z)``: T1, T1c, T2, FLAIR.
        labels: int16 ``(X, Y, Z)`` sub-region labels as stored, or ``None`` without a label file.
        regions: bool ``(3, X, Y, Z)`` ET, TC, WT, or ``None``.
        convention: the label convention used (``"2018"`` or ``"2023"``).
        spacing_mm: voxel size per axis.
        affine: ``(4, 4)`` voxel -> world mm of the T1 file.
        files: the files read, modality order then the label file.
    """

    case_id: str
    image: np.ndarray
    labels: np.ndarray | None
    regions: np.ndarray | None
    convention: str
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray
    files: tuple[Path, ...]


def regions_from_labels(labels: np.ndarray, convention: Convention = "auto") -> np.ndarray:
    """ET, TC and WT masks from a sub-region label map.

    Args:
        labels: integer label map ``(*spatial)`` (0 = background).
        convention: ``"2018"`` (ET = 4, BraTS 2018-2021), ``"2023"`` (ET = 3), or ``"auto"``
            (2023 if a 3 occurs, else 2018; both give the same regions when neither occurs).

    Returns:
        bool ``(3, *spatial)`` in the order :data:`REGIONS`.

    Raises:
        ValueError: a label value that the convention does not define.
    """
    lab = np.asarray(labels)
    conv = _resolve_convention(lab, convention)
    values = CONVENTIONS[conv]
    bad = sorted(set(np.unique(lab).tolist()) - {0, *values.values()})
    if bad:
        raise ValueError(
            f"label values {bad} are not defined by the BraTS {conv} convention "
            f"(0 background, {values}); pass the right convention"
        )
    et = lab == values["ET"]
    tc = et | (lab == values["NCR"])
    wt = tc | (lab == values["ED"])
    return np.stack([et, tc, wt])


def _resolve_convention(lab: np.ndarray, convention: str) -> str:
    if convention == "auto":
        return "2023" if (lab == 3).any() else "2018"
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be 'auto' or one of {sorted(CONVENTIONS)}")
    return convention


def _find_file(folder: Path, key: str) -> Path | None:
    for suffix in _SUFFIXES[key]:
        for ext in _EXTS:
            path = folder / f"{folder.name}{suffix}{ext}"
            if path.is_file():
                return path
    return None


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    import nibabel as nib

    try:
        img = nib.load(os.fspath(path))
        data = np.asarray(img.dataobj)
    except Exception as err:  # nibabel raises several types for damaged files
        raise DataError(path, f"cannot read as NIfTI ({type(err).__name__}: {err})") from err
    if data.ndim != 3:
        raise DataError(path, f"expected a 3D volume, got shape {data.shape}")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return data, np.asarray(img.affine, dtype=np.float64), zooms  # type: ignore[return-value]


def load_case(folder: str | os.PathLike[str], *, convention: Convention = "auto") -> BratsCase:
    """Read one BraTS case folder (2018-2021 or 2023 naming; see the module docstring).

    Args:
        folder: the case folder, named after the case id.
        convention: label convention (see :func:`regions_from_labels`).

    Raises:
        DataError: the folder or a modality is missing, a file is corrupt, shapes differ, or the
            image holds NaN / inf; the message names the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "no such case folder")
    paths = {m: _find_file(folder, m) for m in (*MODALITIES, "seg")}
    missing = [m for m in MODALITIES if paths[m] is None]
    if missing:
        expected = [f"{folder.name}{_SUFFIXES[m][0]}.nii.gz or {_SUFFIXES[m][1]}" for m in missing]
        raise DataError(folder, f"missing modality {missing}: expected {expected}")
    vols, affine, spacing, shape = [], None, None, None
    for m in MODALITIES:
        data, aff, zooms = _read(paths[m])
        if shape is None:
            shape, affine, spacing = data.shape, aff, zooms
        elif data.shape != shape:
            raise DataError(paths[m], f"shape {data.shape} differs from the T1 shape {shape}")
        if not np.isfinite(data).all():
            raise DataError(paths[m], "holds NaN or infinite values")
        vols.append(data.astype(np.float32))
    labels = regions = None
    conv = convention
    if paths["seg"] is not None:
        lab, _, _ = _read(paths["seg"])
        if lab.shape != shape:
            raise DataError(paths["seg"], f"shape {lab.shape} differs from the image shape {shape}")
        labels = np.rint(lab).astype(np.int16)
        conv = _resolve_convention(labels, convention)
        try:
            regions = regions_from_labels(labels, conv)  # type: ignore[arg-type]
        except ValueError as err:
            raise DataError(paths["seg"], str(err)) from err
    files = tuple(p for p in (*(paths[m] for m in MODALITIES), paths["seg"]) if p is not None)
    return BratsCase(
        folder.name, np.stack(vols), labels, regions, str(conv), spacing, affine, files
    )


def find_cases(root: str | os.PathLike[str]) -> list[Path]:
    """Case folders under ``root`` (sorted): sub-folders holding a T1 file named after them."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder")
    cases = sorted(p for p in root.iterdir() if p.is_dir() and _find_file(p, "t1") is not None)
    if not cases:
        raise DataError(root, "no BraTS case folders (<id>/<id>_t1.nii.gz or <id>-t1n.nii.gz)")
    return cases


def load_cases(
    root: str | os.PathLike[str],
    *,
    max_cases: int | None = None,
    convention: Convention = "auto",
) -> list[BratsCase]:
    """Read the first ``max_cases`` case folders under ``root`` (all when ``None``)."""
    folders = find_cases(root)[:max_cases]
    return [load_case(f, convention=convention) for f in folders]
