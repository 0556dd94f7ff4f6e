"""Plug a user's own NIfTI volumes (e.g. IXI T1) into the notebooks that use 2D slices.

A notebook parameter ``data_path`` pointing at a folder of ``*.nii`` / ``*.nii.gz`` volumes replaces
the embedded slices: axial slices with enough head in them are normalised like the embedded set and
split by volume (subject), so no subject is in two splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from mricompendium.data.embedded import SliceSet, normalise_intensity, resize_stack
from mricompendium.data.errors import DataError
from mricompendium.data.loaders import load_nifti


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


def _volume_slices(path: Path, size: int, keep: float) -> tuple[np.ndarray, np.ndarray]:
    data, _ = load_nifti(path, ndim=(3, 4))
    vol = data if data.ndim == 3 else data[..., 0]
    z = vol.shape[2]
    lo, hi = int(z * (1 - keep) / 2), int(z * (1 + keep) / 2)
    images, masks = [], []
    for k in range(lo, max(hi, lo + 1)):
        sl = np.rot90(vol[:, :, k]).astype(np.float32)
        pad = max(sl.shape) - np.array(sl.shape)
        sl = np.pad(sl, [(p // 2, p - p // 2) for p in pad])
        m = _head_mask(sl)
        if m.mean() < 0.05:
            continue
        images.append(normalise_intensity(sl, m))
        masks.append(m)
    if not images:
        raise DataError(str(path), "no axial slice with enough signal")
    imgs = _resize(np.stack(images), size)
    msks = _resize(np.stack(masks).astype(np.float32), size) > 0.5
    return imgs.astype(np.float32), msks


def slices_from_nifti_dir(
    folder: str | Path, *, size: int = 128, keep: float = 0.5, fractions=(0.8, 0.1)
) -> tuple[SliceSet, SliceSet, SliceSet]:
    """Train / val / test :class:`SliceSet` from every NIfTI volume in ``folder``, split by volume.

    Args:
        folder: a folder of ``.nii`` / ``.nii.gz`` volumes (one subject each).
        size: output slice size (square).
        keep: fraction of central axial slices to keep per volume.
        fractions: train and validation fractions of the volumes (the rest is test).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: data_path is not a folder (set it in params.yaml)")
    files = sorted([*folder.glob("*.nii"), *folder.glob("*.nii.gz")])
    if len(files) < 3:
        raise DataError(str(folder), f"need at least 3 NIfTI volumes to split, found {len(files)}")
    n_val = max(1, int(round(fractions[1] * len(files))))
    n_train = min(max(1, int(round(fractions[0] * len(files)))), len(files) - n_val - 1)
    groups = {
        "train": files[:n_train],
        "val": files[n_train : n_train + n_val],
        "test": files[n_train + n_val :],
    }
    sets = []
    for group in groups.values():
        parts = [(_volume_slices(f, size, keep), f.name) for f in group]
        images = np.concatenate([p[0][0] for p in parts])
        masks = np.concatenate([p[0][1] for p in parts])
        names = [f"{fname}_z{i:03d}" for (arr, fname) in parts for i in range(len(arr[0]))]
        sets.append(SliceSet(images=images, masks=masks, tissue=None, names=names))
    return sets[0], sets[1], sets[2]
