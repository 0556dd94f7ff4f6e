"""Midsagittal vocal-tract outlines -> MR-like real-time MRI frames (numpy only).

The image is built at ``supersample`` times the final resolution and averaged down, so that edges
get partial-volume values, then blurred (the point-spread function of an undersampled spiral
acquisition), shaded by a smooth receive-coil sensitivity, corrupted with Rician noise (magnitude of
a complex Gaussian) and quantised to 8 bits like the published rtMRI videos. Tissue is bright, air
dark, bone (hard palate, vertebral bodies) intermediate-dark.

What is in a frame, in VocalTractLab coordinates (cm; the lips at +x, the larynx at -y):

* moving, from the outlines of the tract state: the tissue above/behind the upper outline (palate,
  velum, posterior pharynx wall), below/in front of the lower outline (floor of the mouth, jaw,
  anterior larynx), the tongue, the epiglottis; the face profile in front of the lips (nose and chin
  follow the lips); everything else between the outlines is the airway, open into the trachea;
* static per speaker: a smooth tissue texture, the hard-palate bone, the nasal cavity, the cervical
  vertebrae, the back of the neck, and the coil sensitivity.

This is a drawing of an articulatory model, not an MR simulation: there is no k-space, no flow, no
susceptibility artefact at air-tissue boundaries, and no teeth or mandible bone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

__all__ = ["Appearance", "FrameGeometry", "SpeakerScene", "lip_aperture_cm", "render_frame"]

_FAR = 60.0  # cm: closing points of half-plane polygons lie outside the field of view


@dataclasses.dataclass(frozen=True)
class FrameGeometry:
    """Image grid: ``size`` x ``size`` pixels of ``pixel_mm``; the face looks to the image left.

    Attributes:
        size: pixels per side (84 as in the USC 75-speaker set).
        pixel_mm: pixel spacing in mm (2.4 mm there).
        center_cm: VocalTractLab (x, y) at the image centre.
        supersample: sub-pixels per pixel side for partial-volume edges.
    """

    size: int = 84
    pixel_mm: float = 2.4
    center_cm: tuple[float, float] = (1.2, -3.0)
    supersample: int = 3

    def __post_init__(self) -> None:
        if self.size < 8 or self.supersample < 1 or self.pixel_mm <= 0:
            raise ValueError(f"invalid frame geometry {self}")

    @property
    def fov_cm(self) -> float:
        return self.size * self.pixel_mm / 10.0

    def to_hires(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) on the supersampled grid of VocalTractLab points ``(n, 2)`` in cm."""
        step = self.pixel_mm / 10.0 / self.supersample
        n = self.size * self.supersample
        cols = (self.center_cm[0] - xy[:, 0]) / step + n / 2 - 0.5  # face to the left
        rows = (self.center_cm[1] - xy[:, 1]) / step + n / 2 - 0.5
        return rows, cols


@dataclasses.dataclass(frozen=True)
class Appearance:
    """Intensities (tissue ~ 1) and degradations of the MR-like frames."""

    tissue: float = 0.78
    tongue: float = 0.92
    air: float = 0.02
    bone: float = 0.22
    texture: float = 0.08  # std of the smooth multiplicative tissue texture
    blur_px: float = 0.6  # Gaussian sigma, pixels
    coil_floor: float = 0.45  # darkest relative coil sensitivity
    noise_sigma: float = 0.05  # Rician noise std, relative to tissue ~ 1
    white: float = 1.15  # intensity mapped to 255


def _mask(geom: FrameGeometry, xy: np.ndarray) -> np.ndarray:
    """Fill a polygon given in cm; vertices far outside the image are pulled in to a box just
    outside it (the far closing edges are axis-parallel, so nothing inside the image moves)."""
    n = geom.size * geom.supersample
    c, far = np.asarray(geom.center_cm), geom.fov_cm / 2 + 1.0
    rows, cols = geom.to_hires(np.clip(np.asarray(xy, dtype=np.float64), c - far, c + far))
    img = Image.new("1", (n, n), 0)
    ImageDraw.Draw(img).polygon(list(zip(cols.tolist(), rows.tolist(), strict=True)), fill=1)
    return np.asarray(img, dtype=bool)


