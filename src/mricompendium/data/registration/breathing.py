"""A breathing abdomen with sliding organs: coronal exhale and inhale frames at two resolutions.

No abdominal MRI ships offline, so this is a documented model of our own, analytic in continuous
coordinates (mm; a coronal slice, ``z`` superior -> inferior along the image rows, ``x`` along
the columns, origin at the image centre):

* **Anatomy** (end-exhale): the trunk (subcutaneous fat and a muscular wall of random
  thickness), the thoracic and abdominal cavity inside it with the lungs above the diaphragm
  domes (the right dome higher), the heart between them, the liver under the right dome with
  bright vessels, the spleen and the stomach under the left dome, both kidneys, textured bowel
  below, and the spine below the heart. Intensities are drawn per subject (a T2-weighted-like
  contrast: fat and fluid bright, lung dark).
* **Breathing** (exhale -> inhale, amplitude ``A`` at the diaphragm): everything inside the cavity
  moves down; in the lungs the shift grows linearly from the apex (top row) to the diaphragm,
  below it it falls from ``A`` to ``0.3 A`` at the bottom of the field of view, with a small
  lateral component that vanishes at the walls. The trunk wall and the spine do **not** move, so
  the organs slide along them: the motion is discontinuous across the cavity's wall, which no
  smooth displacement model (B-spline, Gaussian-regularised field) represents exactly.
* **Frames**: a frame at phase ``phi`` (0 exhale, 1 inhale) pulls every pixel back to its exhale
  position through the closed-form inverse map, with 2x2 supersampling (partial volume). The
  ground truth of a registration of the exhale frame (moving) to the inhale frame (fixed) is that
  inverse map minus the identity, in closed form.
* **Resolution**: high-resolution frames on ``size`` pixels with Rician noise; low-resolution
  dynamic frames by **k-space truncation** (the centre ``size / factor`` of the noise-free
  high-resolution frame's 2D DFT, scaled to keep intensities) and their own Rician noise.

A subject is drawn from a seed (:func:`random_abdomen`); :class:`BreathingSimulator` renders it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mricompendium.data.registration.render import rician, truncate_kspace

__all__ = ["ORGANS", "Abdomen", "BreathingSimulator", "random_abdomen"]

LUNG, HEART, LIVER, SPLEEN, STOMACH, KIDNEY = 1, 2, 3, 4, 5, 6
ORGANS = {LUNG: "lung", HEART: "heart", LIVER: "liver", SPLEEN: "spleen", STOMACH: "stomach",
          KIDNEY: "kidney"}  # fmt: skip

_LEVELS = {  # tissue intensity ranges (a T2-weighted-like contrast, max about 1)
    "fat": (0.85, 1.0),
    "muscle": (0.25, 0.35),
    "lung": (0.03, 0.08),
    "heart": (0.45, 0.55),
    "liver": (0.4, 0.5),
    "vessel": (0.75, 0.9),
    "spleen": (0.6, 0.7),
    "stomach": (0.7, 0.85),
    "kidney": (0.55, 0.65),
    "medulla": (0.7, 0.8),
    "bowel": (0.3, 0.6),
    "spine": (0.45, 0.55),
    "disc": (0.7, 0.8),
}


@dataclass(frozen=True)
class Abdomen:
    """One subject's geometry, breathing and contrast (mm; levels about [0, 1])."""

    seed: int
    half_width: float  # trunk half width (outer)
    fat: float  # subcutaneous fat thickness
    wall: float  # muscular wall thickness
    dome: tuple[float, float, float]  # diaphragm level at the sides, right and left dome rise
    amplitude: float  # diaphragm shift exhale -> inhale
    lateral: float  # lateral motion, fraction of the amplitude
    levels: dict[str, float]
    vessels: tuple[tuple[float, float, float, float], ...]  # z0, x0, angle, width
    blobs: tuple[tuple[float, float, float, float], ...]  # bowel: z, x, radius, level
    noise: tuple[float, float]  # Rician sd of the high- and low-resolution frames

    @property
    def name(self) -> str:
        return f"abdomen_subject_{self.seed}"

    @property
    def inner(self) -> float:
        """Half width of the cavity (inside the static wall)."""
        return self.half_width - self.fat - self.wall


