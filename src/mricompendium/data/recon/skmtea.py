"""SKM-TEA raw-data track (qDESS knee k-space, v1.0.0), read with h5py and nibabel.

The published layout (``DATASET.md``, ``skm_tea/data/register.py`` and ``dataset.py`` of
github.com/StanfordMIMI/skm-tea, read for this module):

* ``files_recon_calib-24/<file_name>.h5`` per scan: ``kspace`` ``(Nx, Ny, Nz, echoes, coils)``
  hybrid k-space (the readout ``x`` already inverse-Fourier transformed; 2D slices are the
  ``(ky, kz)`` planes, one per ``x``), ``maps`` ``(Nx, Ny, Nz, coils, maps)`` and ``target``
  ``(Nx, Ny, Nz, echoes, maps)``, all complex64, 2 echoes, 1 map, 8 or 16 coils; test-time masks
  ``masks/poisson_<R>x`` (e.g. ``masks/poisson_6.0x``);
* ``segmentation_masks/raw-data-track/<scan_id>.nii.gz``: a label map (0 background, 1 patellar
  cartilage, 2 femoral cartilage, 3-4 tibial cartilage medial/lateral, 5-6 meniscus
  medial/lateral), indexed by ``x`` first like the k-space;
* ``annotations/<version>/{train,val,test}.json``: COCO-like, the scans of a split under
  ``images`` (``file_name``, ``scan_id``, ``subject_id``, ``matrix_shape`` ...).

:func:`write_skmtea_scan` / :func:`write_skmtea_split` write that layout for tests;
:func:`load_skmtea` gives the slices of a split as a
:class:`~mricompendium.data.recon.frames.FrameKspaceSet` (the two echoes as frames, the central
``size x size`` of each slice's k-space, one unit per subject) with the cartilage as the region.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import open_h5
from mricompendium.data.recon.frames import FrameKspaceSet

__all__ = [
    "describe_skmtea",
    "CARTILAGE",
    "RECON_DIR",
    "SEG_DIR",
    "load_skmtea",
    "read_scan",
    "read_split",
    "write_skmtea_scan",
    "write_skmtea_split",
]

RECON_DIR = "files_recon_calib-24"
SEG_DIR = "segmentation_masks/raw-data-track"
CARTILAGE = (1, 2, 3, 4)  # patellar, femoral, tibial medial, tibial lateral


def write_skmtea_scan(
    root: str | os.PathLike[str],
    scan_id: str,
    *,
    kspace: np.ndarray,
    maps: np.ndarray,
    target: np.ndarray,
    seg: np.ndarray,
    masks: dict[float, np.ndarray] | None = None,
) -> None:
    """Write one scan's ``<scan_id>.h5`` and ``<scan_id>.nii.gz`` in the published layout."""
    import h5py
    import nibabel as nib

    r = Path(root)
    (r / RECON_DIR).mkdir(parents=True, exist_ok=True)
    (r / SEG_DIR).mkdir(parents=True, exist_ok=True)
    with h5py.File(r / RECON_DIR / f"{scan_id}.h5", "w") as f:
        f["kspace"] = np.asarray(kspace, np.complex64)
        f["maps"] = np.asarray(maps, np.complex64)
        f["target"] = np.asarray(target, np.complex64)
        for acc, m in (masks or {}).items():
            f[f"masks/poisson_{float(acc)}x"] = np.asarray(m, np.float32)
    nib.save(nib.Nifti1Image(np.asarray(seg, np.uint8), np.eye(4)),
             str(r / SEG_DIR / f"{scan_id}.nii.gz"))  # fmt: skip


def write_skmtea_split(
    root: str | os.PathLike[str], split: str, scans: list[dict[str, Any]], *,
    version: str = "v1.0.0",
) -> Path:  # fmt: skip
    """Write ``annotations/<version>/<split>.json`` listing ``scans`` under ``images``."""
    path = Path(root) / "annotations" / version / f"{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [{"id": i + 1, "num_echoes": 2, **s} for i, s in enumerate(scans)]
    path.write_text(json.dumps({"info": {"version": version}, "categories": [],
                                "images": images, "annotations": []}))  # fmt: skip
    return path


