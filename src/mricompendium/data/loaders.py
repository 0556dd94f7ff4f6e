"""Loaders for real MRI formats: NIfTI, DICOM, fastMRI HDF5 and Calgary-Campinas HDF5.

This is how users plug real data in. Every loader raises :class:`FileNotFoundError` naming the path
when it does not exist and :class:`~mricompendium.data.errors.DataError` naming the file and the
problem when the file is corrupt, truncated or not what it should be.

K-space layouts follow the package: complex, last two dimensions ``(H, W)`` = (readout,
phase encode), centred so that :func:`mricompendium.physics.fft.ifft2c` gives the image.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium.data.errors import DataError

PathLike = str | os.PathLike[str]
ISMRMRD_NS = "{http://www.ismrm.org/ISMRMRD}"
FASTMRI_TARGETS = ("reconstruction_rss", "reconstruction_esc")


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if not p.is_file():
        raise DataError(p, "is not a regular file")
    return p


NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NIFTI_ERRORS = (OSError, EOFError, zlib.error, ValueError)


def is_nifti(path: PathLike) -> bool:
    """Whether ``path``'s name ends in ``.nii`` or ``.nii.gz``."""
    return Path(path).name.lower().endswith(NIFTI_SUFFIXES)


def nifti_header(
    path: PathLike, *, ndim: tuple[int, ...] = (2, 3, 4)
) -> tuple[tuple[int, ...], str]:
    """Shape and orientation (axis codes such as ``"RAS"``, ``"PIR"``) read from the header only.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a NIfTI file, or wrong dimensionality.
    """
    import nibabel as nib

    p = _existing_file(path)
    try:
        img = nib.load(p)
    except (nib.filebasedimages.ImageFileError, *_NIFTI_ERRORS) as e:
        raise DataError(p, f"not a readable NIfTI image ({type(e).__name__}: {e})") from e
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise DataError(p, f"is a {type(img).__name__}, not a NIfTI image")
    if len(img.shape) not in ndim:
        raise DataError(p, f"has {len(img.shape)} dimensions {img.shape}, expected one of {ndim}")
    return tuple(img.shape), "".join(nib.aff2axcodes(img.affine))


def load_nifti(
    path: PathLike,
    *,
    dtype: np.dtype | type | None = np.float32,
    ndim: tuple[int, ...] = (2, 3, 4),
    canonical: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI-1/2 image (``.nii`` or ``.nii.gz``) with nibabel.

    Args:
        path: the file.
        dtype: output dtype (scaling ``scl_slope``/``scl_inter`` applied); ``None`` keeps the
            stored type, which suits label maps.
        ndim: accepted numbers of dimensions.
        canonical: reorder and flip the voxel axes to the closest RAS+ orientation
            (:func:`nibabel.as_closest_canonical`): axis 0 left -> right, 1 posterior ->
            anterior, 2 inferior -> superior, whatever order the file stores them in.

    Returns:
        ``(data, affine)``: the array in the file's voxel order ``(X, Y, Z[, T])`` (RAS+ with
        ``canonical``) and the ``(4, 4)`` float64 voxel-to-world (RAS mm) affine of that array.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a readable NIfTI file (garbage, truncated) or wrong dimensionality.
    """
    import nibabel as nib

    p = _existing_file(path)
    try:
        img = nib.load(p)
        if canonical and isinstance(img, nib.Nifti1Image | nib.Nifti2Image) and img.ndim >= 3:
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)
    except (nib.filebasedimages.ImageFileError, *_NIFTI_ERRORS) as e:
        raise DataError(p, f"not a readable NIfTI image ({type(e).__name__}: {e})") from e
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise DataError(p, f"is a {type(img).__name__}, not a NIfTI image")
    if data.ndim not in ndim:
        raise DataError(p, f"has {data.ndim} dimensions {data.shape}, expected one of {ndim}")
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return data, np.asarray(img.affine, dtype=np.float64)


def load_dicom(path: PathLike) -> np.ndarray:
    """Load the pixel data of a single-frame or multi-frame DICOM file with pydicom.

    The modality rescale (``RescaleSlope``, ``RescaleIntercept``) is applied.

    Returns:
        float32 ``(rows, cols)`` or ``(frames, rows, cols)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a DICOM file, no pixel data, or pixel data that cannot be decoded.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = _existing_file(path)
    try:
        ds = pydicom.dcmread(p)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as e:
        raise DataError(p, f"not a readable DICOM file ({type(e).__name__}: {e})") from e
    if "PixelData" not in ds:
        raise DataError(p, "DICOM file has no pixel data")
    try:
        pixels = pydicom.pixels.apply_rescale(ds.pixel_array, ds)
    except Exception as e:  # pydicom raises many types for broken pixel data
        raise DataError(p, f"cannot decode the pixel data ({type(e).__name__}: {e})") from e
    return np.asarray(pixels, dtype=np.float32)


