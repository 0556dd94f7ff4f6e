"""A real inter-subject 2D pair: the MNI template's coronal slice -> dipy's real T1 coronal slice.

The fixed image is dipy's ``t1_coronal_slice`` (one real, skull-stripped T1-weighted coronal slice
of one subject; its pixel size is not recorded), as stored in the embedded data
(:func:`mricompendium.data.load_slices` ``("real")``, first slice). The moving image is the
coronal slice of the MNI ICBM152 template that best matches it (highest correlation after both
are cropped to their brain's bounding box and resampled to one grid): an atlas-to-subject pair of
two *different* brains, in the same orientation (superior at the top; dipy's left-right
convention is not recorded, the brain being near-symmetric this matters little).

Labels: the template's CSF / GM / WM (argmax of its tissue probabilities); for the real slice a
three-class Otsu thresholding of intensities inside its brain mask (an automatic segmentation,
not a manual one). Grey-matter parcels have no counterpart on the real slice, so this pair is
scored on three tissue classes only. There is no ground-truth displacement.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.embedded import load_slices
from mricompendium.data.registration.anatomy import CSF, WM, brain_slices

__all__ = ["REAL_PAIR_DESCRIPTION", "GM", "real_pair", "tissue_classes"]

GM = 3  # tissue label of grey matter in the three-class maps of this pair (1 CSF, 2 WM, 3 GM)
REAL_PAIR_DESCRIPTION = (
    "real inter-subject pair: MNI ICBM152 template coronal slice (moving) -> dipy's real T1 "
    "coronal slice of one subject (fixed); labels CSF/GM/WM (template tissue maps vs an Otsu "
    "segmentation of the real slice)"
)


def tissue_classes(labels: torch.Tensor) -> torch.Tensor:
    """Merge grey-matter parcels (labels >= 3) into one GM label ``3``; CSF 1, WM 2 kept."""
    out = labels.clone()
    out[labels >= 3] = GM
    return out


def _square_crop_resize(
    mask: np.ndarray, size: int, *images: np.ndarray, order: tuple[int, ...] = (), margin: int = 2
) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Crop ``images`` to the square around ``mask`` (plus a margin) and resample to ``size``."""
    idx = np.argwhere(mask)
    lo, hi = idx.min(0) - margin, idx.max(0) + 1 + margin
    side = int((hi - lo).max())
    c = (lo + hi) // 2
    sl = tuple(slice(int(ci - side // 2 + side), int(ci - side // 2 + 2 * side)) for ci in c)
    zoom = size / side
    out = []
    for img, o in zip((*images, mask.astype(np.float32)), (*order, 1), strict=False):
        z = ndimage.zoom(np.pad(img, side)[sl], zoom, order=o, grid_mode=True, mode="nearest")
        out.append(z[:size, :size])
    return out[:-1], out[-1] > 0.5, side


def _normalise(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    scale = np.percentile(img[mask], 99.0) if mask.any() else 1.0
    return np.clip(img / max(scale, 1e-6), 0.0, 1.2) * mask


def _otsu3(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_multiotsu

    t = threshold_multiotsu(img[mask], classes=3)
    lab = np.zeros(img.shape, dtype=np.int64)
    lab[mask & (img <= t[0])] = CSF
    lab[mask & (img > t[0]) & (img <= t[1])] = GM
    lab[mask & (img > t[1])] = WM
    return lab


def real_pair(size: int = 48, *, y_range_mm: tuple[float, float] = (-60.0, 30.0)) -> dict:
    """The real pair on a ``size x size`` grid, in the layout of :meth:`PairGenerator.sample`.

    Returns:
        ``moving``, ``fixed`` ``(1, 1, size, size)``; ``moving_labels``, ``fixed_labels`` with
        1 CSF, 2 WM, 3 GM; ``fixed_mask``; ``spacing_mm`` (of the real slice, assuming its
        unrecorded pixel size is 1 mm at 256 x 256, i.e. 2 mm in the embedded 128 x 128 copy);
        ``template_y_mm`` (the MNI slice chosen); ``description``.
    """
    real = load_slices("real")
    k = real.names.index("dipy_t1_coronal_slice")
    (fixed,), fmask, side = _square_crop_resize(real.masks[k], size, real.images[k], order=(1,))
    fixed = _normalise(fixed, fmask)
    ys = np.arange(y_range_mm[0], y_range_mm[1] + 1e-6, 2.0)
    atlas = brain_slices(128, y_mm=ys, n_parcels=1)
    candidates = []
    for img, lab, m in zip(
        atlas.images[:, 0].numpy(),
        atlas.labels[:, 0].numpy(),
        atlas.masks[:, 0].numpy(),
        strict=True,
    ):
        (img_s, lab_s), m_s, _ = _square_crop_resize(m, size, img, lab, order=(1, 0))
        img_s = _normalise(img_s, m_s)
        candidates.append((np.corrcoef(img_s.ravel(), fixed.ravel())[0, 1], img_s, lab_s, m_s))
    best = int(np.nanargmax([c[0] for c in candidates]))
    _, moving, moving_labels, _ = candidates[best]

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x))[None, None]

    return {
        "moving": t(moving.astype(np.float32)),
        "fixed": t(fixed.astype(np.float32)),
        "moving_labels": tissue_classes(t(moving_labels.astype(np.int64))),
        "fixed_labels": t(_otsu3(fixed, fmask)),
        "fixed_mask": t(fmask),
        "spacing_mm": 2.0 * side / size,
        "template_y_mm": float(ys[best]),
        "description": REAL_PAIR_DESCRIPTION,
    }
