"""Synthetic focal lesions, and the contrast measure that checks a reconstruction keeps them.

No lesion labels ship offline, so notebooks insert them: a smooth-edged ellipse whose intensity is
the local tissue intensity times ``1 + contrast`` (hyper-intense for ``contrast > 0``,
hypo-intense for ``contrast < 0``), placed inside the brain mask away from its border.

Lesion size scales with the image: semi-axes are a fraction ``radius`` of the image side (the
default, 1/16 to 9/64, is 4 to 9 pixels at 64 x 64), so the same parameter gives the same
anatomical size at 32 or 320 pixels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from mricompendium.data.errors import DataError

RADIUS = (0.0625, 0.140625)  # semi-axes as fractions of the image side: 4 to 9 px at 64 x 64
EDGE_PX = 1.5  # width of the smooth (raised-cosine) edge
MARGIN_PX = 2.0  # least distance between the lesion's edge and the mask border


def insert_lesion(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    seed: int,
    radius: tuple[float, float] = RADIUS,
    radius_px: tuple[float, float] | None = None,
    contrast: float = 0.5,
    source: str = "image",
) -> tuple[np.ndarray, np.ndarray]:
    """Insert one elliptical lesion with a smooth edge into a magnitude image.

    The semi-axes are drawn uniformly from ``radius`` times the image side (or from
    ``radius_px``; a semi-axis larger than the mask has room for is shrunk to fit, down to the
    smallest radius), the orientation uniformly, and the centre
    uniformly among mask pixels farther than ``max semi-axis + edge + 2`` pixels from the
    mask border, so the lesion lies inside the mask without touching its border. Inside the
    lesion the image is replaced by ``(1 + contrast) * local``, ``local`` being the mean of the
    original image over the lesion and the ring of :func:`lesion_contrast`, blended over a 1.5-pixel
    raised-cosine edge.

    Args:
        image: ``(H, W)`` real magnitude image.
        mask: ``(H, W)`` bool brain mask.
        seed: seed of the lesion's size, orientation and position.
        radius: ``(min, max)`` semi-axis as fractions of the image side ``min(H, W)``.
        radius_px: ``(min, max)`` semi-axis in pixels; overrides ``radius`` when given.
        contrast: relative intensity change; ``> -1``.
        source: the slice's name (e.g. ``"sub01.nii.gz_z080"``), named in errors.

    Returns:
        ``(image with the lesion (same dtype), lesion mask bool (H, W))``; the lesion mask is
        the ellipse itself (blend weight >= 0.5).

    Raises:
        ValueError: bad shapes or parameters.
        DataError: no room in the mask for the lesion (names ``source``).
    """
    img, m = _check_inputs(image, mask)
    lo, hi = lesion_radius_px(img.shape, radius=radius, radius_px=radius_px)
    if not math.isfinite(contrast) or contrast <= -1.0:
        raise ValueError(f"contrast must be a finite number > -1, got {contrast}")
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(lo, hi, size=2)
    theta = rng.uniform(0.0, math.pi)
    inner = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]  # image border counts
    room = float(inner.max()) - EDGE_PX - MARGIN_PX - 0.01  # largest semi-axis that fits
    if room < lo:
        given = f"radius_px {radius_px}" if radius_px is not None else f"radius {radius}"
        raise DataError(
            source,
            f"no room for a lesion of semi-axis {lo:.1f} px ({given} at {img.shape[0]}x"
            f"{img.shape[1]}) inside the mask (largest inner distance {inner.max():.1f} px, "
            f"needed {lo + EDGE_PX + MARGIN_PX:.1f}); use a smaller lesion radius",
        )
    a, b = min(a, room), min(b, room)
    candidates = np.argwhere(inner > max(a, b) + EDGE_PX + MARGIN_PX)
    cy, cx = candidates[rng.integers(len(candidates))]
    weight = _ellipse_weight(img.shape, (float(cy), float(cx)), (a, b), theta)
    lesion = weight >= 0.5
    local = float(img[lesion | _ring(lesion, 3, 1)].mean())
    out = (1.0 - weight) * img + weight * (1.0 + contrast) * local
    return out.astype(np.asarray(image).dtype, copy=False), lesion


def lesion_radius_px(
    shape: tuple[int, ...],
    *,
    radius: tuple[float, float] = RADIUS,
    radius_px: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """``(min, max)`` semi-axis in pixels for an image of ``shape`` ``(H, W)``.

    Raises:
        ValueError: not ``0 < min <= max`` (relative radii must also be < 0.5).
    """
    if radius_px is not None:
        lo, hi = (float(r) for r in radius_px)
        if not 0 < lo <= hi:
            raise ValueError(f"radius_px must be (min, max) with 0 < min <= max, got {radius_px}")
        return lo, hi
    lo, hi = (float(r) for r in radius)
    if not 0 < lo <= hi < 0.5:
        raise ValueError(f"radius must be (min, max) with 0 < min <= max < 0.5, got {radius}")
    side = min(shape[-2:])
    return lo * side, hi * side


def insert_lesions(
    images: np.ndarray,
    masks: np.ndarray,
    names: list[str] | tuple[str, ...],
    *,
    seed: int,
    radius: tuple[float, float] = RADIUS,
    contrast: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`insert_lesion` into each slice of ``(N, H, W)`` images, seeded ``seed + i``.

    Returns:
        ``(images with lesions, lesion masks)``, both ``(N, H, W)``.

    Raises:
        DataError: a slice has no room for its lesion (the message names it).
    """
    if len(images) != len(masks) or len(images) != len(names):
        raise ValueError(f"{len(images)} images, {len(masks)} masks and {len(names)} names differ")
    pairs = [
        insert_lesion(img, m, seed=seed + i, radius=radius, contrast=contrast, source=name)
        for i, (img, m, name) in enumerate(zip(images, masks, names, strict=True))
    ]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


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
