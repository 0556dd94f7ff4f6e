"""Object-level tuning of higher visual areas, computed from a scene's attributes alone.

Ventral visual cortex responds to objects: to their shape (lateral occipital and ventral temporal
cortex hold category-selective patches, and a neuron's shape preference is well described as
tuning in a low-dimensional shape space; Op de Beeck et al. 2001, Bao et al. 2020), to their
colour (hV4 and ventral colour patches) and surface texture, wherever the object falls inside a
large receptive field. This module gives the simulator that **object pathway** without going
through any learnt representation:

* :func:`shape_descriptors`: a shape space of the categories, geometric measures of each
  category's silhouette (area, solidity, holes, elongation, compactness, radial-frequency
  amplitudes), computed once from the renderer's shape definitions and standardised;
* :func:`object_layout`: where each object of a scene lies in the visual field and how large it
  is, in degrees, from the attribute table;
* :func:`prf_coverage`: the fraction of a Gaussian pRF that falls on a disc-shaped object (the
  non-central chi-square distribution with two degrees of freedom, exact);
* :data:`HUES`: the hue angle of each named colour.

Nothing here reads a rendered image's pixels or any embedding of the scene: the inputs are the
attribute table (:class:`~mricompendium.data.fmri.stimuli.Scenes`) and the shape definitions.
"""

from __future__ import annotations

import colorsys
import functools

import numpy as np
from scipy import ndimage, spatial, special

from mricompendium.data.fmri.render import SHAPES
from mricompendium.data.fmri.stimuli import CATEGORIES, COLOURS, POSITIONS, SIZES, Scenes

__all__ = [
    "HUES",
    "SHAPE_FEATURES",
    "object_layout",
    "prf_coverage",
    "shape_descriptors",
]

SHAPE_FEATURES: tuple[str, ...] = (
    "area", "solidity", "holes", "elongation", "compactness",
    "radial frequency 2", "radial frequency 3", "radial frequency 4", "radial frequency 5",
    "radial frequency 6",
)  # fmt: skip
HUES: np.ndarray = np.array(
    [2 * np.pi * colorsys.rgb_to_hsv(*rgb)[0] for rgb in COLOURS.values()], np.float64
)
_SECOND_SCALE = 0.75  # a second object is drawn at 3/4 of its named size (see render)


def _radial_profile(filled: np.ndarray, n_angles: int = 128) -> np.ndarray:
    """Outer radius of a filled silhouette along ``n_angles`` rays from its centroid (pixels)."""
    cy, cx = ndimage.center_of_mass(filled)
    phi = 2 * np.pi * np.arange(n_angles) / n_angles
    r = np.arange(0.0, float(max(filled.shape)), 0.25)
    ys = cy + r[None, :] * np.sin(phi)[:, None]
    xs = cx + r[None, :] * np.cos(phi)[:, None]
    inside = ndimage.map_coordinates(filled.astype(np.float32), [ys, xs], order=0, cval=0.0) > 0.5
    last = np.where(inside.any(1), inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1), 0)
    return r[last]


def _describe_shape(mask: np.ndarray) -> list[float]:
    """The :data:`SHAPE_FEATURES` of one binary silhouette on a square grid."""
    filled = ndimage.binary_fill_holes(mask)
    area, full = float(mask.sum()), float(filled.sum())
    pts = np.argwhere(filled).astype(np.float64)
    hull = spatial.ConvexHull(pts)
    hull_area = hull.volume + 0.5 * hull.area + np.pi / 4  # the hull of whole pixels, not centres
    cov = np.cov(pts.T)
    lo, hi = np.linalg.eigvalsh(cov)
    edge = mask & ~ndimage.binary_erosion(mask)
    profile = _radial_profile(filled)
    spectrum = np.abs(np.fft.rfft(profile / profile.mean())) / len(profile)
    return [
        area / (np.pi / 4 * mask.shape[0] ** 2),
        full / hull_area,
        (full - area) / full,
        1.0 - np.sqrt(lo / hi),
        float(edge.sum()) ** 2 / (4 * np.pi * area),
        *spectrum[2:7].tolist(),
    ]


@functools.lru_cache(maxsize=4)
def shape_descriptors(grid: int = 161) -> np.ndarray:
    """Each category's position in shape space: ``(C, F)`` float64, standardised per feature.

    The silhouette of each category (unrotated, unit radius) is sampled on a ``grid x grid``
    raster of ``[-1, 1]^2``; its :data:`SHAPE_FEATURES` are z-scored across the categories, so
    that every feature counts alike and distances are in units of the spread of the shape set.
    Rows follow :data:`~mricompendium.data.fmri.stimuli.CATEGORIES`; read-only.
    """
    c = (np.arange(grid) + 0.5) / grid * 2.0 - 1.0
    u, w = np.meshgrid(c, -c)
    raw = np.array([_describe_shape(SHAPES[name](u, w)) for name in CATEGORIES], np.float64)
    out = (raw - raw.mean(0)) / (raw.std(0) + 1e-12)
    out.flags.writeable = False
    return out


def object_layout(scenes: Scenes, fov_deg: float) -> dict[str, np.ndarray]:
    """Where the objects of each scene lie: ``(N, K)`` arrays per object slot.

    Returns:
        ``present`` (bool), ``x_deg``, ``y_deg`` (centre; x right, y down, 0 at fixation),
        ``radius_deg`` (the object's radius), and the attribute indices ``category``,
        ``colour``, ``texture`` (``-1`` where no object).
    """
    present = scenes.category >= 0
    pos = np.array(list(POSITIONS.values()), np.float64)[np.where(present, scenes.position, 0)]
    centre = (pos + scenes.offset) * fov_deg / 2.0
    radius = np.array(list(SIZES.values()), np.float64)[np.where(present, scenes.size, 0)]
    radius = radius * np.where(np.arange(present.shape[1]) > 0, _SECOND_SCALE, 1.0)
    return {
        "present": present,
        "x_deg": centre[..., 0],
        "y_deg": centre[..., 1],
        "radius_deg": np.where(present, radius * fov_deg / 2.0, 0.0),
        "category": scenes.category,
        "colour": scenes.colour,
        "texture": scenes.texture,
    }


def prf_coverage(
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    sigma_deg: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
) -> np.ndarray:
    """Fraction of each Gaussian pRF that falls on each disc: ``(N, V)``.

    Args:
        x_deg, y_deg, sigma_deg: ``(V,)`` pRF centres and sizes (Gaussian SD), degrees.
        cx, cy, radius: ``(N,)`` disc centres and radii, degrees (radius 0: no object, 0).

    The integral of an isotropic Gaussian over a disc at distance ``d`` from its centre is the
    cumulative distribution of a non-central chi-square with two degrees of freedom at
    ``(radius / sigma)^2`` with non-centrality ``(d / sigma)^2``.
    """
    s2 = np.asarray(sigma_deg, np.float64)[None, :] ** 2
    d2 = (np.asarray(cx)[:, None] - x_deg[None, :]) ** 2 + (np.asarray(cy)[:, None] - y_deg) ** 2
    return special.chndtr(np.asarray(radius)[:, None] ** 2 / s2, 2.0, d2 / s2)
