"""One orientation rule for every volume a loader reads: RAS+ voxel order, shared grids checked.

Every NIfTI volume read by the real-data loaders (BraTS, ISLES, image + label pairs, Learn2Reg,
ACDC, NSD masks and betas, a folder of T1 volumes) goes through :func:`load_ras`: its voxel axes
are reordered and flipped to the closest RAS+ orientation (nibabel's ``as_closest_canonical``:
axis 0 left -> right, 1 posterior -> anterior, 2 inferior -> superior), so an axial slice is
``vol[:, :, k]`` whatever order the file stores its axes in (RAS, LPS, PIR, LIA ...).

Files that are paired voxel by voxel (the contrasts and labels of one case, a moving and a fixed
image, two frames of one cine) must lie on one grid: :func:`check_same_grid` compares the
canonical shapes and affines (within :data:`GRID_TOL_VOX` of a voxel) and refuses, naming both
files, what does not. :func:`header_grid` reads the same from the header alone (for ``--dry``).

:func:`display_slice` cuts a 2D slice out of a canonical volume in one display convention
(``numpy.rot90`` of the remaining axes: anterior or superior at the top row, the subject's left
to right along the columns for axial and coronal slices), the convention of the embedded slices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError

__all__ = [
    "GRID_TOL_VOX",
    "PLANES",
    "Grid",
    "check_same_grid",
    "display_slice",
    "header_grid",
    "label_values",
    "load_ras",
    "source_axis",
    "stack_axis",
]

PathLike = str | os.PathLike[str]
GRID_TOL_VOX = 0.05  # largest disagreement of two grids' voxel-to-world maps, in voxels
PLANES = {"sagittal": 0, "coronal": 1, "axial": 2}  # the RAS+ axis each plane is normal to


@dataclass(frozen=True)
class Grid:
    """A volume's grid in RAS+ voxel order (read from the header only).

    Attributes:
        path: the file.
        shape: spatial shape after reorientation (extra axes, e.g. time, appended as stored).
        affine: ``(4, 4)`` voxel -> world (RAS mm) of the reoriented array.
        codes: the file's own axis codes (``"LPS"``, ``"PIR"`` ...).
        ornt: nibabel orientation array ``(3, 2)``: stored axis ``i`` becomes RAS axis
            ``ornt[i, 0]``, flipped when ``ornt[i, 1] == -1``.
        dtype: the stored data type.
    """

    path: Path
    shape: tuple[int, ...]
    affine: np.ndarray
    codes: str
    ornt: np.ndarray
    dtype: np.dtype

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along each RAS+ axis (mm)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


def _open(path: PathLike):
    import nibabel as nib

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        img = nib.load(os.fspath(p))
    except Exception as err:  # nibabel raises several types for damaged files
        raise DataError(p, f"not a readable NIfTI image ({type(err).__name__}: {err})") from err
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise DataError(p, f"is a {type(img).__name__}, not a NIfTI image")
    return p, img


def _check_ndim(p: Path, shape: tuple[int, ...], ndim: tuple[int, ...]) -> None:
    if len(shape) == 4 and shape[3] == 1 and 3 in ndim and 4 not in ndim:
        return  # a 3D image stored with a singleton fourth axis
    if len(shape) not in ndim:
        what = "a 3D volume" if ndim == (3,) else f"{' or '.join(map(str, ndim))} dimensions"
        raise DataError(p, f"has {len(shape)} dimensions {shape}; expected {what}")


def header_grid(path: PathLike, *, ndim: tuple[int, ...] = (3,)) -> Grid:
    """The file's grid after reorientation to RAS+, from its header (no voxel is read).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: not a NIfTI file, or a number of dimensions outside ``ndim`` (names it).
    """
    import nibabel as nib
    from nibabel.orientations import inv_ornt_aff, io_orientation

    p, img = _open(path)
    shape = tuple(int(n) for n in img.shape)
    _check_ndim(p, shape, ndim)
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise DataError(p, "has a singular or non-finite affine: its orientation is unknown")
    ornt = io_orientation(affine)
    spatial = shape[:3]
    ras_shape = [0, 0, 0]
    for i, (axis, _) in enumerate(ornt):
        ras_shape[int(axis)] = spatial[i]
    ras_affine = affine @ inv_ornt_aff(ornt, spatial)
    codes = "".join(nib.aff2axcodes(affine))
    return Grid(p, (*ras_shape, *shape[3:]), ras_affine, codes, ornt, img.get_data_dtype())


def source_axis(grid: Grid, stored_axis: int) -> int:
    """The RAS+ axis that the file's voxel axis ``stored_axis`` became."""
    return int(grid.ornt[stored_axis, 0])


