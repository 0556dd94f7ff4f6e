"""Render a :class:`~mricompendium.data.fmri.stimuli.Scenes` table into RGB images.

Each category is an implicit shape ``inside(u, w) -> bool`` in object coordinates (``u`` right,
``w`` up, unit = the object's radius). Rendering is a pure function of the table: objects are
anti-aliased by 2x super-sampling, textures (stripes, dots) are laid out in image coordinates so
that "horizontally striped" stays horizontal whatever the object's rotation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from mricompendium.data.fmri.stimuli import (
    _BG_LEVEL,
    BACKGROUNDS,
    CATEGORIES,
    COLOURS,
    POSITIONS,
    SIZES,
    TEXTURES,
    Scenes,
)

__all__ = ["SHAPES", "render"]

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]
_S3 = np.sqrt(3.0)


def _rot(u: np.ndarray, w: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(a), np.sin(a)
    return c * u - s * w, s * u + c * w


def _cross(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    a, b = _rot(u, w, np.pi / 4)
    return _plus(a, b)


def _plus(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    au, aw = np.abs(u), np.abs(w)
    return ((au < 0.28) & (aw < 0.95)) | ((aw < 0.28) & (au < 0.95))


def _star(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    r, phi = np.hypot(u, w), np.arctan2(u, w)
    return r < 0.42 + 0.58 * ((1 + np.cos(5 * phi)) / 2) ** 2


def _heart(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    x, y = 1.15 * u, 1.15 * w + 0.15
    return (x * x + y * y - 1) ** 3 - x * x * y**3 < 0


def _polygon(n: int, r: float = 0.95) -> Inside:
    def inside(u: np.ndarray, w: np.ndarray) -> np.ndarray:
        phi = np.arctan2(u, w)
        sector = 2 * np.pi / n
        local = (phi + sector / 2) % sector - sector / 2
        return np.hypot(u, w) * np.cos(local) < r * np.cos(np.pi / n)

    return inside


SHAPES: dict[str, Inside] = {
    "circle": lambda u, w: u * u + w * w < 0.9,
    "ring": lambda u, w: (u * u + w * w < 0.95) & (u * u + w * w > 0.3),
    "square": lambda u, w: np.maximum(np.abs(u), np.abs(w)) < 0.78,
    "frame": lambda u, w: (
        (np.maximum(np.abs(u), np.abs(w)) < 0.85) & (np.maximum(np.abs(u), np.abs(w)) > 0.5)
    ),
    "triangle": lambda u, w: (w > -0.6) & (w < 0.95 - _S3 * np.abs(u)),
    "diamond": lambda u, w: np.abs(u) + np.abs(w) < 1.0,
    "cross": _cross,
    "plus": _plus,
    "star": _star,
    "hexagon": _polygon(6),
    "crescent": lambda u, w: (u * u + w * w < 0.95) & ((u - 0.45) ** 2 + w * w > 0.55),
    "heart": _heart,
    "arrow": lambda u, w: (
        ((np.abs(w) < 0.22) & (u > -0.95) & (u < 0.2))
        | ((u >= 0.2) & (u < 0.95) & (np.abs(w) < 0.8 * (0.95 - u) / 0.75))
    ),
    "bar": lambda u, w: (np.abs(u) < 0.95) & (np.abs(w) < 0.3),
    "ellipse": lambda u, w: u * u + (w / 0.5) ** 2 < 0.9,
    "semicircle": lambda u, w: (u * u + (w + 0.35) ** 2 < 0.95) & (w > -0.35),
    "pentagon": _polygon(5),
    "hourglass": lambda u, w: (np.abs(w) < 0.9) & (np.abs(u) < 0.12 + 0.75 * np.abs(w)),
    "tee": lambda u, w: (
        ((np.abs(u) < 0.9) & (w > 0.45) & (w < 0.9))
        | ((np.abs(u) < 0.22) & (w > -0.9) & (w <= 0.45))
    ),
    "trapezoid": lambda u, w: (np.abs(w) < 0.6) & (np.abs(u) < 0.65 + 0.35 * (-w / 0.6)),
}
assert tuple(SHAPES) == CATEGORIES


def _pattern(texture: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Texture in image coordinates: 1 where the surface is darkened."""
    period = 0.25
    if texture == "horizontally striped":
        return (np.floor(y / (period / 2)) % 2).astype(np.float32)
    if texture == "vertically striped":
        return (np.floor(x / (period / 2)) % 2).astype(np.float32)
    if texture == "dotted":
        dx = (x % period) - period / 2
        dy = (y % period) - period / 2
        return (dx * dx + dy * dy < 0.07**2).astype(np.float32)
    return np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)