def random_abdomen(seed: int, *, amplitude_mm: tuple[float, float] = (10.0, 25.0)) -> Abdomen:
    """A subject drawn from ``seed`` (ranges chosen to resemble adult free breathing)."""
    rng = np.random.default_rng([seed, 55])
    u = rng.uniform
    levels = {k: float(u(*r)) for k, r in _LEVELS.items()}
    vessels = tuple((float(u(-40, 20)), float(u(-110, -20)), float(u(0, math.pi)),
                     float(u(1.5, 3.0))) for _ in range(7))  # fmt: skip
    blobs = tuple((float(u(40, 160)), float(u(-100, 100)), float(u(8, 18)),
                   float(u(*_LEVELS["bowel"]))) for _ in range(14))  # fmt: skip
    return Abdomen(
        seed=int(seed),
        half_width=float(u(140, 155)),
        fat=float(u(10, 20)),
        wall=float(u(8, 12)),
        dome=(float(u(-45, -30)), float(u(25, 40)), float(u(15, 30))),
        amplitude=float(u(*amplitude_mm)),
        lateral=float(u(-0.1, 0.1)),
        levels=levels,
        vessels=vessels,
        blobs=blobs,
        noise=(float(u(0.01, 0.02)), float(u(0.01, 0.02))),
    )


def _diaphragm(s: Abdomen, x: np.ndarray) -> np.ndarray:
    """Diaphragm level ``z`` (exhale) across ``x``: two domes, the right one (x < 0) higher."""
    base, right, left = s.dome
    w = 0.45 * s.inner
    return (base - right * np.exp(-(((x + 0.5 * s.inner) / w) ** 2))
            - left * np.exp(-(((x - 0.5 * s.inner) / w) ** 2)))  # fmt: skip