def read_split(root: str | os.PathLike[str], split: str, version: str = "v1.0.0") -> list[dict]:
    """The ``images`` entries of a split's annotation file."""
    path = Path(root) / "annotations" / version / f"{split}.json"
    if not path.is_file():
        raise DataError(path, "annotation file not found")
    try:
        images = json.loads(path.read_text())["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(path, f"not an annotation file with 'images' ({e})") from e
    for d in images:
        if not {"file_name", "scan_id"} <= set(d):
            raise DataError(path, f"an image entry lacks file_name or scan_id: {d}")
    return images


def read_scan(
    path: str | os.PathLike[str], *, slices: list[int] | None = None
) -> dict[str, np.ndarray]:
    """``kspace`` ``(S, ky, kz, 2, C)`` and ``target`` ``(S, ky, kz, 2)`` of the ``x`` slices
    ``slices`` (default all), checked against the published layout."""
    p = Path(path)
    with open_h5(p) as f:
        for key in ("kspace", "maps", "target"):
            if key not in f:
                raise DataError(p, f"has no dataset {key!r} (datasets: {sorted(f.keys())})")
        k, mp, tg = f["kspace"], f["maps"], f["target"]
        if k.ndim != 5 or k.shape[3] != 2 or not np.issubdtype(k.dtype, np.complexfloating):
            raise DataError(p, f"kspace must be complex (x, ky, kz, 2 echoes, coils), got "
                               f"{k.dtype} {k.shape}")  # fmt: skip
        if mp.ndim != 5 or mp.shape[:4] != (*k.shape[:3], k.shape[4]):
            raise DataError(p, f"maps {mp.shape} do not match kspace {k.shape}")
        if tg.ndim != 5 or tg.shape[:4] != k.shape[:4]:
            raise DataError(p, f"target {tg.shape} does not match kspace {k.shape}")
        sel = list(range(k.shape[0])) if slices is None else sorted(slices)
        if sel and not 0 <= min(sel) <= max(sel) < k.shape[0]:
            raise DataError(p, f"slices outside [0, {k.shape[0]})")
        kspace, target = np.asarray(k[sel]), np.asarray(tg[sel])[..., 0]
    if not (np.isfinite(kspace).all() and np.isfinite(target).all()):
        raise DataError(p, "kspace or target holds NaN or inf")
    return {"kspace": kspace.astype(np.complex64), "target": target.astype(np.complex64)}


def _read_seg(path: Path, slices: list[int], shape: tuple[int, ...]) -> np.ndarray:
    import nibabel as nib

    try:
        seg = np.asarray(nib.load(str(path)).dataobj)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(path, f"not a readable NIfTI file ({e})") from e
    if seg.shape != shape:
        raise DataError(path, f"segmentation {seg.shape} does not match the scan {shape}")
    return seg[slices]


def _crop(k: np.ndarray, size: int) -> np.ndarray:
    """``(..., ky, kz)`` -> the central ``size x size`` samples."""
    h, w = k.shape[-2:]
    if size > min(h, w):
        raise DataError("SKM-TEA slice", f"size {size} exceeds the k-space plane ({h} x {w})")
    r0, c0 = h // 2 - size // 2, w // 2 - size // 2
    return k[..., r0 : r0 + size, c0 : c0 + size]


def load_skmtea(
    root: str | os.PathLike[str],
    *,
    split: str,
    size: int,
    version: str = "v1.0.0",
    max_scans: int | None = None,
    max_slices: int = 8,
    device: Any = "cpu",
) -> FrameKspaceSet:
    """Central ``x`` slices of a split's scans: echoes as frames, unit = subject, region = the
    cartilage (labels 1-4) resized to ``size x size`` (cases without cartilage are skipped)."""
    r = Path(root)
    images = read_split(r, split, version)[:max_scans]
    kspace, units, regions = [], [], []
    for d in images:
        path = r / RECON_DIR / d["file_name"]
        with open_h5(path) as f:
            if "kspace" not in f:
                raise DataError(path, "has no dataset 'kspace'")
            shape = tuple(f["kspace"].shape)
        start = max(0, shape[0] // 2 - max_slices // 2)
        sel = list(range(start, min(shape[0], start + max_slices)))
        scan = read_scan(path, slices=sel)
        seg = _read_seg(r / SEG_DIR / f"{d['scan_id']}.nii.gz", sel, shape[:3])
        cart = np.isin(seg, CARTILAGE).astype(np.float32)
        roi = _resize_rect(cart, size) >= 0.5
        k = np.moveaxis(scan["kspace"], (3, 4), (2, 1))  # (S, C, 2, ky, kz)
        for j in range(len(sel)):
            if roi[j].any():
                kspace.append(_crop(k[j], size))
                units.append(str(d.get("subject_id", d["scan_id"])))
                regions.append(roi[j])
    if not kspace:
        raise DataError(r, f"no {split} slice with cartilage in the first {len(images)} scans")
    return FrameKspaceSet(np.stack(kspace), units, regions=np.stack(regions), device=device)


def _resize_rect(x: np.ndarray, size: int) -> np.ndarray:
    """``(N, h, w)`` -> ``(N, size, size)`` by linear interpolation (the planes may be
    rectangular: the cropped k-space keeps the field of view with fewer, anisotropic pixels)."""
    from scipy import ndimage

    _, h, w = x.shape
    out = ndimage.zoom(x, (1, size / h, size / w), order=1, grid_mode=True, mode="nearest")
    return out[:, :size, :size]


def describe_skmtea(root: str | os.PathLike[str], *, splits: tuple[str, ...] = ("train", "val",
                    "test"), version: str = "v1.0.0") -> str:  # fmt: skip
    """Check every scan of ``splits``: its HDF5 keys and shapes and its segmentation's header
    (for ``--dry``); one line about the data."""
    import nibabel as nib

    r = Path(root)
    counts = {}
    for split in splits:
        images = read_split(r, split, version)
        for d in images:
            path = r / RECON_DIR / d["file_name"]
            with open_h5(path) as f:
                if "kspace" not in f:
                    raise DataError(path, "has no dataset 'kspace'")
                shape = tuple(f["kspace"].shape)
            read_scan(path, slices=[shape[0] // 2])
            seg = r / SEG_DIR / f"{d['scan_id']}.nii.gz"
            try:
                seg_shape = tuple(nib.load(str(seg)).shape)
            except (OSError, ValueError, EOFError) as e:
                raise DataError(seg, f"not a readable NIfTI file ({e})") from e
            if seg_shape != shape[:3]:
                raise DataError(seg, f"segmentation {seg_shape} does not match the scan {shape}")
        counts[split] = len(images)
    return "SKM-TEA raw data: " + ", ".join(f"{k} {v} scans" for k, v in counts.items())
