"""Loaders for real MRI formats: NIfTI, DICOM, fastMRI HDF5 and Calgary-Campinas HDF5.

This is how users plug real data in. Every loader raises :class:`FileNotFoundError` naming the path
when it does not exist and :class:`~mricompendium.data.errors.DataError` naming the file and the
problem when the file is corrupt, truncated or not what it should be.

K-space layouts follow the package: complex, last two dimensions ``(H, W)`` = (readout,
phase encode), centred so that :func:`mricompendium.physics.fft.ifft2c` gives the image.
"""

from __future__ import annotations

import contextlib
import math
import os
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
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


def _nifti_image(p: Path, raw: bytes | None = None) -> Any:
    """The NIfTI image of ``p`` (from ``raw``, its decompressed bytes, when given).

    Any failure of nibabel on a corrupt file (it raises many types) is a :class:`DataError`.
    """
    import nibabel as nib

    try:
        if raw is None:
            img = nib.load(p)
        else:
            sizeof_hdr = raw[:4]
            v2 = sizeof_hdr in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c")  # 540: NIfTI-2
            img = (nib.Nifti2Image if v2 else nib.Nifti1Image).from_bytes(raw)
    except MemoryError as e:
        raise DataError(p, "header declares an image too large to load") from e
    except Exception as e:  # noqa: BLE001 - nibabel: ImageFileError, HeaderDataError, struct...
        raise DataError(p, f"not a readable NIfTI image ({type(e).__name__}: {e})") from e
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise DataError(p, f"is a {type(img).__name__}, not a NIfTI image")
    return img


