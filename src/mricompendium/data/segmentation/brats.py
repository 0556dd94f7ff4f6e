"""BraTS loader: four NIfTI modalities and a label file per case, label conventions explicit.

A BraTS case is a folder holding one NIfTI file per modality and a label file, named after the
case id. The releases ship them as follows (``data_path`` is the unpacked training folder; case
folders are found at any depth, so 2018-2019's ``HGG/`` and ``LGG/`` sub-folders need no
flattening):

* 2018-2019: ``MICCAI_BraTS_2018_Data_Training/HGG/<id>/<id>_t1.nii.gz``, ``_t1ce``, ``_t2``,
  ``_flair``, ``_seg`` (and ``LGG/``); 2020-2021: ``BraTS2021_Training_Data/BraTS2021_00000/``
  ``BraTS2021_00000_t1.nii.gz`` ... ``_seg.nii.gz``. Labels 1 necrotic / non-enhancing tumour
  core (NCR/NET), 2 peritumoural oedema (ED), 4 GD-enhancing tumour (ET).
* 2023: ``ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData/BraTS-GLI-00000-000/`` with
  ``BraTS-GLI-00000-000-t1n.nii.gz``, ``-t1c``, ``-t2w``, ``-t2f``, ``-seg``. Labels 1 necrotic
  core (NCR), 2 oedema (ED), 3 enhancing tumour (ET).

The label convention is a setting (``brats_convention`` in the notebooks): ``brats2021`` (ET = 4,
the 2018-2021 releases; ``"2018"`` in code), ``brats2023`` (ET = 3; ``"2023"``), or ``auto``: the
convention of the release whose file naming the cases use (``_t1ce``: 2018-2021, ``-t1c``: 2023),
never a guess from the label values of one case (a 2023 case without enhancing tumour is still a
2023 case). A folder whose cases use both namings is refused under ``auto``; label values outside
the convention are refused naming the file (e.g. BraTS 2021 files relabelled 4 -> 3 by a
conversion script: set ``brats2023``).

The evaluated regions are nested: **ET** = enhancing tumour; **TC** (tumour core) = ET + NCR(/NET);
**WT** (whole tumour) = TC + ED. :func:`regions_from_labels` maps either convention to the three
binary regions, in the order :data:`REGIONS` = (ET, TC, WT).

Volumes are reoriented to RAS+ (:mod:`mricompendium.data.orientation`), so axis 2 is axial
whatever the files' storage order; every modality and the label file must share the T1's grid.
Images come back as float32 ``(4, X, Y, Z)`` in the order T1, T1c, T2, FLAIR (:data:`MODALITIES`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import (
    Grid,
    check_same_grid,
    header_grid,
    label_values,
    load_ras,
)

__all__ = [
    "CONVENTIONS",
    "MODALITIES",
    "REGIONS",
    "BratsCase",
    "CaseCheck",
    "check_case",
    "convention_key",
    "find_cases",
    "load_case",
    "load_cases",
    "naming_scheme",
    "regions_from_labels",
    "resolve_convention",
]

MODALITIES = ("t1", "t1c", "t2", "flair")
REGIONS = ("ET", "TC", "WT")
# label values of each sub-region, per convention
CONVENTIONS: dict[str, dict[str, int]] = {
    "2018": {"NCR": 1, "ED": 2, "ET": 4},  # BraTS 2018-2021: 1 NCR/NET, 2 ED, 4 ET
    "2023": {"NCR": 1, "ED": 2, "ET": 3},  # BraTS 2023: 1 NCR, 2 ED, 3 ET
}
RELEASES = {"2018": "2018-2021", "2023": "2023"}
# the notebooks' brats_convention values (strings YAML keeps as strings) -> convention keys
SETTINGS = {"brats2021": "2018", "brats2023": "2023"}
Convention = Literal["2018", "2023", "brats2021", "brats2023", "auto"]

# file-name suffixes per modality, per naming scheme (2018-2021 first, then 2023)
_SUFFIXES = {
    "t1": ("_t1", "-t1n"),
    "t1c": ("_t1ce", "-t1c"),
    "t2": ("_t2", "-t2w"),
    "flair": ("_flair", "-t2f"),
    "seg": ("_seg", "-seg"),
}
_SCHEMES = ("2018", "2023")  # index into the suffix pairs above
_EXTS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class BratsCase:
    """One case, reoriented to RAS+.

    Attributes:
        case_id: the folder name (the data set's own case id).
        image: float32 ``(4, X, Y, Z)``: T1, T1c, T2, FLAIR.
        labels: int16 ``(X, Y, Z)`` sub-region labels as stored, or ``None`` without a label file.
        regions: bool ``(3, X, Y, Z)`` ET, TC, WT, or ``None``.
        convention: the label convention used (``"2018"`` or ``"2023"``).
        spacing_mm: voxel size along each RAS+ axis.
        affine: ``(4, 4)`` voxel -> world mm of the reoriented arrays.
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


@dataclass(frozen=True)
class CaseCheck:
    """What :func:`check_case` read: the grid, the convention and the label values."""

    case_id: str
    grid: Grid
    convention: str
    labels: tuple[int, ...] | None


def _allowed(convention: str) -> str:
    values = CONVENTIONS[convention]
    return ", ".join(f"{v} {k}" for k, v in sorted(values.items(), key=lambda kv: kv[1]))


def _setting(convention: str) -> str:
    return next(k for k, v in SETTINGS.items() if v == convention)


def convention_key(convention: object) -> str:
    """``"2018"``, ``"2023"`` or ``"auto"`` from a setting (``brats2021``, ``brats2023``,
    ``auto``, or the keys themselves, as strings or integers).

    Raises:
        ValueError: anything else.
    """
    c = str(convention).strip().lower()
    c = SETTINGS.get(c, c)
    if c not in (*CONVENTIONS, "auto"):
        raise ValueError(
            f"brats_convention must be auto, brats2021 (labels 1/2/4) or brats2023 (labels "
            f"1/2/3), got {convention!r}"
        )
    return c


def _check_values(values: set[int], convention: str) -> None:
    bad = sorted(values - {0, *CONVENTIONS[convention].values()})
    if bad:
        other = next(c for c in CONVENTIONS if c != convention)
        hint = (
            f"; set brats_convention to {_setting(other)} if the labels follow BraTS "
            f"{RELEASES[other]}"
            if not set(bad) - set(CONVENTIONS[other].values())
            else ""
        )
        raise ValueError(
            f"label values {bad} are not defined by the BraTS {RELEASES[convention]} convention "
            f"(0 background, {_allowed(convention)}){hint}"
        )


def regions_from_labels(labels: np.ndarray, convention: Convention = "auto") -> np.ndarray:
    """ET, TC and WT masks from a sub-region label map.

    Args:
        labels: integer label map ``(*spatial)`` (0 = background).
        convention: ``"2018"`` (ET = 4, BraTS 2018-2021), ``"2023"`` (ET = 3), or ``"auto"`` for a
            bare array: 2023 if a 3 occurs, else 2018 (both give the same regions when neither
            occurs; case folders resolve ``"auto"`` by their file naming instead).

    Returns:
        bool ``(3, *spatial)`` in the order :data:`REGIONS`.

    Raises:
        ValueError: an unknown convention, or a label value that the convention does not define.
    """
    lab = np.asarray(labels)
    convention = convention_key(convention)  # type: ignore[assignment]
    if convention == "auto":
        convention = "2023" if (lab == 3).any() else "2018"
    _check_values(set(np.unique(lab).tolist()), convention)
    values = CONVENTIONS[convention]
    et = lab == values["ET"]
    tc = et | (lab == values["NCR"])
    wt = tc | (lab == values["ED"])
    return np.stack([et, tc, wt])


def _find_file(folder: Path, key: str) -> Path | None:
    for suffix in _SUFFIXES[key]:
        for ext in _EXTS:
            path = folder / f"{folder.name}{suffix}{ext}"
            if path.is_file():
                return path
    return None


def naming_scheme(folder: str | os.PathLike[str]) -> str:
    """``"2018"`` for 2018-2021 file naming (``<id>_t1ce``), ``"2023"`` for ``<id>-t1c``."""
    folder = Path(folder)
    found = [
        scheme
        for scheme, suffix in zip(_SCHEMES, _SUFFIXES["t1c"], strict=True)
        if any((folder / f"{folder.name}{suffix}{ext}").is_file() for ext in _EXTS)
    ]
    if len(found) != 1:
        what = "both namings" if found else "no T1c file (<id>_t1ce or <id>-t1c)"
        raise DataError(folder, f"has {what}: cannot tell its BraTS release")
    return found[0]


def resolve_convention(folders: list[Path], convention: str = "auto") -> str:
    """The label convention of a set of case folders (``"auto"``: the releases' naming).

    Raises:
        ValueError: an unknown convention.
        DataError: under ``"auto"``, cases of both namings (names one of each).
    """
    convention = convention_key(convention)
    if convention != "auto":
        return convention
    schemes = {naming_scheme(f): f for f in folders}
    if len(schemes) > 1:
        old, new = schemes["2018"], schemes["2023"]
        raise DataError(
            new.parent,
            f"cases disagree: {old.name} uses the 2018-2021 naming (labels 1/2/4), {new.name} the "
            "2023 naming (labels 1/2/3); keep one release per folder or set brats_convention "
            "(brats2021 or brats2023)",
        )
    return next(iter(schemes), "2018")


def _case_files(folder: Path) -> dict[str, Path | None]:
    if not folder.is_dir():
        raise DataError(folder, "no such case folder")
    files = {m: _find_file(folder, m) for m in (*MODALITIES, "seg")}
    missing = [m for m in MODALITIES if files[m] is None]
    if missing:
        expected = [f"{folder.name}{_SUFFIXES[m][0]}.nii.gz or {_SUFFIXES[m][1]}" for m in missing]
        raise DataError(folder, f"missing modality {missing}: expected {expected}")
    return files


def _case_convention(folder: Path, convention: str) -> str:
    key = convention_key(convention)
    return naming_scheme(folder) if key == "auto" else key


def _label_error(path: Path, err: ValueError) -> DataError:
    return DataError(path, str(err))


def check_case(folder: str | os.PathLike[str], *, convention: Convention = "auto") -> CaseCheck:
    """Check one case as :func:`load_case` reads it, from headers and the label file only.

    Raises:
        DataError: as :func:`load_case` (a missing modality, a 4-D file, grids that differ, label
            values outside the convention), naming the file.
    """
    folder = Path(folder)
    files = _case_files(folder)
    conv = _case_convention(folder, convention)
    ref = header_grid(files["t1"])  # type: ignore[arg-type]
    for m in MODALITIES[1:]:
        check_same_grid(ref, header_grid(files[m]), what=f"{m} of {folder.name}")  # type: ignore[arg-type]
    values = None
    if files["seg"] is not None:
        found, grid = label_values(files["seg"])
        check_same_grid(ref, grid, what="label file")
        try:
            _check_values(set(found.tolist()), conv)
        except ValueError as err:
            raise _label_error(files["seg"], err) from err
        values = tuple(int(v) for v in found)
    return CaseCheck(folder.name, ref, conv, values)


def load_case(folder: str | os.PathLike[str], *, convention: Convention = "auto") -> BratsCase:
    """Read one BraTS case folder (any release's naming; see the module docstring), RAS+.

    Args:
        folder: the case folder, named after the case id.
        convention: label convention: ``"auto"`` (the case's file naming), ``"brats2021"``
            (``"2018"``), ``"brats2023"`` (``"2023"``).

    Raises:
        DataError: the folder or a modality is missing, a file is corrupt or not 3D, grids differ,
            the image holds NaN / inf, or a label value outside the convention; names the file.
    """
    folder = Path(folder)
    files = _case_files(folder)
    conv = _case_convention(folder, convention)
    vols, ref = [], None
    for m in MODALITIES:
        data, grid = load_ras(files[m])  # type: ignore[arg-type]
        if ref is None:
            ref = grid
        else:
            check_same_grid(ref, grid, what=f"{m} of {folder.name}")
        vols.append(data)
    assert ref is not None
    labels = regions = None
    if files["seg"] is not None:
        lab, grid = load_ras(files["seg"], dtype=None, finite=False)
        check_same_grid(ref, grid, what="label file")
        if np.issubdtype(lab.dtype, np.floating) and not np.all(lab == np.round(lab)):
            raise DataError(files["seg"], "label map holds non-integer values")
        labels = np.rint(lab).astype(np.int16)
        try:
            regions = regions_from_labels(labels, conv)  # type: ignore[arg-type]
        except ValueError as err:
            raise _label_error(files["seg"], err) from err
    read = tuple(p for p in (*(files[m] for m in MODALITIES), files["seg"]) if p is not None)
    return BratsCase(folder.name, np.stack(vols), labels, regions, conv, ref.spacing_mm,
                     ref.affine, read)  # fmt: skip


def find_cases(root: str | os.PathLike[str]) -> list[Path]:
    """Case folders at any depth under ``root``, sorted by case id.

    A case folder holds a T1 file named after it (``<id>_t1.nii.gz`` or ``<id>-t1n.nii.gz``);
    its own sub-folders are not searched.

    Raises:
        DataError: ``root`` is not a folder, holds no case, or two cases share an id.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder")
    cases: dict[str, Path] = {}
    for top, dirs, _ in os.walk(root, followlinks=True):
        dirs.sort()
        for name in list(dirs):
            d = Path(top) / name
            if _find_file(d, "t1") is None:
                continue
            dirs.remove(name)  # a case folder: do not descend
            if name in cases:
                raise DataError(d, f"case id {name} also at {cases[name]}: one copy per case")
            cases[name] = d
    if not cases:
        raise DataError(root, "no BraTS case folders (<id>/<id>_t1.nii.gz or <id>-t1n.nii.gz)")
    return [cases[k] for k in sorted(cases)]


def load_cases(
    root: str | os.PathLike[str],
    *,
    max_cases: int | None = None,
    convention: Convention = "auto",
) -> list[BratsCase]:
    """Read the first ``max_cases`` case folders under ``root`` (all when ``None``).

    The folder's convention is resolved over all its cases first (:func:`resolve_convention`).
    """
    folders = find_cases(root)
    conv = resolve_convention(folders, convention)
    return [load_case(f, convention=conv) for f in folders[:max_cases]]  # type: ignore[arg-type]