def stack_axis(grid: Grid) -> int:
    """The RAS+ axis of a 2D multi-slice stack (a short-axis cine): the axis whose spacing is
    more than 1.5 times the others' (thick slices), else the file's third voxel axis."""
    spacing = np.asarray(grid.spacing_mm)
    order = np.argsort(spacing)
    if spacing[order[2]] > 1.5 * spacing[order[1]]:
        return int(order[2])
    return source_axis(grid, 2)


def load_ras(
    path: PathLike,
    *,
    dtype: np.dtype | type | None = np.float32,
    ndim: tuple[int, ...] = (3,),
    finite: bool = True,
) -> tuple[np.ndarray, Grid]:
    """Load a NIfTI volume reoriented to RAS+; its :class:`Grid` describes the returned array.

    Args:
        path: the file.
        dtype: output dtype (``scl_slope`` / ``scl_inter`` applied); ``None`` keeps the stored
            type (label maps).
        ndim: accepted numbers of dimensions (a 3D image stored as ``(X, Y, Z, 1)`` counts as
            3D and comes back 3D).
        finite: refuse NaN or infinite voxels (floating-point data).

    Raises:
        FileNotFoundError, DataError: as :func:`header_grid`; unreadable voxel data; NaN.
    """
    from nibabel.orientations import apply_orientation

    grid = header_grid(path, ndim=ndim)
    _, img = _open(path)
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as err:  # truncated gzip streams and the like
        raise DataError(
            grid.path, f"cannot read the voxel data ({type(err).__name__}: {err})"
        ) from err
    if data.ndim == 4 and data.shape[3] == 1 and 4 not in ndim:
        data = data[..., 0]
    data = np.ascontiguousarray(apply_orientation(data, grid.ornt))
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if finite and np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise DataError(grid.path, f"holds {bad} NaN or infinite voxels")
    return data, grid


def check_same_grid(reference: Grid, other: Grid, *, what: str = "grid") -> None:
    """Refuse ``other`` unless it lies on ``reference``'s grid (RAS+ shape and affine).

    Two grids agree when their spatial shapes are equal and mapping ``other``'s voxels through
    both affines moves no corner of the volume by more than :data:`GRID_TOL_VOX` of a voxel.

    Raises:
        DataError: naming ``other`` and ``reference`` and how they differ.
    """
    a, b = reference, other
    if a.shape[:3] != b.shape[:3]:
        raise DataError(
            b.path,
            f"{what}: shape {b.shape[:3]} ({b.codes}) differs from {a.path.name} "
            f"{a.shape[:3]} ({a.codes}) after reorientation to RAS+",
        )
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in a.shape[:3]], indexing="ij"))
    corners = np.vstack([corners.reshape(3, -1), np.ones((1, 8))])
    moved = np.linalg.inv(a.affine) @ b.affine @ corners  # other's corners in reference voxels
    shift = float(np.abs(moved[:3] - corners[:3]).max())
    if shift > GRID_TOL_VOX:
        world = float(np.abs((b.affine - a.affine)[:3] @ corners).max())
        raise DataError(
            b.path,
            f"{what}: not on the grid of {a.path.name} (affines differ by up to {shift:.2f} "
            f"voxels, {world:.2f} mm; {b.codes} vs {a.codes}): the files are not "
            "co-registered; resample one onto the other first",
        )


def label_values(path: PathLike, *, ndim: tuple[int, ...] = (3,)) -> tuple[np.ndarray, Grid]:
    """The distinct values of a label map (integers), with its grid; refuses non-integer labels.

    Raises:
        DataError: a value that is not a finite integer (names the file and the value).
    """
    data, grid = load_ras(path, dtype=None, ndim=ndim, finite=False)
    values = np.unique(data)
    if np.issubdtype(values.dtype, np.floating):
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        if bad.size:
            raise DataError(grid.path, f"label map holds non-integer values (e.g. {bad[0]:g})")
    return values.astype(np.int64), grid


def display_slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` across RAS+ ``axis`` of ``volume``, rotated for display.

    ``numpy.rot90`` of the two remaining axes: an axial slice (axis 2) has anterior at the top and
    the subject's left -> right along the columns, a coronal one (axis 1) superior at the top and
    left -> right along the columns, a sagittal one (axis 0) superior at the top and posterior ->
    anterior along the columns.
    """
    return np.rot90(np.take(volume, index, axis=axis))
