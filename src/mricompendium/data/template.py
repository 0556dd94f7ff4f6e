"""The MNI ICBM152 2009a template in 3D: T1, tissue probabilities and brain mask, at a spacing.

nilearn ships the template inside its package (loaded offline). It is the average of many real
scans: smooth, skull-stripped and noise-free, so families that need variety (label-map synthesis,
registration pairs) build it on top of this one anatomy and say so. CSF is taken as
``brain mask - GM - WM`` (clipped to [0, 1]).

Arrays are float32 ``(X, Y, Z)`` in RAS+ voxel order (x: left -> right, y: posterior -> anterior,
z: inferior -> superior), which is the template's own orientation; ``affine`` maps voxel indices
to MNI millimetres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Template", "mni152"]

NATIVE_MM = 1.0


@dataclass(frozen=True)
class Template:
    """The template at one spacing.

    Attributes:
        t1: float32 ``(X, Y, Z)`` T1-weighted intensities in [0, 1].
        gm: float32 grey-matter probability in [0, 1].
        wm: float32 white-matter probability in [0, 1].
        csf: float32 ``mask - gm - wm`` clipped to [0, 1].
        mask: bool brain mask.
        affine: float64 ``(4, 4)`` voxel -> MNI mm.
        spacing_mm: isotropic voxel size.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    spacing_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.t1.shape)  # type: ignore[return-value]

    def tissue(self) -> np.ndarray:
        """float32 ``(3, X, Y, Z)`` CSF, GM, WM probabilities (the embedded slices' order)."""
        return np.stack([self.csf, self.gm, self.wm])


def _resample(x: np.ndarray, factor: float, order: int) -> np.ndarray:
    if factor == 1.0:
        return x
    return ndimage.zoom(x, 1.0 / factor, order=order, mode="nearest", grid_mode=True)


@functools.cache
def mni152(spacing_mm: float = 2.0) -> Template:
    """The template resampled to ``spacing_mm`` (cached per spacing; read-only arrays).

    Args:
        spacing_mm: isotropic voxel size in mm, >= 1 (1 mm is the native 197 x 233 x 189 grid;
            2 mm gives 98 x 116 x 94, 4 mm 49 x 58 x 47).

    Returns:
        A :class:`Template`.
    """
    if not np.isfinite(spacing_mm) or spacing_mm < NATIVE_MM:
        raise ValueError(f"spacing_mm must be >= {NATIVE_MM}, got {spacing_mm}")
    from nilearn import datasets  # imported lazily: nilearn is slow to import

    imgs = {
        "t1": datasets.load_mni152_template(resolution=1),
        "gm": datasets.load_mni152_gm_template(resolution=1),
        "wm": datasets.load_mni152_wm_template(resolution=1),
        "mask": datasets.load_mni152_brain_mask(resolution=1),
    }
    factor = float(spacing_mm) / NATIVE_MM
    arr = {k: np.asarray(v.get_fdata(), dtype=np.float32) for k, v in imgs.items()}
    out = {k: np.clip(_resample(arr[k], factor, 1), 0, 1) for k in ("t1", "gm", "wm")}
    mask = _resample(arr["mask"], factor, 1) > 0.5
    gm, wm = out["gm"] * mask, out["wm"] * mask
    csf = np.clip(mask.astype(np.float32) - gm - wm, 0, 1)
    affine = imgs["t1"].affine.copy()
    affine[:3, :3] *= factor
    fields = {"t1": out["t1"], "gm": gm, "wm": wm, "csf": csf, "mask": mask}
    for v in fields.values():
        v.setflags(write=False)
    return Template(**fields, affine=affine, spacing_mm=float(spacing_mm))