@dataclass
class FastMRIVolume:
    """One fastMRI volume (Zbontar et al., 2018, arXiv:1811.08839).

    Attributes:
        kspace: complex64 ``(S, C, H, W)`` multi-coil or ``(S, H, W)`` single-coil, centred.
        target: float32 ``(S, h, w)`` reference (``reconstruction_rss`` for multi-coil,
            ``reconstruction_esc`` for single-coil), or ``None`` (test and challenge sets).
        target_key: which dataset ``target`` came from, or ``None``.
        mask: float32 ``(W,)`` sampling mask of the phase-encode columns (test sets), or ``None``.
        encoding_size: ``(x, y, z)`` encoded matrix from the ISMRMRD header.
        recon_size: ``(x, y, z)`` reconstruction matrix from the ISMRMRD header.
        padding: ``(left, right)`` phase-encode columns that hold data, from the header's
            ``kspace_encoding_step_1`` limits (columns outside were never acquired).
        attrs: the file's HDF5 attributes (``acquisition``, ``max``, ``norm``, ...).
    """

    kspace: np.ndarray
    target: np.ndarray | None
    target_key: str | None
    mask: np.ndarray | None
    encoding_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    padding: tuple[int, int]
    attrs: dict[str, Any] = field(default_factory=dict)


def _open_h5(p: Path) -> Any:
    import h5py

    try:
        return h5py.File(p, "r")
    except OSError as e:
        raise DataError(p, f"not a readable HDF5 file ({e})") from e


def _read(f: Any, key: str, p: Path, index: slice) -> np.ndarray:
    if key not in f:
        raise DataError(p, f"has no dataset {key!r} (datasets: {sorted(f.keys())})")
    try:
        return np.asarray(f[key][index])
    except (OSError, ValueError, TypeError) as e:
        raise DataError(p, f"cannot read dataset {key!r} ({e})") from e


def load_fastmri_h5(path: PathLike, *, slices: slice | None = None) -> FastMRIVolume:
    """Load a fastMRI HDF5 volume (knee or brain, single- or multi-coil).

    Args:
        path: the ``.h5`` file.
        slices: read only these slices (``slice(10, 12)``), default all.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: truncated or non-HDF5 file, missing ``kspace`` or ``ismrmrd_header``,
            unparsable header, non-finite k-space or a mask that does not fit it.
    """
    p = _existing_file(path)
    index = slices if slices is not None else slice(None)
    with _open_h5(p) as f:
        kspace = _read(f, "kspace", p, index)
        header = _read(f, "ismrmrd_header", p, ())
        target_key = next((k for k in FASTMRI_TARGETS if k in f), None)
        target = _read(f, target_key, p, index).astype(np.float32) if target_key else None
        mask = _read(f, "mask", p, ()).astype(np.float32) if "mask" in f else None
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
    if not np.iscomplexobj(kspace) or kspace.ndim not in (3, 4):
        raise DataError(
            p, f"'kspace' must be complex (S, [C,] H, W), got {kspace.dtype} {kspace.shape}"
        )
    kspace = kspace.astype(np.complex64, copy=False)
    check_kspace(kspace, mask, source=str(p))
    enc, rec, padding = parse_ismrmrd_header(
        header.item() if header.ndim == 0 else header, source=p
    )
    return FastMRIVolume(kspace, target, target_key, mask, enc, rec, padding, attrs)


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v.item() if isinstance(v, np.generic) else v