def _check_nifti_size(p: Path, img: Any, stored: int) -> None:
    """The header's shape and type must account for the ``stored`` bytes.

    Some writers leave a few bytes after the data (nitime's ``fmri1.nii.gz``: 352); fewer than
    one slice along any axis are tolerated, so a header that declares less data than the file
    holds (a corrupt dimension or data type) cannot pass unnoticed.
    """
    hdr = img.header
    try:
        shape = tuple(int(n) for n in hdr.get_data_shape())
        itemsize = hdr.get_data_dtype().itemsize
        offset = int(getattr(img.dataobj, "offset", hdr.get_data_offset()))
    except Exception as e:  # noqa: BLE001 - a header nibabel parsed but cannot size
        raise DataError(p, f"unusable NIfTI header ({type(e).__name__}: {e})") from e
    need = offset + math.prod(shape) * itemsize
    slab = min((math.prod(shape) // n for n in shape if n), default=1) * itemsize
    if not 0 <= stored - need < max(slab, 1):
        raise DataError(
            p,
            f"header declares {shape} {hdr.get_data_dtype()} ending at byte {need}, but the "
            f"image holds {stored} bytes (truncated, or a corrupt header)",
        )


def _check_orientation(p: Path, img: Any) -> None:
    """An image without a qform or sform code has no orientation: nibabel would guess one."""
    hdr = img.header
    if int(hdr["qform_code"]) <= 0 and int(hdr["sform_code"]) <= 0:
        raise DataError(
            p,
            "has no orientation (qform_code and sform_code are both 0), so it cannot be "
            "brought to RAS+: set one (e.g. fslorient -copyqform2sform) or fix the header",
        )


def _nifti_bytes(p: Path) -> bytes:
    """The file's bytes, decompressed (and CRC-checked) for ``.nii.gz``."""
    import gzip

    raw = p.read_bytes()
    if p.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(p, f"corrupt gzip stream ({type(e).__name__}: {e})") from e
    return raw


def nifti_header(
    path: PathLike, *, ndim: tuple[int, ...] = (2, 3, 4)
) -> tuple[tuple[int, ...], str]:
    """Shape and orientation (axis codes such as ``"RAS"``, ``"PIR"``) read from the header only.

    An uncompressed file's size must match its header (a ``.nii.gz`` is checked in full by
    :func:`load_nifti`), and the header must give an orientation (a qform or sform code).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a NIfTI file, a size that does not match, or wrong dimensionality.
    """
    import nibabel as nib

    p = _existing_file(path)
    img = _nifti_image(p)
    if not p.name.lower().endswith(".gz"):
        _check_nifti_size(p, img, p.stat().st_size)
    _check_orientation(p, img)
    if len(img.shape) not in ndim:
        raise DataError(p, f"has {len(img.shape)} dimensions {img.shape}, expected one of {ndim}")
    try:
        return tuple(img.shape), "".join(nib.aff2axcodes(img.affine))
    except Exception as e:  # noqa: BLE001 - a degenerate affine
        raise DataError(p, f"unusable orientation in the header ({e})") from e


def load_nifti(
    path: PathLike,
    *,
    dtype: np.dtype | type | None = np.float32,
    ndim: tuple[int, ...] = (2, 3, 4),
    canonical: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI-1/2 image (``.nii`` or ``.nii.gz``) with nibabel.

    The file is checked whole before it is used: a ``.nii.gz`` is decompressed with its CRC
    checked, the header's shape and type must account for the bytes stored, a floating-point
    image must hold finite values only, and with ``canonical`` the header must give an
    orientation (a qform or sform code > 0).

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
        DataError: not a readable NIfTI file (garbage, truncated, corrupt), wrong
            dimensionality, or NaN/Inf values.
    """
    import nibabel as nib

    p = _existing_file(path)
    raw = _nifti_bytes(p)
    img = _nifti_image(p, raw)
    _check_nifti_size(p, img, len(raw))
    if canonical:
        _check_orientation(p, img)
    try:
        if canonical and img.ndim >= 3:
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - nibabel on a corrupt header (orientation, scaling)
        raise DataError(p, f"not a readable NIfTI image ({type(e).__name__}: {e})") from e
    if data.ndim not in ndim:
        raise DataError(p, f"has {data.ndim} dimensions {data.shape}, expected one of {ndim}")
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if np.issubdtype(data.dtype, np.inexact) and not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise DataError(p, f"holds {bad} non-finite (NaN/Inf) values (a corrupt file or scaling)")
    if not np.isfinite(affine).all():
        raise DataError(p, "its affine holds NaN/Inf values")
    return data, affine


def load_dicom(path: PathLike) -> np.ndarray:
    """Load the pixel data of a single-frame or multi-frame DICOM file with pydicom.

    The modality rescale (``RescaleSlope``, ``RescaleIntercept``) is applied. The decoded
    pixels must have the shape the header declares (rows, columns, frames, samples): pydicom
    itself would return extra frames, or reinterpret the bytes, when they do not.

    Returns:
        float32 ``(rows, cols)`` or ``(frames, rows, cols)`` (``(..., samples)`` for colour).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a DICOM file, no pixel data, pixel data that cannot be decoded or that
            does not fit the header, or NaN/Inf values.
    """
    import pydicom

    p = _existing_file(path)
    try:
        ds = pydicom.dcmread(p)
        has_pixels = "PixelData" in ds
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for broken files
        raise DataError(p, f"not a readable DICOM file ({type(e).__name__}: {e})") from e
    if not has_pixels:
        raise DataError(p, "DICOM file has no pixel data")
    try:
        expected = _dicom_shape(ds)
        pixels = np.asarray(pydicom.pixels.apply_rescale(ds.pixel_array, ds), dtype=np.float32)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for broken pixel data
        raise DataError(p, f"cannot decode the pixel data ({type(e).__name__}: {e})") from e
    if pixels.shape != expected:
        raise DataError(
            p, f"pixel data decode to {pixels.shape}, but the header declares {expected}"
        )
    if not np.isfinite(pixels).all():
        raise DataError(p, "pixel data hold NaN/Inf values")
    return pixels


def _dicom_shape(ds: Any) -> tuple[int, ...]:
    """The pixel array shape a DICOM header declares; for uncompressed pixel data, the
    stored bytes must match it (a wrong ``Rows`` would otherwise pass as extra frames)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    shape = (frames, rows, cols) if frames > 1 else (rows, cols)
    shape = (*shape, samples) if samples > 1 else shape
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or not syntax.is_compressed:
        need = math.prod(shape) * int(ds.BitsAllocated) // 8
        got = len(ds.PixelData)
        if got not in (need, need + 1):  # one pad byte keeps the length even
            raise ValueError(f"{got} bytes of pixel data, the header's {shape} needs {need}")
    return shape


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


@contextlib.contextmanager
def open_h5(p: Path) -> Iterator[Any]:
    """An HDF5 file open for reading; any h5py failure inside the block (a corrupt file raises
    ``OSError``, ``KeyError``, ``RuntimeError`` ... at any access) becomes a :class:`DataError`."""
    import h5py

    try:
        with h5py.File(p, "r") as f:
            yield f
    except DataError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError, IndexError) as e:
        raise DataError(p, f"not a readable HDF5 file ({type(e).__name__}: {e})") from e


_open_h5 = open_h5


def _read(f: Any, key: str, p: Path, index: slice) -> np.ndarray:
    if key not in f:
        raise DataError(p, f"has no dataset {key!r} (datasets: {sorted(f.keys())})")
    try:
        return np.asarray(f[key][index])
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise DataError(p, f"cannot read dataset {key!r} ({type(e).__name__}: {e})") from e


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
