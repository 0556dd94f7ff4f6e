"""Synthetic focal lesions, and the contrast measure that checks a reconstruction keeps them.

No lesion labels ship offline, so notebooks insert them: a smooth-edged ellipse whose intensity is
the local tissue intensity times ``1 + contrast`` (hyper-intense for ``contrast > 0``,
hypo-intense for ``contrast < 0``), placed inside the brain mask away from its border.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

EDGE_PX = 1.5  # width of the smooth (raised-cosine) edge
MARGIN_PX = 2.0  # least distance between the lesion's edge and the mask border


def insert_lesion(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    seed: int,
    radius_px: tuple[float, float] = (4.0, 9.0),
    contrast: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Insert one elliptical lesion with a smooth edge into a magnitude image.

    The semi-axes are drawn uniformly from ``radius_px``, the orientation uniformly, and the centre
    uniformly among mask pixels farther than ``max semi-axis + edge + 2`` pixels from the
    mask border, so the lesion lies inside the mask without touching its border. Inside the
    lesion the image is replaced by ``(1 + contrast) * local``, ``local`` being the mean of the
    original image over the lesion and the ring of :func:`lesion_contrast`, blended over a 1.5-pixel
    raised-cosine edge.

    Args:
        image: ``(H, W)`` real magnitude image.
        mask: ``(H, W)`` bool brain mask.
        seed: seed of the lesion's size, orientation and position.
        radius_px: ``(min, max)`` semi-axis in pixels.
        contrast: relative intensity change; ``> -1``.

    Returns:
        ``(image with the lesion (same dtype), lesion mask bool (H, W))``; the lesion mask is
        the ellipse itself (blend weight >= 0.5).

    Raises:
        ValueError: bad shapes or parameters, or no room in the mask for the lesion.
    """
    img, m = _check_inputs(image, mask)
    lo, hi = (float(r) for r in radius_px)
    if not 0 < lo <= hi:
        raise ValueError(f"radius_px must be (min, max) with 0 < min <= max, got {radius_px}")
    if not math.isfinite(contrast) or contrast <= -1.0:
        raise ValueError(f"contrast must be a finite number > -1, got {contrast}")
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(lo, hi, size=2)
    theta = rng.uniform(0.0, math.pi)
    inner = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]  # image border counts
    candidates = np.argwhere(inner > max(a, b) + EDGE_PX + MARGIN_PX)
    if len(candidates) == 0:
        raise ValueError(
            f"no room for a lesion of semi-axes up to {max(a, b):.1f} px inside the mask "
            f"(largest inner distance {inner.max():.1f} px); use a smaller radius_px"
        )
    cy, cx = candidates[rng.integers(len(candidates))]
    weight = _ellipse_weight(img.shape, (float(cy), float(cx)), (a, b), theta)
    lesion = weight >= 0.5
    local = float(img[lesion | _ring(lesion, 3, 1)].mean())
    out = (1.0 - weight) * img + weight * (1.0 + contrast) * local
    return out.astype(np.asarray(image).dtype, copy=False), lesion


def lesion_contrast(
    image: np.ndarray, lesion_mask: np.ndarray, *, ring_px: int = 3, gap_px: int = 1
) -> float:
    """Mean intensity inside a lesion minus the mean in a surrounding ring.

    Args:
        image: ``(H, W)`` magnitude image (for example a reconstruction).
        lesion_mask: ``(H, W)`` bool lesion mask from :func:`insert_lesion`.
        ring_px: ring width in pixels (binary dilation steps).
        gap_px: pixels skipped between the lesion and the ring, so that the lesion's smooth
            edge does not leak into the background estimate.

    Returns:
        The contrast in the image's intensity units; compare it between the reference and a
        reconstruction to check the lesion survived.
    """
    img, m = _check_inputs(image, lesion_mask)
    if not m.any():
        raise ValueError("lesion_mask is empty")
    if ring_px < 1 or gap_px < 0:
        raise ValueError(f"need ring_px >= 1 and gap_px >= 0, got {ring_px}, {gap_px}")
    ring = _ring(m, ring_px, gap_px)
    if not ring.any():
        raise ValueError("the lesion fills the image: no ring around it")
    return float(img[m].mean() - img[ring].mean())


def _check_inputs(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    m = np.asarray(mask)
    if img.ndim != 2 or np.iscomplexobj(img):
        raise ValueError(f"image must be a real 2D array (H, W), got {img.dtype} {img.shape}")
    if m.shape != img.shape:
        raise ValueError(f"mask shape {m.shape} differs from image shape {img.shape}")
    if m.dtype != bool:
        raise TypeError(f"mask must be a bool array, got {m.dtype}")
    return img.astype(np.float64), m


def _ellipse_weight(
    shape: tuple[int, int], center: tuple[float, float], axes: tuple[float, float], theta: float
) -> np.ndarray:
    """Blend weight in [0, 1]: 1 inside the ellipse, a raised-cosine edge ``EDGE_PX`` wide."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    dy, dx = yy - center[0], xx - center[1]
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    rho = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)
    dist = (rho - 1.0) * min(axes)  # approximate signed distance to the edge, in pixels
    t = np.clip(dist / EDGE_PX + 0.5, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(math.pi * t))


def _ring(region: np.ndarray, width: int, gap: int) -> np.ndarray:
    """The pixels ``gap < distance <= gap + width`` dilation steps outside ``region``."""
    inner = ndimage.binary_dilation(region, iterations=gap) if gap else region
    return ndimage.binary_dilation(region, iterations=gap + width) & ~inner