def parse_ismrmrd_header(
    xml: bytes | str | np.ndarray, *, source: PathLike = "ismrmrd_header"
) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int]]:
    """Encoding size, recon size and acquired phase-encode columns from an ISMRMRD XML header.

    Returns:
        ``(encoding_size, recon_size, (padding_left, padding_right))``; as fastMRI,
        ``padding_left = enc_y // 2 - center`` and ``padding_right = padding_left + maximum + 1``
        from ``encodingLimits/kspace_encoding_step_1``.
    """
    text = bytes(xml) if isinstance(xml, np.ndarray) else xml
    try:
        root = ET.fromstring(text)
        enc = root.find(f"{ISMRMRD_NS}encoding")
        if enc is None:
            raise ValueError("no <encoding> element")

        def size(space: str) -> tuple[int, int, int]:
            base = f"{ISMRMRD_NS}{space}/{ISMRMRD_NS}matrixSize/{ISMRMRD_NS}"
            return tuple(int(enc.findtext(base + a)) for a in "xyz")  # type: ignore[return-value]

        encoding, recon = size("encodedSpace"), size("reconSpace")
        step = f"{ISMRMRD_NS}encodingLimits/{ISMRMRD_NS}kspace_encoding_step_1/{ISMRMRD_NS}"
        center, maximum = int(enc.findtext(step + "center")), int(enc.findtext(step + "maximum"))
    except (ET.ParseError, ValueError, TypeError) as e:
        raise DataError(source, f"cannot parse the ISMRMRD header ({e})") from e
    left = encoding[1] // 2 - center
    return encoding, recon, (left, left + maximum + 1)


def load_calgary_campinas_h5(
    path: PathLike, *, slices: slice | None = None, centered: bool = True
) -> np.ndarray:
    """Load Calgary-Campinas (CC-359) multi-coil raw data (Souza et al., 2018; MC-MRRec 2020).

    The files hold one dataset ``kspace``, float, ``(S, H, W, 2C)``: real and imaginary parts
    interleaved on the last axis (``[..., 0::2]`` real, ``[..., 1::2]`` imaginary), C = 12 (or 32
    for the 32-channel test set). The volume is a 3D acquisition already inverse-transformed along
    the readout, so each slice ``S`` is a (ky, kz) plane; k-space is stored uncentred (DC at the
    corner), so the challenge code reconstructs with ``numpy.fft.ifft2`` over ``(H, W)``.

    Args:
        path: the ``.h5`` file.
        slices: read only these slices, default all.
        centered: convert to the package convention, ``fft2c`` of the image that
            ``numpy.fft.ifft2`` gives (so ``ifft2c(kspace)`` equals it); ``False`` returns the
            stored samples unchanged.

    Returns:
        complex64 ``(S, C, H, W)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: truncated or non-HDF5 file, missing ``kspace``, odd channel count, NaN/Inf.
    """
    p = _existing_file(path)
    with _open_h5(p) as f:
        raw = _read(f, "kspace", p, slices if slices is not None else slice(None))
    if raw.ndim != 4 or raw.shape[-1] % 2 or np.iscomplexobj(raw):
        problem = "'kspace' must be real (S, H, W, 2C) with interleaved real/imaginary channels"
        raise DataError(p, f"{problem}, got {raw.dtype} {raw.shape}")
    kspace = (raw[..., 0::2] + 1j * raw[..., 1::2]).astype(np.complex64)
    kspace = np.ascontiguousarray(np.moveaxis(kspace, -1, 1))
    check_kspace(kspace, source=str(p))
    if centered:
        image = np.fft.ifft2(kspace, axes=(-2, -1))
        axes = (-2, -1)
        shifted = np.fft.ifftshift(image, axes=axes)
        kspace = np.fft.fftshift(np.fft.fft2(shifted, axes=axes, norm="ortho"), axes=axes)
    return kspace.astype(np.complex64)


@dataclass(frozen=True)
class KspaceFileInfo:
    """What a raw k-space file holds, read from its metadata without loading the k-space.

    Attributes:
        path: the file.
        data_format: ``"fastmri"`` or ``"calgary_campinas"``.
        slices: number of slices ``S``.
        coils: number of receive coils ``C``.
        image_shape: ``(H, W)`` of the image the loaders give before any resizing (fastMRI: the
            stored matrix cropped to the header's reconstruction matrix; Calgary-Campinas: the
            stored ``(H, W)``).
    """

    path: Path
    data_format: str
    slices: int
    coils: int
    image_shape: tuple[int, int]


