"""Plug a user's own NIfTI volumes (e.g. IXI T1) into the notebooks that use 2D slices.

A notebook parameter ``data_path`` pointing at a folder of ``*.nii`` / ``*.nii.gz`` volumes replaces
the embedded slices. Each volume is reoriented to the closest RAS+ orientation
(:func:`nibabel.as_closest_canonical`) so that axial slices are axial whatever order the file
stores its axes in (RAS, LPS, PIR ...), resampled in plane to square pixels, and its central axial
slices with enough head in them are normalised like the embedded set. The split is by volume
(subject): no subject is in two splits. Slices are named ``<file>_z<index>`` after the canonical
axial index, so an error or a figure can name the slice it is about.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from mricompendium.data.embedded import SliceSet, normalise_intensity, resize_stack
from mricompendium.data.errors import DataError
from mricompendium.data.loaders import is_nifti, load_nifti, nifti_header

MIN_VOLUMES = 3  # one each for train, validation and test
MIN_HEAD_FRACTION = 0.05  # slices whose head mask covers less of the image are skipped


def _head_mask(img: np.ndarray) -> np.ndarray:
    mask = img > 0.1 * np.percentile(img, 99.5)
    mask = ndimage.binary_closing(mask, iterations=2)
    return ndimage.binary_fill_holes(mask)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased downsampling (as the embedded set) or linear upsampling of square slices."""
    if x.shape[-1] >= size:
        return resize_stack(x, size)
    from skimage.transform import resize

    return resize(x, (x.shape[0], size, size), order=1, preserve_range=True).astype(np.float32)


def _square_pixels(vol: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Resample the in-plane axes (0, 1) of a canonical volume to the finer of their spacings."""
    zooms = np.sqrt((affine[:3, :2] ** 2).sum(axis=0))
    if np.allclose(zooms[0], zooms[1], rtol=0.01):
        return vol
    factors = (zooms[0] / zooms.min(), zooms[1] / zooms.min(), 1.0)
    return ndimage.zoom(vol, factors, order=1, grid_mode=True, mode="nearest")


def axial_slices(path: str | os.PathLike[str], size: int, keep: float = 0.5) -> SliceSet:
    """The central axial slices of one NIfTI volume, canonically oriented, as a :class:`SliceSet`.

    Args:
        path: a 3D (or 4D: the first volume is used) NIfTI file.
        size: output slice size (square, pixels).
        keep: fraction of the central axial slices to consider.

    Returns:
        Normalised float32 images ``(N, size, size)`` (anterior up), their bool head masks and
        names ``<file>_z<canonical axial index>``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: unreadable file, or no axial slice with enough signal (names the file).
    """
    p = Path(path)
    data, affine = load_nifti(p, ndim=(3, 4), canonical=True)
    vol = _square_pixels(data if data.ndim == 3 else data[..., 0], affine)
    if not np.isfinite(vol).all():
        raise DataError(p, "holds NaN/Inf voxels")
    z = vol.shape[2]
    lo, hi = int(z * (1 - keep) / 2), int(z * (1 + keep) / 2)
    images, masks, names = [], [], []
    for k in range(lo, max(hi, lo + 1)):
        sl = np.rot90(vol[:, :, k]).astype(np.float32)  # rows: anterior -> posterior
        pad = max(sl.shape) - np.array(sl.shape)
        sl = np.pad(sl, [(q // 2, q - q // 2) for q in pad])
        if not sl.max() > 0:
            continue
        m = _head_mask(sl)
        if m.mean() < MIN_HEAD_FRACTION:
            continue
        images.append(normalise_intensity(sl, m))
        masks.append(m)
        names.append(f"{p.name}_z{k:03d}")
    if not images:
        raise DataError(p, f"no axial slice with a head covering {MIN_HEAD_FRACTION:.0%} of it")
    imgs = _resize(np.stack(images), size)
    msks = _resize(np.stack(masks).astype(np.float32), size) > 0.5
    return SliceSet(images=imgs.astype(np.float32), masks=msks, tissue=None, names=names)


def nifti_files(path: str | os.PathLike[str], *, min_volumes: int = MIN_VOLUMES) -> list[Path]:
    """The NIfTI volumes of a folder (sorted by name), refusing what cannot be split by subject.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: a single file, or a folder with fewer than ``min_volumes`` volumes (the
            message says why and what to pass instead).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: data_path does not exist")
    if p.is_file():
        kind = "a single NIfTI volume" if is_nifti(p) else "a file, not a folder of NIfTI volumes"
        raise DataError(
            p,
            f"is {kind}; the split is by subject, so pass a folder of at least "
            f"{min_volumes} volumes (one per subject)",
        )
    files = sorted(f for f in p.iterdir() if f.is_file() and is_nifti(f))
    if len(files) < min_volumes:
        raise DataError(
            p,
            f"need at least {min_volumes} NIfTI volumes (.nii/.nii.gz) directly in the folder "
            f"to split by subject, found {len(files)}",
        )
    return files


def describe_nifti_dir(path: str | os.PathLike[str], *, size: int) -> str:
    """Check a NIfTI folder as :func:`slices_from_nifti_dir` reads it, cheaply; describe it.

    Every file's header is read (shape, orientation) and the first volume is sliced at ``size``.

    Raises:
        FileNotFoundError, DataError: as :func:`slices_from_nifti_dir`, naming the file.
    """
    files = nifti_files(path)
    orientations = sorted({nifti_header(f, ndim=(3, 4))[1] for f in files})
    first = axial_slices(files[0], size)
    return (
        f"{len(files)} NIfTI volumes ({', '.join(orientations)} -> RAS), "
        f"{len(first.names)} axial slices of {files[0].name} at {size}x{size}"
    )


def slices_from_nifti_dir(
    folder: str | Path, *, size: int = 128, keep: float = 0.5, fractions=(0.8, 0.1)
) -> tuple[SliceSet, SliceSet, SliceSet]:
    """Train / val / test :class:`SliceSet` from every NIfTI volume in ``folder``, split by volume.

    Args:
        folder: a folder of ``.nii`` / ``.nii.gz`` volumes (one subject each, any orientation).
        size: output slice size (square).
        keep: fraction of central axial slices to keep per volume.
        fractions: train and validation fractions of the volumes (the rest is test).

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        DataError: a single file, too few volumes, or an unusable volume (named).
    """
    files = nifti_files(folder)
    n_val = max(1, int(round(fractions[1] * len(files))))
    n_train = min(max(1, int(round(fractions[0] * len(files)))), len(files) - n_val - 1)
    groups = (files[:n_train], files[n_train : n_train + n_val], files[n_train + n_val :])
    sets = []
    for group in groups:
        parts = [axial_slices(f, size, keep) for f in group]
        sets.append(
            SliceSet(
                images=np.concatenate([s.images for s in parts]),
                masks=np.concatenate([s.masks for s in parts]),
                tissue=None,
                names=[n for s in parts for n in s.names],
            )
        )
    return sets[0], sets[1], sets[2]