def _upper_tissue(up: np.ndarray) -> np.ndarray:
    """Everything above/behind the upper outline (larynx -> lips), as one closed polygon."""
    start, end = up[0], up[-1]
    return np.vstack(
        [up, [[_FAR, end[1]], [_FAR, _FAR], [-_FAR, _FAR], [-_FAR, -_FAR], [start[0], -_FAR]]]
    )


def _lower_tissue(lo: np.ndarray) -> np.ndarray:
    """Everything below/in front of the lower outline (larynx -> lips)."""
    start, end = lo[0], lo[-1]
    return np.vstack([lo, [[_FAR, end[1]], [_FAR, -_FAR], [start[0], -_FAR]]])


def _tongue_body(tongue: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The tongue outline closed along the floor of the mouth (the lower outline beneath it)."""
    i_tip = int(np.argmin(np.hypot(*(lower - tongue[-1]).T)))
    i_root = int(np.argmin(np.hypot(*(lower - tongue[0]).T)))
    lo, hi = sorted((i_root, i_tip))
    floor = lower[lo : hi + 1][::-1] if i_tip >= i_root else lower[lo : hi + 1]
    return np.vstack([tongue, floor])


def _face(up_end: np.ndarray, lo_end: np.ndarray) -> np.ndarray:
    """Outside air in front of the face: nose above the upper lip, chin below the lower lip."""
    xu, yu = up_end
    xl, yl = lo_end
    profile = [
        (xu + 0.9, _FAR),
        (xu + 0.9, yu + 4.0),
        (xu + 1.8, yu + 2.2),
        (xu + 0.6, yu + 1.4),
        (xu + 0.2, yu + 0.3),
        (xl + 0.2, yl - 0.3),
        (xl - 0.2, yl - 1.2),
        (xl + 0.2, yl - 2.6),
        (xl - 1.0, yl - 3.8),
        (xl - 3.5, yl - 4.2),
        (xl - 4.0, -_FAR),
    ]
    return np.vstack([profile, [[_FAR, -_FAR], [_FAR, _FAR]]])


class SpeakerScene:
    """The static part of one speaker's frames, built once from the speaker's neutral outlines.

    Args:
        neutral: outlines of a neutral tract state of this speaker (``vtl.outlines``).
        geom: the image grid.
        look: intensities and degradations.
        rng: draws the tissue texture and the coil placement.
    """

    def __init__(
        self,
        neutral: dict[str, np.ndarray],
        geom: FrameGeometry,
        look: Appearance,
        rng: np.random.Generator,
    ) -> None:
        self.geom, self.look = geom, look
        n = geom.size * geom.supersample
        noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), sigma=2.0 * geom.supersample)
        self.texture = 1.0 + look.texture * noise / (noise.std() + 1e-12)
        base = look.tissue * self.texture
        up = neutral["upper"]
        wall_x = float(up[: max(3, len(up) // 4), 0].mean())  # posterior pharynx wall
        base[self._vertebrae(wall_x, float(up[0, 1]))] = look.bone * 1.6
        base[_mask(geom, self._nasal_cavity(up))] = look.air * 3
        base[_mask(geom, self._palate_bone(up))] = look.bone
        back = np.array(
            [
                [wall_x - 5.2, -_FAR],
                [wall_x - 5.6, 2.0],
                [wall_x - 4.6, _FAR],
                [-_FAR, _FAR],
                [-_FAR, -_FAR],
            ]
        )
        base[_mask(geom, back)] = look.air
        self.base = base
        self.coil = self._coil_field(rng, wall_x, float(up[-1, 0]))

    def _vertebrae(self, wall_x: float, y0: float) -> np.ndarray:
        m = np.zeros_like(self.texture, dtype=bool)
        for k in range(6):
            y_lo = y0 - 1.0 + 1.7 * k
            body = np.array(
                [
                    [wall_x - 2.6, y_lo],
                    [wall_x - 1.0, y_lo],
                    [wall_x - 1.0, y_lo + 1.35],
                    [wall_x - 2.6, y_lo + 1.35],
                ]
            )
            m |= _mask(self.geom, body)
        return m

    @staticmethod
    def _palate_points(up: np.ndarray) -> np.ndarray:
        x_lo, x_hi = up[:, 0].min(), up[:, 0].max()
        sel = (up[:, 0] > x_lo + 0.45 * (x_hi - x_lo)) & (up[:, 0] < x_hi - 1.6)
        pts = up[sel]
        return pts if len(pts) >= 2 else up[-4:]

    def _palate_bone(self, up: np.ndarray) -> np.ndarray:
        pts = self._palate_points(up)
        return np.vstack([pts + [0.0, 0.15], (pts + [0.0, 0.65])[::-1]])

    def _nasal_cavity(self, up: np.ndarray) -> np.ndarray:
        pts = self._palate_points(up)
        cx, cy = pts[:, 0].mean() - 0.8, pts[:, 1].max() + 1.7
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        return np.column_stack([cx + 2.6 * np.cos(t), cy + 0.85 * np.sin(t)])

    def _coil_field(self, rng: np.random.Generator, back_x: float, front_x: float) -> np.ndarray:
        g = self.geom
        centre = np.array(g.center_cm)
        ys = centre[1] + (np.arange(g.size)[:, None] - g.size / 2 + 0.5) * g.pixel_mm / 10
        xs = centre[0] - (np.arange(g.size)[None, :] - g.size / 2 + 0.5) * g.pixel_mm / 10
        field = np.zeros((g.size, g.size))
        for x0 in (front_x + 2.0, back_x - 6.0):
            for _ in range(2):
                y0 = centre[1] + rng.uniform(-6.0, 6.0)
                field += np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * 6.0**2))
        field /= field.max()
        return self.look.coil_floor + (1.0 - self.look.coil_floor) * field


def render_frame(
    outl: dict[str, np.ndarray], scene: SpeakerScene, rng: np.random.Generator
) -> np.ndarray:
    """One MR-like frame ``(size, size)`` uint8 from a tract state's outlines.

    Args:
        outl: ``vtl.outlines`` of the state at the frame's time.
        scene: the speaker's static layers.
        rng: draws this frame's noise.
    """
    g, look = scene.geom, scene.look
    up, lo = outl["upper"], outl["lower"]
    tissue = _mask(g, _upper_tissue(up)) | _mask(g, _lower_tissue(lo))
    tongue = _mask(g, _tongue_body(outl["tongue"], lo))
    tissue |= tongue | _mask(g, outl["epiglottis"])
    img = np.where(tissue, scene.base, look.air)
    img[tongue & (scene.base > look.bone * 2)] = (
        look.tongue * scene.texture[tongue & (scene.base > look.bone * 2)]
    )
    img[_mask(g, _face(up[-1], lo[-1]))] = look.air
    s = g.supersample
    img = img.reshape(g.size, s, g.size, s).mean(axis=(1, 3))
    img = ndimage.gaussian_filter(img, look.blur_px) * scene.coil
    noisy = np.hypot(
        img + look.noise_sigma * rng.standard_normal(img.shape),
        look.noise_sigma * rng.standard_normal(img.shape),
    )
    return np.clip(np.round(noisy * 255.0 / look.white), 0, 255).astype(np.uint8)


def lip_aperture_cm(outl: dict[str, np.ndarray], span: int = 6) -> float:
    """Vertical lip opening (cm; 0 when the lips touch or press): the smallest gap between the
    upper and lower lip outlines (their last ``span`` points) over their common x extent."""
    up, lo = outl["upper"][-span:], outl["lower"][-span:]
    up, lo = up[np.argsort(up[:, 0])], lo[np.argsort(lo[:, 0])]
    x0, x1 = max(up[0, 0], lo[0, 0]), min(up[-1, 0], lo[-1, 0])
    if x1 <= x0:  # no common extent: fall back to the closest pair of points
        gap = np.hypot(*(up[:, None, :] - lo[None, :, :]).transpose(2, 0, 1)).min()
        return float(gap)
    xs = np.linspace(x0, x1, 16)
    gap = np.interp(xs, up[:, 0], up[:, 1]) - np.interp(xs, lo[:, 0], lo[:, 1])
    return float(max(0.0, gap.min()))