def inspect_kspace_h5(path: PathLike, data_format: str) -> KspaceFileInfo:
    """Slices, coils and image size of a multi-coil fastMRI or Calgary-Campinas HDF5 file.

    Reads the ``kspace`` dataset's shape and type (and fastMRI's ISMRMRD header), not its values,
    so a folder of large files is checked in milliseconds per file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unknown ``data_format``.
        DataError: not an HDF5 file, no ``kspace``, single-coil, or a layout of the other format.
    """
    if data_format not in ("fastmri", "calgary_campinas"):
        raise ValueError(
            f"data_format must be 'fastmri' or 'calgary_campinas', got {data_format!r}"
        )
    p = _existing_file(path)
    with _open_h5(p) as f:
        if "kspace" not in f:
            raise DataError(p, f"has no dataset 'kspace' (datasets: {sorted(f.keys())})")
        shape, dtype = tuple(f["kspace"].shape), f["kspace"].dtype
        fastmri_like = np.issubdtype(dtype, np.complexfloating) and len(shape) == 4
        header = _read(f, "ismrmrd_header", p, ()) if fastmri_like else None
    if data_format == "calgary_campinas":
        if len(shape) != 4 or shape[-1] % 2 or np.issubdtype(dtype, np.complexfloating):
            raise DataError(
                p,
                f"'kspace' is {dtype} {shape}, not Calgary-Campinas (S, H, W, 2C) real/imaginary "
                "channels (fastMRI files need data_format fastmri)",
            )
        return KspaceFileInfo(p, data_format, shape[0], shape[-1] // 2, (shape[1], shape[2]))
    if not np.issubdtype(dtype, np.complexfloating):
        raise DataError(
            p,
            f"'kspace' is {dtype} {shape}, not complex fastMRI k-space "
            "(Calgary-Campinas files need data_format calgary_campinas)",
        )
    if len(shape) != 4:
        raise DataError(p, f"'kspace' {shape} is not multi-coil (S, C, H, W)")
    assert header is not None
    _, recon, _ = parse_ismrmrd_header(header.item() if header.ndim == 0 else header, source=p)
    image = (min(recon[0], shape[2]), min(recon[1], shape[3]))
    return KspaceFileInfo(p, data_format, shape[0], shape[1], image)


def check_kspace(
    kspace: Any, mask: Any = None, *, source: str, ndim: tuple[int, ...] = (2, 3, 4)
) -> None:
    """Reject k-space that cannot be reconstructed, naming ``source`` in the error.

    Args:
        kspace: complex numpy array or torch tensor ``(..., H, W)``.
        mask: optional sampling mask (numpy or torch) that must broadcast to ``kspace``'s shape.
        source: the file or description named in the error message.
        ndim: accepted numbers of dimensions of ``kspace``.

    Raises:
        DataError: not complex, wrong rank, NaN/Inf values, or a mask that does not broadcast
            (or holds NaN/Inf).
    """
    k = _as_numpy(kspace)
    if not np.iscomplexobj(k):
        raise DataError(source, f"k-space must be complex, got {k.dtype}")
    if k.ndim not in ndim:
        raise DataError(
            source, f"k-space has {k.ndim} dimensions {k.shape}, expected one of {ndim}"
        )
    if not np.isfinite(k).all():
        bad = int(np.count_nonzero(~np.isfinite(k)))
        raise DataError(source, f"k-space holds {bad} NaN/Inf values")
    if mask is None:
        return
    m = _as_numpy(mask)
    try:
        shape = np.broadcast_shapes(m.shape, k.shape)
    except ValueError:
        shape = None
    if shape != k.shape:
        raise DataError(source, f"mask of shape {m.shape} does not broadcast to k-space {k.shape}")
    if not np.isfinite(m).all():
        raise DataError(source, "mask holds NaN/Inf values")


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor on any device
        return x.detach().cpu().numpy()
    return np.asarray(x)
