"""CMRxRecon 2023 cine k-space (MATLAB v7.3 ``.mat`` = HDF5), read with h5py.

The published layout (``ChallengeDataFormat/Format_cine.txt`` and ``loadFun.py`` of
github.com/CmrxRecon/CMRxRecon, read for this module):

* tree ``MultiCoil/Cine/{TrainingSet,ValidationSet}/{FullSample,AccFactor04,AccFactor08,
  AccFactor10}/P<nnn>/cine_{sax,lax}.mat`` and ``cine_{sax,lax}_mask.mat``;
* variables ``kspace_full``, ``kspace_sub04``, ``kspace_sub08``, ``kspace_sub10`` (single coil:
  ``kspace_single_full``, ``kspace_single_sub04`` ...), complex k-space with MATLAB dimensions
  ``(kx, ky, sc, sz, t)`` (single coil ``(kx, ky, sz, t)``): readout, phase encode, coils
  (compressed to 10), slices, time frames; masks ``mask04``, ``mask08``, ``mask10`` of
  dimensions ``(kx, ky)``, the same for every coil, slice and frame; the central 24 ``ky`` lines
  are always fully sampled;
* in the HDF5 file MATLAB stores arrays column-major, so h5py sees the dimensions reversed
  (``(t, sz, sc, ky, kx)``), and complex values as a compound type with fields ``real`` and
  ``imag`` (``loadFun.py`` transposes with ``[4, 3, 2, 1, 0]`` and adds ``real + 1j imag``).

:func:`write_cine_mat` writes that layout (a 512-byte MATLAB header block, reversed dimensions,
compound complex) for tests and examples. :func:`load_cmrxrecon` turns fully sampled files into a
:class:`~mricompendium.data.recon.frames.FrameKspaceSet` on a smaller grid (readout oversampling
removed, then the central ``size x size`` k-space), one case per slice, one unit per patient.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import open_h5
from mricompendium.data.recon.frames import FrameKspaceSet

__all__ = [
    "describe_cmrxrecon",
    "ACS_LINES",
    "KSPACE_KEYS",
    "MASK_KEYS",
    "cine_files",
    "load_cmrxrecon",
    "prepare_cine_slice",
    "read_cine_kspace",
    "read_cine_mask",
    "write_cine_mat",
]

ACS_LINES = 24
KSPACE_KEYS = {0: "kspace_full", 4: "kspace_sub04", 8: "kspace_sub08", 10: "kspace_sub10"}
MASK_KEYS = {4: "mask04", 8: "mask08", 10: "mask10"}
_HEADER = (
    b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
    b"HDF5 schema 1.00 ."
)


def write_cine_mat(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as MATLAB v7.3 does: HDF5 with a 512-byte header block, dimensions reversed,
    complex arrays as ``{real, imag}`` compound ``float32``; real arrays as ``float64`` (masks)."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, a in arrays.items():
            a = np.asarray(a)
            data = np.ascontiguousarray(a.transpose(tuple(range(a.ndim))[::-1]))
            if np.iscomplexobj(data):
                comp = np.empty(data.shape, dtype=[("real", "<f4"), ("imag", "<f4")])
                comp["real"], comp["imag"] = data.real, data.imag
                ds = f.create_dataset(name, data=comp)
                ds.attrs["MATLAB_class"] = np.bytes_("single")
            else:
                ds = f.create_dataset(name, data=data.astype(np.float64))
                ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as f:
        f.write(_HEADER.ljust(116, b" ")[:116] + b"\x00" * 8 + b"\x00\x02IM")


def _dataset(f: Any, key: str, path: Path) -> Any:
    if key not in f:
        raise DataError(path, f"has no variable {key!r} (variables: {sorted(f.keys())})")
    return f[key]


def read_cine_kspace(
    path: str | os.PathLike[str], key: str = "kspace_full", *, slice_index: int | None = None
) -> np.ndarray:
    """Complex64 k-space in MATLAB's dimensions ``(kx, ky, sc, sz, t)`` (``sz`` of length 1
    with ``slice_index``); single-coil files ``(kx, ky, sz, t)`` come back with ``sc = 1``."""
    p = Path(path)
    with open_h5(p) as f:
        ds = _dataset(f, key, p)
        names = ds.dtype.names or ()
        if not {"real", "imag"} <= set(names):
            raise DataError(p, f"{key!r} is not complex (no real/imag fields; dtype {ds.dtype})")
        if ds.ndim not in (4, 5):
            raise DataError(p, f"{key!r} has {ds.ndim} dimensions, expected (kx, ky, sc, sz, t) "
                               "or (kx, ky, sz, t)")  # fmt: skip
        sz_axis = 1  # h5py order (t, sz, [sc,] ky, kx)
        if slice_index is not None and not 0 <= slice_index < ds.shape[sz_axis]:
            raise DataError(p, f"slice {slice_index} outside [0, {ds.shape[sz_axis]})")
        raw = ds[:, slice_index : slice_index + 1] if slice_index is not None else ds[()]
    k = (raw["real"] + 1j * raw["imag"]).astype(np.complex64)
    k = k.transpose(tuple(range(k.ndim))[::-1])  # -> (kx, ky, [sc,] sz, t)
    if k.ndim == 4:
        k = k[:, :, None]
    if not np.isfinite(k).all():
        raise DataError(p, f"{key!r} holds NaN or inf")
    return k


def read_cine_mask(path: str | os.PathLike[str], key: str, *, acs: int = ACS_LINES) -> np.ndarray:
    """A mask ``(kx, ky)`` of 0/1 (float32); its central ``acs`` ky lines must be sampled."""
    p = Path(path)
    with open_h5(p) as f:
        m = np.asarray(_dataset(f, key, p)[()])
    if m.ndim != 2:
        raise DataError(p, f"{key!r} has shape {m.shape}, expected (kx, ky)")
    m = m.T.astype(np.float32)
    if not np.isin(m, (0.0, 1.0)).all():
        raise DataError(p, f"{key!r} is not binary")
    ky = m.shape[1]
    centre = slice((ky - acs + 1) // 2, (ky - acs + 1) // 2 + acs)
    if acs and not (m[:, centre] == 1).all():
        raise DataError(p, f"{key!r}: the central {acs} ky lines are not all sampled")
    return m


def prepare_cine_slice(k: np.ndarray, size: int, *, oversampled: bool = True) -> np.ndarray:
    """One slice ``(kx, ky, sc, t)`` -> ``(sc, t, size, size)``: readout oversampling removed
    (the central half of the image along x), then the central ``size x size`` of k-space."""
    kx, ky = k.shape[:2]
    k = np.moveaxis(k, (0, 1), (-2, -1))  # (sc, t, kx, ky)
    if oversampled:
        img = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(k, axes=-2), axis=-2, norm="ortho"),
                              axes=-2)  # fmt: skip
        img = img[..., kx // 4 : kx // 4 + kx // 2, :]
        k = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(img, axes=-2), axis=-2, norm="ortho"),
                            axes=-2)  # fmt: skip
    h, w = k.shape[-2:]
    if size > min(h, w):
        raise DataError("cine slice", f"size {size} exceeds the k-space ({h} x {w})")
    r0, c0 = h // 2 - size // 2, w // 2 - size // 2
    return np.ascontiguousarray(k[..., r0 : r0 + size, c0 : c0 + size]).astype(np.complex64)


def cine_files(root: str | os.PathLike[str], view: str = "sax") -> list[Path]:
    """Fully sampled ``FullSample/P<nnn>/cine_<view>.mat`` files under ``root`` (any level of
    the published tree, or a folder of patient folders), sorted by patient."""
    if view not in ("sax", "lax"):
        raise ValueError(f"view must be 'sax' or 'lax', got {view!r}")
    r = Path(root)
    if r.is_file():
        return [r]
    files = sorted(p for p in r.rglob(f"cine_{view}.mat")
                   if "FullSample" in p.parts or r.name == "FullSample")  # fmt: skip
    if not files:
        files = sorted(r.glob(f"P*/cine_{view}.mat"))
    if not files:
        raise DataError(r, f"no FullSample/P*/cine_{view}.mat files")
    return files


def load_cmrxrecon(
    root: str | os.PathLike[str],
    *,
    size: int,
    view: str = "sax",
    max_patients: int | None = None,
    max_slices: int | None = None,
    device: Any = "cpu",
) -> FrameKspaceSet:
    """Fully sampled CMRxRecon cine as a multi-frame set: one case per slice (at most
    ``max_slices`` per patient, the central ones), unit = patient folder."""
    files = cine_files(root, view)[:max_patients]
    kspace, units = [], []
    for path in files:
        with open_h5(path) as f:
            n_slices = _dataset(f, KSPACE_KEYS[0], path).shape[1]
        keep = range(n_slices)
        if max_slices is not None and n_slices > max_slices:
            start = (n_slices - max_slices) // 2
            keep = range(start, start + max_slices)
        patient = path.parent.name if re.fullmatch(r"P\d+", path.parent.name) else path.stem
        for s in keep:
            k = read_cine_kspace(path, KSPACE_KEYS[0], slice_index=s)[:, :, :, 0]
            kspace.append(prepare_cine_slice(k, size))
            units.append(patient)
    shapes = {k.shape for k in kspace}
    if len(shapes) != 1:
        raise DataError(root, f"slices differ in coils or frames: {sorted(shapes)}")
    return FrameKspaceSet(np.stack(kspace), units, device=device)


def describe_cmrxrecon(
    root: str | os.PathLike[str], *, min_patients: int, view: str = "sax"
) -> str:
    """Check every fully sampled file's ``kspace_full`` header (complex, 5 dimensions) and the
    patient count a notebook needs; one line about the data (for ``--dry``)."""
    files = cine_files(root, view)
    shapes = []
    for path in files:
        with open_h5(path) as f:
            ds = _dataset(f, KSPACE_KEYS[0], path)
            if not {"real", "imag"} <= set(ds.dtype.names or ()):
                raise DataError(path, f"{KSPACE_KEYS[0]!r} is not complex (no real/imag fields)")
            if ds.ndim != 5:
                raise DataError(path, f"{KSPACE_KEYS[0]!r} has {ds.ndim} dimensions, expected 5")
            shapes.append(tuple(ds.shape[::-1]))
    patients = {p.parent.name for p in files}
    if len(patients) < min_patients:
        raise DataError(root, f"{len(patients)} patients, the notebook needs {min_patients}")
    coils = sorted({s[2] for s in shapes})
    frames = sorted({s[4] for s in shapes})
    return (f"CMRxRecon cine: {len(files)} files of {len(patients)} patients, coils {coils}, "
            f"frames {frames}")  # fmt: skip