class BreathingSimulator:
    """Renders :class:`Abdomen` frames on a ``size`` grid over a square ``fov_mm``.

    Args:
        size: pixels per side of the high-resolution frames.
        fov_mm: field of view.
    """

    def __init__(self, *, size: int = 128, fov_mm: float = 320.0) -> None:
        if size < 16:
            raise ValueError(f"size must be >= 16, got {size}")
        self.size, self.fov_mm = int(size), float(fov_mm)

    @property
    def spacing_mm(self) -> float:
        return self.fov_mm / self.size

    def grid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres ``(z, x)`` of an ``n x n`` grid over the field of view (mm)."""
        c = (np.arange(n) + 0.5) * self.fov_mm / n - self.fov_mm / 2
        return np.meshgrid(c, c, indexing="ij")

    def cavity(self, s: Abdomen, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The moving region: inside the trunk wall, outside the spine (static in both frames)."""
        spine = (np.abs(x) < 16) & (z > _diaphragm(s, np.zeros(1))[0] + 15)
        return (np.abs(x) < s.inner) & ~spine

    def to_exhale(self, s: Abdomen, z: np.ndarray, x: np.ndarray, phi: float):
        """Positions at phase ``phi`` (mm) -> the exhale positions of the tissue seen there."""
        top, bottom = -self.fov_mm / 2, self.fov_mm / 2
        shift = phi * s.amplitude
        d_phi = _diaphragm(s, x) + shift
        lung = shift * (z - top) / (d_phi - top)
        abdomen = shift * (1 - 0.7 * (z - d_phi) / (bottom - d_phi))
        wz = np.where(z < d_phi, lung, abdomen)
        wx = phi * s.lateral * s.amplitude * np.sin(np.pi * x / s.inner) * (z > d_phi)
        inside = self.cavity(s, z, x)
        return np.where(inside, z - wz, z), np.where(inside, x - wx, x)

    def _anatomy(self, s: Abdomen, z: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intensity and organ label (:data:`ORGANS`) at exhale positions ``(z, x)``."""
        lv = s.levels
        img = np.zeros(z.shape)
        lab = np.zeros(z.shape, dtype=np.int64)
        trunk = np.abs(x) < s.half_width
        img[trunk] = lv["fat"]
        img[trunk & (np.abs(x) >= s.inner) & (np.abs(x) < s.inner + s.wall)] = lv["muscle"]
        cav = np.abs(x) < s.inner
        d = _diaphragm(s, x)
        above, below = cav & (z < d), cav & (z >= d)
        img[above] = lv["lung"]
        lab[above] = LUNG
        heart = ((z - d.min() + 35) / 45) ** 2 + (x / 55) ** 2 < 1
        img[above & heart] = lv["heart"]
        lab[above & heart] = HEART
        img[below] = lv["bowel"]
        for bz, bx, r, level in s.blobs:
            img[below & ((z - bz) ** 2 + (x - bx) ** 2 < r**2)] = level
        liver = below & (x < 0.25 * s.inner) & (z < d + 110 + 0.5 * x)
        img[liver] = lv["liver"]
        lab[liver] = LIVER
        for vz, vx, ang, w in s.vessels:
            dist = np.abs((z - vz) * math.cos(ang) - (x - vx) * math.sin(ang))
            img[liver & (dist < w)] = lv["vessel"]
        spleen = below & (((z - d - 35) / 40) ** 2 + ((x - 0.78 * s.inner) / 22) ** 2 < 1)
        img[spleen] = lv["spleen"]
        lab[spleen] = SPLEEN
        stomach = below & (((z - d - 25) / 28) ** 2 + ((x - 0.35 * s.inner) / 35) ** 2 < 1)
        img[stomach] = lv["stomach"]
        lab[stomach] = STOMACH
        for side in (-1, 1):
            r2 = ((z - d.max() - 95) / 50) ** 2 + ((x - side * 0.5 * s.inner) / 25) ** 2
            img[below & (r2 < 1)] = lv["kidney"]
            img[below & (r2 < 0.35)] = lv["medulla"]
            lab[below & (r2 < 1)] = KIDNEY
        spine = (np.abs(x) < 16) & (z > _diaphragm(s, np.zeros(1))[0] + 15)
        img[spine] = lv["spine"]
        img[spine & (np.mod(z, 28) < 6)] = lv["disc"]
        return img, lab

    def frame(self, s: Abdomen, phi: float, *, noise: bool = True) -> np.ndarray:
        """The high-resolution frame at phase ``phi`` (float32 ``(size, size)``)."""
        sub, n = 2, self.size
        z, x = self.grid(n * sub)
        img = self._anatomy(s, *self.to_exhale(s, z, x, phi))[0]
        img = img.reshape(n, sub, n, sub).mean((1, 3))
        if noise:
            img = rician(img, s.noise[0], np.random.default_rng([s.seed, int(phi * 1000), 1]))
        return img.astype(np.float32)

    def labels(self, s: Abdomen, phi: float) -> np.ndarray:
        """Organ labels (:data:`ORGANS`) at the pixel centres of the frame at phase ``phi``."""
        return self._anatomy(s, *self.to_exhale(s, *self.grid(self.size), phi))[1]

    def low_res(self, s: Abdomen, phi: float, factor: int, *, noise: bool = True) -> np.ndarray:
        """A dynamic frame at ``size / factor`` pixels by k-space truncation of the noise-free
        high-resolution frame, with its own Rician noise."""
        img = truncate_kspace(self.frame(s, phi, noise=False), factor)
        if noise:
            img = rician(
                img, s.noise[1], np.random.default_rng([s.seed, int(phi * 1000), 2, factor])
            )
        return img.astype(np.float32)

    def truth(self, s: Abdomen) -> np.ndarray:
        """Exhale (moving) -> inhale (fixed) displacement ``(2, size, size)`` in voxels."""
        z, x = self.grid(self.size)
        rz, rx = self.to_exhale(s, z, x, 1.0)
        return (np.stack([rz - z, rx - x]) / self.spacing_mm).astype(np.float32)

    def pairs(self, subjects: list[Abdomen], factors: tuple[int, ...]) -> dict[str, Any]:
        """Exhale (moving) -> inhale (fixed) pairs of ``subjects``, batched torch tensors.

        Returns:
            ``moving``, ``fixed`` (noisy high-resolution frames), ``reference`` (the noise-free
            inhale frame), ``moving_labels``, ``fixed_labels``, ``fixed_mask`` (the cavity: the
            moving region), ``body``, ``truth`` (voxels) and ``low_res``: ``{factor: {"moving",
            "fixed"}}`` dynamic frames; ``subject``: names. Images are ``(N, 1, H, W)``.
        """
        import torch

        def stack(arrays: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(arrays))[:, None]

        out: dict[str, Any] = {
            "moving": stack([self.frame(s, 0.0) for s in subjects]),
            "fixed": stack([self.frame(s, 1.0) for s in subjects]),
            "reference": stack([self.frame(s, 1.0, noise=False) for s in subjects]),
            "moving_labels": stack([self.labels(s, 0.0) for s in subjects]),
            "fixed_labels": stack([self.labels(s, 1.0) for s in subjects]),
            "fixed_mask": stack([self.masks(s)["cavity"] for s in subjects]),
            "body": stack([self.masks(s)["body"] for s in subjects]),
            "truth": torch.from_numpy(np.stack([self.truth(s) for s in subjects])),
            "subject": [s.name for s in subjects],
        }
        out["low_res"] = {
            f: {
                "moving": stack([self.low_res(s, 0.0, f) for s in subjects]),
                "fixed": stack([self.low_res(s, 1.0, f) for s in subjects]),
            }
            for f in factors
        }
        return out

    def masks(self, s: Abdomen) -> dict[str, np.ndarray]:
        """``body`` (inside the trunk) and ``cavity`` (the moving region) on the grid."""
        z, x = self.grid(self.size)
        return {"body": np.abs(x) < s.half_width, "cavity": self.cavity(s, z, x)}