def _backgrounds(s: Scenes, size: int) -> np.ndarray:
    """Background images ``(N, 3, size, size)``: flat, graded or smoothed-noise grey, tinted."""
    n = len(s)
    level = np.array([_BG_LEVEL[b] for b in BACKGROUNDS], np.float32)[s.background]
    img = np.broadcast_to(level[:, None, None], (n, size, size)).copy()
    graded = s.background == BACKGROUNDS.index("graded")
    ramp = 0.15 + 0.7 * (np.arange(size, dtype=np.float32) + 0.5) / size
    img[graded] = ramp[None, :, None]
    noisy = np.flatnonzero(s.background == BACKGROUNDS.index("noisy"))
    if noisy.size:
        noise = np.stack(
            [
                np.random.default_rng(int(s.noise_seed[i])).standard_normal((size, size))
                for i in noisy
            ]
        )
        smooth = ndimage.gaussian_filter(noise, sigma=(0, size / 32, size / 32), mode="wrap")
        smooth /= smooth.std(axis=(1, 2), keepdims=True) + 1e-8
        img[noisy] += 0.12 * smooth.astype(np.float32)
    out = img[:, None] + s.tint.astype(np.float32)[:, :, None, None]
    return np.clip(out, 0.0, 1.0)


def _alpha(s: Scenes, rows: np.ndarray, k: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Super-sampled coverage ``(n, 2S, 2S)`` of object slot ``k`` of scenes ``rows``."""
    pos = np.array([POSITIONS[p] for p in POSITIONS])[s.position[rows, k]]
    centre = pos + s.offset[rows, k]
    radius = np.array(list(SIZES.values()))[s.size[rows, k]]
    if k > 0:
        radius = radius * 0.75
    cx, cy, r = (a[:, None, None].astype(np.float32) for a in (centre[:, 0], centre[:, 1], radius))
    u, w = (x[None] - cx) / r, -(y[None] - cy) / r
    out = np.zeros(u.shape, np.float32)
    for c in np.unique(s.category[rows, k]):
        sel = s.category[rows, k] == c
        a = s.rotation[rows[sel], k][:, None, None].astype(np.float32)
        uu, ww = _rot(u[sel], w[sel], a)
        out[sel] = SHAPES[CATEGORIES[c]](uu, ww)
    return out


def render(scenes: Scenes, size: int = 32) -> np.ndarray:
    """Render scenes into images.

    Args:
        scenes: the attribute table.
        size: image side in pixels (the image spans [-1, 1] in both directions).

    Returns:
        float32 ``(N, 3, size, size)`` RGB in ``[0, 1]``.
    """
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    fine = (np.arange(2 * size, dtype=np.float32) + 0.5) / size - 1.0
    x, y = np.meshgrid(fine, fine)
    images = _backgrounds(scenes, size)
    palette = np.array(list(COLOURS.values()), np.float32)
    for k in range(scenes.category.shape[1]):
        rows = np.flatnonzero(scenes.category[:, k] >= 0)
        if rows.size == 0:
            continue
        alpha = _alpha(scenes, rows, k, x, y)
        for t, texture in enumerate(TEXTURES):
            sel = scenes.texture[rows, k] == t
            if not sel.any():
                continue
            shade = 1.0 - 0.55 * _pattern(texture, x, y)
            colour = palette[scenes.colour[rows[sel], k]][:, :, None, None] * shade
            a = alpha[sel][:, None]
            fine_bg = np.repeat(np.repeat(images[rows[sel]], 2, axis=2), 2, axis=3)
            m = a * colour + (1 - a) * fine_bg
            images[rows[sel]] = 0.25 * (
                m[..., 0::2, 0::2] + m[..., 1::2, 0::2] + m[..., 0::2, 1::2] + m[..., 1::2, 1::2]
            )
    return images
