"""A user's image + tissue-label NIfTI pairs as axial slices with tissue maps (``atommic``).

A folder holds ``<case><image_suffix>`` and ``<case><label_suffix>`` files (as ``scse`` reads
them: :func:`~mricompendium.data.segmentation.pairs.find_pairs`; labels 0 background, 1 CSF,
2 GM, 3 WM, e.g. FSL FAST's ``pveseg``). Each pair is read in RAS+ voxel order on one grid
(refused, naming both files, otherwise), ``n_slices`` axial slices are taken evenly in the
central half of the labelled extent, and each slice is resampled as the embedded template slices
are rendered: a square field of view of :data:`~mricompendium.data.build.FOV_MM` mm centred on the
brain (the labels' extent), 128 x 128 pixels, anterior up. The labels become CSF/GM/WM fractions
per pixel (the one-hot maps resampled like the image), the brain mask is where they sum to 0.5
or more, and the image is normalised inside that mask like the embedded slices. The result is a
:class:`~mricompendium.data.embedded.SliceSet` with ``tissue`` set, so a notebook simulates
k-space from it and derives labels from it exactly as from the template slices. The split is by
volume (the last ``n_test_volumes`` pairs test, the one before validates, the rest train).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mricompendium.data.build import FOV_MM
from mricompendium.data.embedded import SIZE, SliceSet, normalise_intensity, resample_square
from mricompendium.data.errors import DataError
from mricompendium.data.orientation import check_same_grid, load_ras
from mricompendium.data.segmentation.pairs import Pair, find_pairs, middle_slices

__all__ = ["TISSUE_VALUES", "split_pairs", "tissue_pair_sets", "tissue_slices"]

TISSUE_VALUES = (0, 1, 2, 3)  # background, CSF, GM, WM


def tissue_slices(
    pair: Pair, *, n_slices: int, size: int = SIZE, fov_mm: float = FOV_MM
) -> SliceSet:
    """``n_slices`` axial slices of one pair with their CSF/GM/WM fractions.

    Args:
        pair: the image and label files.
        n_slices: axial slices, evenly spaced in the central half of the labelled extent
            (fewer when the labels span fewer slices).
        size: output side in pixels; fov_mm: side of the square field of view (mm).

    Returns:
        Images ``(N, size, size)`` normalised inside the brain, bool brain masks, tissue
        fractions ``(N, 3, size, size)`` and names ``<case>_z<canonical axial index>``.

    Raises:
        DataError: unreadable or 4-D files, different grids (names both), non-integer labels or
            values outside 0-3, no labelled voxel (names the file).
    """
    if not isinstance(n_slices, int) or n_slices < 1:
        raise ValueError(f"n_slices must be an int >= 1, got {n_slices!r}")
    img, grid = load_ras(pair.image)
    lab, lab_grid = load_ras(pair.labels, dtype=None, finite=False)
    check_same_grid(grid, lab_grid, what="label file")
    if np.issubdtype(lab.dtype, np.floating) and not np.all(lab == np.round(lab)):
        raise DataError(pair.labels, "label map holds non-integer values")
    lab = np.rint(lab).astype(np.int64)
    bad = sorted(set(np.unique(lab).tolist()) - set(TISSUE_VALUES))
    if bad:
        raise DataError(pair.labels, f"label values {bad} outside {list(TISSUE_VALUES)}")
    if not (lab > 0).any():
        raise DataError(pair.labels, "labels are empty: no labelled voxel")
    sx, sy, _ = grid.spacing_mm
    idx = np.argwhere(lab > 0)
    cx, cy = (idx[:, 0].min() + idx[:, 0].max()) / 2.0, (idx[:, 1].min() + idx[:, 1].max()) / 2.0
    centre = (lab.shape[1] - 1 - cy, cx)  # in rot90 coordinates: rows anterior -> posterior

    def square(plane: np.ndarray) -> np.ndarray:
        return resample_square(np.rot90(plane), center=centre, side_mm=fov_mm, spacing=(sy, sx),
                               size=size)  # fmt: skip

    images, masks, tissues, names = [], [], [], []
    for k in middle_slices(lab, n_slices, axis=2):
        tissue = np.clip(np.stack([square((lab[:, :, k] == c).astype(np.float64))
                                   for c in TISSUE_VALUES[1:]]), 0.0, 1.0)  # fmt: skip
        mask = tissue.sum(axis=0) >= 0.5
        if not mask.any():
            continue
        image = np.clip(square(img[:, :, k]), 0.0, None)
        try:
            images.append(normalise_intensity(image, mask).astype(np.float32))
        except ValueError as err:
            raise DataError(pair.image, f"axial slice {k}: {err}") from None
        masks.append(mask)
        tissues.append(tissue.astype(np.float32))
        names.append(f"{pair.name}_z{k:03d}")
    if not images:
        raise DataError(pair.labels, "no axial slice with a labelled brain in the field of view")
    return SliceSet(np.stack(images), np.stack(masks), np.stack(tissues), names)


def split_pairs(pairs: list[Pair], n_test_volumes: int) -> tuple[list[Pair], Pair, list[Pair]]:
    """Training pairs, the validation pair and the test pairs (the last ``n_test_volumes``).

    Raises:
        DataError: fewer than ``n_test_volumes + 2`` pairs (one to train, one to validate).
    """
    if not isinstance(n_test_volumes, int) or n_test_volumes < 1:
        raise ValueError(f"n_test_volumes must be an int >= 1, got {n_test_volumes!r}")
    need = n_test_volumes + 2
    if len(pairs) < need:
        where = pairs[0].image.parent if pairs else "data_path"
        raise DataError(
            where,
            f"holds {len(pairs)} image + label pairs; the split by volume needs at least {need} "
            f"(n_test_volumes {n_test_volumes} to test, one to validate, one or more to train)",
        )
    return pairs[: -n_test_volumes - 1], pairs[-n_test_volumes - 1], pairs[-n_test_volumes:]


def _concat(sets: list[SliceSet]) -> SliceSet:
    return SliceSet(
        images=np.concatenate([s.images for s in sets]),
        masks=np.concatenate([s.masks for s in sets]),
        tissue=np.concatenate([s.tissue for s in sets]),  # type: ignore[misc]
        names=[n for s in sets for n in s.names],
    )


def tissue_pair_sets(
    folder: str | os.PathLike[str],
    *,
    image_suffix: str,
    label_suffix: str,
    slices_per_volume: int,
    n_test_volumes: int,
    size: int = SIZE,
) -> tuple[SliceSet, SliceSet, SliceSet]:
    """Train / validation / test :class:`SliceSet` of the pairs in ``folder``, split by volume
    (:func:`split_pairs`), ``slices_per_volume`` slices each (:func:`tissue_slices`).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        DataError: as :func:`find_pairs`, :func:`split_pairs` and :func:`tissue_slices`.
    """
    pairs = find_pairs(Path(folder), image_suffix=image_suffix, label_suffix=label_suffix)
    train, val, test = split_pairs(pairs, n_test_volumes)

    def read(group: list[Pair]) -> SliceSet:
        return _concat([tissue_slices(p, n_slices=slices_per_volume, size=size) for p in group])

    return read(train), read([val]), read(test)
