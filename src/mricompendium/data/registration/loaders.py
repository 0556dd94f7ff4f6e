"""Real registration data: Learn2Reg/OASIS-style NIfTI pairs and ACDC-style cardiac frames.

* **Learn2Reg (OASIS task)**, as the challenge ships it: ``OASIS/imagesTr/OASIS_0001_0000.nii.gz``,
  ``labelsTr/OASIS_0001_0000.nii.gz`` (same names, integer label maps; ``masksTr/`` is not read)
  and ``OASIS_dataset.json`` listing pairs under ``registration_val`` as ``{"fixed":
  "./imagesTr/...", "moving": ...}``. Without the JSON, consecutive images (sorted by name) are
  paired.
* **ACDC**, as the challenge ships it: ``database/training/patientNNN/`` (and
  ``database/testing/``) with ``Info.cfg`` (``ED: <frame>``, ``ES: <frame>``),
  ``patientNNN_frameFF.nii.gz`` and ``patientNNN_frameFF_gt.nii.gz`` (labels 0 background, 1 RV,
  2 myocardium, 3 LV blood pool); ``patientNNN_4d.nii.gz`` is not read. :func:`find_acdc_patients`
  finds the patient folders at any depth.

Every volume is reoriented to RAS+ (:mod:`mricompendium.data.orientation`) and the four volumes
of a pair (two images, two label maps) must then share one grid: a pair is matched voxel by voxel,
so grids that differ (a subject stored flipped without the affine saying so, images that are not
co-registered) are refused naming both files. A :class:`VolumePair` then holds the volumes in
slicing order, ``(rows, columns, slices)``: slice ``k`` is the display slice
(:func:`~mricompendium.data.orientation.display_slice`) across the plane the notebooks register:
coronal for Learn2Reg brains (superior at the top, the subject's left -> right along the
columns, as the template slices the networks train on), and for ACDC the short-axis stack (the
axis of the thick slices wherever RAS+ puts it, :func:`.orientation.stack_axis`).

Missing files raise :class:`FileNotFoundError` naming them; unusable ones
:class:`~mricompendium.data.errors.DataError` naming the file and the problem.
:func:`slice_pairs_2d` turns volumes into the 2D pairs the notebooks register (one central slice or
every slice, cropped around the labels and resampled), in the layout of
:meth:`~mricompendium.data.registration.pairs.PairGenerator.sample`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import PLANES, Grid, check_same_grid, load_ras, stack_axis

__all__ = [
    "ACDC_LABELS",
    "VolumePair",
    "acdc_files",
    "find_acdc_patients",
    "learn2reg_files",
    "load_acdc_patient",
    "load_learn2reg_pairs",
    "slice_pairs_2d",
]

PathLike = str | os.PathLike[str]
ACDC_LABELS = {1: "RV", 2: "myocardium", 3: "LV blood pool"}
ACDC_TO_OURS = {3: 1, 2: 2}  # LV blood pool -> BLOOD, myocardium -> MYO (RV not scored)


@dataclass(frozen=True)
class VolumePair:
    """A moving/fixed pair of volumes with label maps on the same grid, in slicing order.

    Attributes:
        moving, fixed: float32 ``(rows, columns, slices)`` intensities: RAS+ volumes arranged
            so that ``[:, :, k]`` is the display slice ``k`` of the registered plane.
        moving_labels, fixed_labels: int64, the same layout.
        spacing_mm: voxel size along each of those axes (from the fixed image's affine).
        name: e.g. ``"OASIS_0439_0000->OASIS_0438_0000"`` or ``"patient001 ED->ES"``.
        unit: the unit of independence (subject pair or patient).
    """

    moving: np.ndarray
    fixed: np.ndarray
    moving_labels: np.ndarray
    fixed_labels: np.ndarray
    spacing_mm: tuple[float, ...]
    name: str
    unit: str


def _volume(path: Path, labels: bool) -> tuple[np.ndarray, Grid]:
    data, grid = load_ras(path, dtype=None if labels else np.float32, finite=not labels)
    if labels:
        if not np.issubdtype(data.dtype, np.integer):
            if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
                raise DataError(path, "label map holds non-integer values")
        data = data.astype(np.int64)
    return data, grid


def _slicing_order(vol: np.ndarray, axis: int) -> np.ndarray:
    """``(rows, columns, slices)``: display slices across RAS+ ``axis`` stacked last."""
    return np.ascontiguousarray(np.rot90(np.moveaxis(vol, axis, -1), axes=(0, 1)))


def _slicing_spacing(spacing: tuple[float, ...], axis: int) -> tuple[float, ...]:
    first, second = (a for a in range(3) if a != axis)  # rot90: rows <- second, columns <- first
    return (spacing[second], spacing[first], spacing[axis])


def _pair(
    mov: Path, fix: Path, mlab: Path, flab: Path, name: str, unit: str, plane: int | None
) -> VolumePair:
    """Load, check one grid, arrange in slicing order (``plane``: RAS+ axis, ``None``: the
    fixed image's slice stack)."""
    f, ref = _volume(fix, False)
    vols = [f]
    for path, labels in ((mov, False), (mlab, True), (flab, True)):
        data, grid = _volume(path, labels)
        check_same_grid(ref, grid, what=f"paired with {fix.name}")
        vols.append(data)
    axis = stack_axis(ref) if plane is None else plane
    f, m, ml, fl = (_slicing_order(v, axis) for v in vols)
    return VolumePair(m, f, ml, fl, _slicing_spacing(ref.spacing_mm, axis), name, unit)


def _strip(name: str) -> str:
    return name.removesuffix(".gz").removesuffix(".nii")


def _json_pairs(root: Path, split: str) -> list[tuple[str, str]] | None:
    found = sorted(root.glob("*dataset.json"))
    if not found:
        return None
    try:
        meta = json.loads(found[0].read_text())
        entries = meta[split]
        return [(Path(e["moving"]).name, Path(e["fixed"]).name) for e in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(
            found[0], f"no readable '{split}' list of moving/fixed pairs ({err})"
        ) from err


def learn2reg_files(
    root: PathLike, *, split: str = "registration_val"
) -> list[tuple[str, tuple[Path, Path, Path, Path]]]:
    """The pairs :func:`load_learn2reg_pairs` reads: ``(name, (moving, fixed, moving labels,
    fixed labels))``, from the ``*_dataset.json`` or, without it, consecutive images.

    Raises:
        FileNotFoundError: a missing folder or a listed file that does not exist (named).
        DataError: an unreadable JSON, or fewer than two images.
    """
    root = Path(root)
    images, labels = root / "imagesTr", root / "labelsTr"
    for d in (root, images, labels):
        if not d.is_dir():
            raise FileNotFoundError(f"no such folder: {d}")
    listed = _json_pairs(root, split)
    if listed is None:
        names = sorted(p.name for p in images.glob("*.nii*"))
        if len(names) < 2:
            raise DataError(images, "needs at least two NIfTI images to form a pair")
        listed = list(zip(names[1:], names[:-1], strict=True))
    out = []
    for mov, fix in listed:
        files = (images / mov, images / fix, labels / mov, labels / fix)
        for p in files:
            if not p.is_file():
                raise FileNotFoundError(f"no such file: {p}")
        out.append((f"{_strip(mov)}->{_strip(fix)}", files))
    return out


def load_learn2reg_pairs(
    root: PathLike, *, split: str = "registration_val", max_pairs: int | None = None
) -> list[VolumePair]:
    """Learn2Reg/OASIS-style pairs (see the module docstring), in coronal slicing order."""
    coronal = PLANES["coronal"]
    return [
        _pair(*files, name=name, unit=name, plane=coronal)
        for name, files in learn2reg_files(root, split=split)[:max_pairs]
    ]


def _read_info(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    info = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    for key in ("ED", "ES"):
        if key not in info or not info[key].isdigit():
            raise DataError(path, f"no integer '{key}:' frame number")
    return info


def acdc_files(folder: PathLike) -> tuple[Path, Path, Path, Path]:
    """One ACDC patient's ED image, ES image, ED labels and ES labels (frames from Info.cfg).

    Raises:
        FileNotFoundError: a missing folder, ``Info.cfg`` or frame (named).
        DataError: an ``Info.cfg`` without integer ``ED`` / ``ES`` frames.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    info = _read_info(folder / "Info.cfg")
    pid = folder.name
    out = []
    for key, gt in (("ED", ""), ("ES", ""), ("ED", "_gt"), ("ES", "_gt")):
        p = folder / f"{pid}_frame{int(info[key]):02d}{gt}.nii.gz"
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        out.append(p)
    return out[0], out[1], out[2], out[3]


def load_acdc_patient(folder: PathLike) -> VolumePair:
    """One ACDC patient's ED (moving) -> ES (fixed) pair, labels mapped to 1 LV blood, 2 myo."""
    folder = Path(folder)
    ed, es, ed_gt, es_gt = acdc_files(folder)
    pid = folder.name
    pair = _pair(ed, es, ed_gt, es_gt, name=f"{pid} ED->ES", unit=pid, plane=None)  # the stack
    for lab, p in ((pair.moving_labels, ed_gt), (pair.fixed_labels, es_gt)):
        if lab.min() < 0 or lab.max() > 3:
            raise DataError(p, f"ACDC labels must lie in 0..3, found {lab.min()}..{lab.max()}")
    remap = np.zeros(4, dtype=np.int64)
    for acdc, ours in ACDC_TO_OURS.items():
        remap[acdc] = ours
    return VolumePair(
        pair.moving,
        pair.fixed,
        remap[pair.moving_labels],
        remap[pair.fixed_labels],
        pair.spacing_mm,
        pair.name,
        pair.unit,
    )


def find_acdc_patients(root: PathLike) -> list[Path]:
    """ACDC patient folders (``patientNNN/`` holding ``Info.cfg``) at any depth, sorted by name.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DataError: no patient folder, or two with the same name.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found: dict[str, Path] = {}
    for info in sorted(root.rglob("Info.cfg")):
        d = info.parent
        if d.name in found:
            raise DataError(d, f"patient {d.name} also at {found[d.name]}: one copy per patient")
        found[d.name] = d
    if not found:
        raise DataError(root, "no ACDC patient folder (patientNNN/Info.cfg) under it")
    return [found[k] for k in sorted(found)]


def _fit(x: np.ndarray, box: tuple[slice, slice], size: int, order: int) -> np.ndarray:
    crop = x[box]
    zoom = [size / s for s in crop.shape]
    out = ndimage.zoom(crop, zoom, order=order, grid_mode=True, mode="nearest")
    return out[:size, :size]


def slice_pairs_2d(
    pairs: list[VolumePair],
    size: int,
    *,
    axis: int = 2,
    slices: str = "central",
    require: tuple[int, ...] = (),
) -> dict:
    """2D pairs from volumes: ``slices="central"`` (the labelled centre) or ``"all"`` labelled.

    With ``require``, only slices where both label maps hold every label in ``require`` count
    (e.g. the myocardium at both frames, for a myocardial measure); a volume with none is an
    error that names it.

    Each slice is cropped to the square around both label maps (plus 10 %), resampled to
    ``size``, and divided by its 99th percentile. Returns the keys of
    :meth:`PairGenerator.sample` (no ``truth``) plus ``names``, ``units`` and ``spacing_mm``
    (per pair, in-plane, after resampling).
    """
    out: dict[str, list] = {
        k: []
        for k in (
            "moving",
            "fixed",
            "moving_labels",
            "fixed_labels",
            "names",
            "units",
            "spacing_mm",
        )
    }
    for p in pairs:
        lab = np.moveaxis((p.fixed_labels > 0) | (p.moving_labels > 0), axis, 0)
        ks = np.flatnonzero(lab.any((1, 2)))
        if len(ks) == 0:
            raise DataError(p.name, "label maps are empty")
        for r in require:
            both = [
                np.moveaxis(m == r, axis, 0).any((1, 2)) for m in (p.moving_labels, p.fixed_labels)
            ]
            ks = ks[(both[0] & both[1])[ks]]
        if len(ks) == 0:
            raise DataError(p.name, f"no slice holds label(s) {list(require)} in both frames")
        ks = ks[len(ks) // 2 : len(ks) // 2 + 1] if slices == "central" else ks
        for k in ks:
            idx = np.argwhere(lab[k])
            lo, hi = idx.min(0), idx.max(0) + 1
            side = int((hi - lo).max() * 1.1) + 2
            c = (lo + hi) // 2
            vols = [
                np.pad(np.moveaxis(v, axis, 0)[k], side)
                for v in (p.moving, p.fixed, p.moving_labels, p.fixed_labels)
            ]
            box = tuple(
                slice(int(ci - side // 2 + side), int(ci - side // 2 + 2 * side)) for ci in c
            )
            for key, v, order in zip(
                ("moving", "fixed", "moving_labels", "fixed_labels"),
                vols,
                (1, 1, 0, 0),
                strict=True,
            ):
                r = _fit(v, box, size, order)
                if order == 1:
                    r = np.clip(r / max(np.percentile(r, 99), 1e-6), 0, 1.5).astype(np.float32)
                out[key].append(r)
            inplane = [s for i, s in enumerate(p.spacing_mm) if i != axis]
            out["names"].append(f"{p.name} slice {int(k)}")
            out["units"].append(p.unit)
            out["spacing_mm"].append(float(np.mean(inplane)) * side / size)
    batch = {
        k: torch.from_numpy(np.stack(out[k]))[:, None]
        for k in ("moving", "fixed", "moving_labels", "fixed_labels")
    }
    batch["fixed_mask"] = batch["fixed_labels"] > 0
    return {**batch, "names": out["names"], "units": out["units"], "spacing_mm": out["spacing_mm"]}
