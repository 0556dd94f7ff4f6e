"""A beating left ventricle with known, near-incompressible motion: short-axis cine frames.

No cardiac images ship offline, and the only cardiac phantom package at hand (mrphantom 3.0.2: a
"slime" whose myocardium is the shell between two ellipsoids that grow by different amounts) gives
neither a displacement field nor an incompressible wall and needs a C++ build. So this is a
documented model of our own, analytic in continuous coordinates (mm):

* **Anatomy at end-diastole (ED)**: a left-ventricular blood pool (radius ``r_endo``) inside a
  myocardial ring (thickness ``wall``), a right-ventricular blood pool (a crescent beside the LV),
  and surrounding tissue with a smooth random texture inside an elliptical body outline. The LV is
  elliptical: all coordinates pass through an area-preserving shear-free stretch (``diag(e, 1/e)``
  rotated by a random angle).
* **Motion** (stretched polar coordinates about the LV centre, time ``t`` in cardiac cycles): the
  blood pool loses the area ``pi c(t)`` with ``c(t) = s(t) * EF * r_endo^2`` and the contraction
  profile ``s(t)`` in [0, 1] (0 at ED, 1 at end-systole ``t_es``); every point outside the pool
  moves radially as ``r -> sqrt(r^2 - c)``, which preserves area exactly (``det J = 1``: the
  myocardium is incompressible in-plane and thickens as it contracts, since its inner edge moves
  further than its outer one); the pool shrinks uniformly (``det J = 1 - s EF``); and every point
  turns by ``twist * s(t)`` degrees times a smooth function of radius (a shear that also preserves
  area).
* **Images**: bSSFP-like contrast (bright blood, dark myocardium, intermediate tissue; levels drawn
  per subject), a smooth receive-coil bias, 2x2 supersampling (partial volume) and Rician noise.
  **Labels**: 1 LV blood pool, 2 LV myocardium (the RV is image texture only).
* **Ground truth**: the displacement from ED (moving) to frame ``t`` (fixed) is
  ``u(x) = phi_t^-1(x) - x``, in closed form, in voxels: ``warp(ed, u) = frame_t``.

A subject is drawn from a seed (:func:`random_heart`); :class:`CardiacSequence` renders its frames
(:meth:`CardiacSequence.render` at any positions, e.g. a finer grid, with an optional background
texture in place of the analytic one). Shared by the registration family and the dynamic
reconstruction simulator (:mod:`mricompendium.data.recon.cine`); ``data.registration.cardiac``
re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BLOOD",
    "MYO",
    "CardiacGenerator",
    "CardiacSequence",
    "Heart",
    "contraction",
    "random_heart",
]

Background = Callable[[np.ndarray], np.ndarray]  # ED positions (2, ...) mm -> intensity (...)

BLOOD, MYO = 1, 2


@dataclass(frozen=True)
class Heart:
    """One subject's geometry, motion and contrast (lengths in mm, angles in degrees)."""

    centre: tuple[float, float]
    r_endo: float
    wall: float
    ef: float  # in-plane blood-pool area ejection fraction at end-systole
    twist: float
    stretch: float
    angle: float
    rv_offset: float
    rv_radius: float
    levels: tuple[float, float, float, float]  # blood, myocardium, tissue, RV blood
    texture: tuple[tuple[float, float, float, float], ...]  # (kx, ky, phase, amplitude)
    bias: tuple[float, float, float]  # linear coil-bias coefficients (const, x, y)
    noise: float
    t_es: float


def random_heart(seed: int) -> Heart:
    """A subject drawn from ``seed`` (ranges chosen to resemble adult short-axis cine MRI)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform
    tex = tuple(
        (float(u(-0.25, 0.25)), float(u(-0.25, 0.25)), float(u(0, 2 * math.pi)), float(u(0, 0.06)))
        for _ in range(6)
    )
    return Heart(
        centre=(float(u(-6, 6)), float(u(-6, 6))),
        r_endo=float(u(18, 25)),
        wall=float(u(7, 10)),
        ef=float(u(0.45, 0.7)),
        twist=float(u(-8, 8)),
        stretch=float(u(1.0, 1.15)),
        angle=float(u(0, 180)),
        rv_offset=float(u(26, 32)),
        rv_radius=float(u(20, 26)),
        levels=(float(u(0.8, 1.0)), float(u(0.2, 0.35)), float(u(0.4, 0.55)), float(u(0.7, 0.9))),
        texture=tex,
        bias=(float(u(0.85, 1.15)), float(u(-0.003, 0.003)), float(u(-0.003, 0.003))),
        noise=float(u(0.02, 0.05)),
        t_es=float(u(0.3, 0.4)),
    )


def contraction(t: np.ndarray | float, t_es: float) -> np.ndarray:
    """Contraction profile ``s(t)`` in [0, 1]: 0 at ED (t = 0, 1), 1 at end-systole ``t_es``."""
    t = np.mod(np.asarray(t, dtype=np.float64), 1.0)
    up = np.sin(0.5 * np.pi * np.clip(t / t_es, 0, 1)) ** 2
    down = np.cos(0.5 * np.pi * np.clip((t - t_es) / (1 - t_es), 0, 1)) ** 2
    return np.where(t <= t_es, up, down)


class CardiacSequence:
    """Frames of one :class:`Heart` on a ``size x size`` grid of ``spacing_mm`` pixels.

    Args:
        heart: the subject.
        size: pixels per side.
        spacing_mm: pixel size.
        noise_seed: seeds the Rician noise (each frame draws its own from it).
        background: the surrounding tissue's intensity at ED positions (mm), replacing the
            analytic texture inside the body outline (e.g. a real image's texture, which then
            moves with the analytic motion); ``None``: the analytic texture.
    """

    def __init__(
        self,
        heart: Heart,
        *,
        size: int = 64,
        spacing_mm: float = 2.0,
        noise_seed: int = 0,
        background: Background | None = None,
    ) -> None:
        if size < 16:
            raise ValueError(f"size must be >= 16, got {size}")
        self.heart, self.size, self.spacing, self.noise_seed = heart, size, spacing_mm, noise_seed
        self.background = background
        a = math.radians(heart.angle)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        self._s = rot @ np.diag([heart.stretch, 1 / heart.stretch]) @ rot.T  # det 1
        self._s_inv = np.linalg.inv(self._s)

    def _grid(self, sub: int) -> np.ndarray:
        """Pixel (sub-)centre coordinates in mm about the image centre, ``(2, H*sub, W*sub)``."""
        n = self.size * sub
        x = (np.arange(n) + 0.5) / sub - self.size / 2
        return np.stack(np.meshgrid(x, x, indexing="ij")) * self.spacing

    def _c(self, s: float) -> float:
        return s * self.heart.ef * self.heart.r_endo**2

    def _twist(self, r: np.ndarray, s: float) -> np.ndarray:
        h = self.heart
        return math.radians(h.twist) * s * np.tanh((r - h.r_endo) / h.wall)

    def to_reference(self, pts: np.ndarray, t: float) -> np.ndarray:
        """``phi_t^-1``: positions at time ``t`` (``(2, ...)`` mm) -> their ED positions."""
        h, s = self.heart, float(contraction(t, self.heart.t_es))
        c = np.array(h.centre).reshape(2, *([1] * (pts.ndim - 1)))
        xi = np.einsum("ij,j...->i...", self._s_inv, pts - c)
        rt = np.hypot(xi[0], xi[1])
        r_in_t = math.sqrt(max(h.r_endo**2 - self._c(s), 1e-9))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(rt >= r_in_t, np.sqrt(rt**2 + self._c(s)), rt * h.r_endo / r_in_t)
            ang = np.arctan2(xi[1], xi[0]) - self._twist(r, s)
        ref = np.stack([r * np.cos(ang), r * np.sin(ang)])
        return np.einsum("ij,j...->i...", self._s, ref) + c

    def _anatomy(self, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intensity (before bias and noise) and labels at ED positions ``ref`` ``(2, ...)``."""
        h = self.heart
        c = np.array(h.centre).reshape(2, *([1] * (ref.ndim - 1)))
        xi = np.einsum("ij,j...->i...", self._s_inv, ref - c)
        r = np.hypot(xi[0], xi[1])
        blood, myo = r < h.r_endo, (r >= h.r_endo) & (r < h.r_endo + h.wall)
        rv_c = np.array([0.0, -h.rv_offset]).reshape(2, *([1] * (ref.ndim - 1)))
        rv = (np.hypot(*(xi - rv_c)) < h.rv_radius) & (r >= h.r_endo + h.wall + 2.0)
        body = (ref[0] / 58.0) ** 2 + (ref[1] / 62.0) ** 2 < 1.0
        if self.background is None:
            tex = sum(a * np.cos(kx * ref[0] + ky * ref[1] + p) for kx, ky, p, a in h.texture)
            img = np.where(body, h.levels[2] + tex, 0.0)
        else:
            img = np.where(body, self.background(ref), 0.0)
        img = np.where(rv, h.levels[3], img)
        img = np.where(myo, h.levels[1], np.where(blood, h.levels[0], img))
        lab = np.where(blood, BLOOD, np.where(myo, MYO, 0)).astype(np.int64)
        return img, lab

    def render(self, pts: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Intensity (no bias, no noise) and labels at positions ``pts`` ``(2, ...)`` (mm) of
        frame ``t``: the anatomy at the ED positions the motion maps there."""
        return self._anatomy(self.to_reference(np.asarray(pts, dtype=np.float64), t))

    def frame(self, t: float, *, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Image (float32, magnitude, about [0, 1]) and labels (int64) of frame ``t``."""
        sub = 2
        img, _ = self._anatomy(self.to_reference(self._grid(sub), t))
        img = img.reshape(self.size, sub, self.size, sub).mean((1, 3))
        _, lab = self._anatomy(self.to_reference(self._grid(1), t))
        p = self._grid(1)
        b0, bx, by = self.heart.bias
        img = img * (b0 + bx * p[0] + by * p[1])
        if noise:
            seed = [self.noise_seed, int(round(t * 1e6))]
            rng = np.random.default_rng(seed)
            sd = self.heart.noise
            img = np.hypot(
                img + sd * rng.standard_normal(img.shape), sd * rng.standard_normal(img.shape)
            )
        return img.astype(np.float32), lab

    def displacement(self, t: float) -> np.ndarray:
        """Ground-truth ``u`` from ED to frame ``t``: ``(2, H, W)`` float32 in voxels."""
        p = self._grid(1)
        return ((self.to_reference(p, t) - p) / self.spacing).astype(np.float32)


class CardiacGenerator:
    """ED -> later-frame registration pairs of random subjects, for training and testing.

    Args:
        size: pixels per side; spacing_mm: pixel size.
        t_range: the fixed frame's time is drawn uniformly from this range of the cycle during
            training (``None``: always end-systole); test pairs are always ED -> ES.
    """

    def __init__(
        self,
        *,
        size: int = 64,
        spacing_mm: float = 2.0,
        t_range: tuple[float, float] | None = (0.1, 0.5),
    ) -> None:
        self.size, self.spacing_mm, self.t_range = size, spacing_mm, t_range

    def pair(self, subject_seed: int, t: float | None = None) -> dict[str, torch.Tensor]:
        """One subject's ED (moving) -> frame ``t`` (fixed; default ES) pair, batch of one."""
        seq = CardiacSequence(
            random_heart(subject_seed),
            size=self.size,
            spacing_mm=self.spacing_mm,
            noise_seed=subject_seed,
        )
        t = seq.heart.t_es if t is None else t
        (mi, ml), (fi, fl) = seq.frame(0.0), seq.frame(t)
        out = {
            "moving": mi,
            "fixed": fi,
            "moving_labels": ml,
            "fixed_labels": fl,
            "truth": seq.displacement(t),
            "fixed_mask": fl > 0,
        }
        return {
            k: torch.from_numpy(np.ascontiguousarray(v))[None, None]
            if v.ndim == 2
            else torch.from_numpy(v)[None]
            for k, v in out.items()
        }

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``n`` random subjects, each with a fixed frame time drawn from ``t_range``."""
        seeds = torch.randint(0, 2**62, (n,), generator=generator).tolist()
        ts = torch.rand(n, generator=generator).tolist()
        pairs = []
        for s, u in zip(seeds, ts, strict=True):
            t = (
                None
                if self.t_range is None
                else self.t_range[0] + u * (self.t_range[1] - self.t_range[0])
            )
            pairs.append(self.pair(int(s), t))
        return {k: torch.cat([p[k] for p in pairs]) for k in pairs[0]}

    def batch(self, step: int, generator: torch.Generator, batch_size: int = 4) -> dict:
        """A training batch for :func:`mricompendium.training.fit` (``step`` unused)."""
        del step
        return self.sample(batch_size, generator)

    def fixed_set(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """``n`` held-out subjects (ED -> ES), subject ``i`` seeded by ``(seed, i)``."""
        pairs = [
            self.pair(int(np.random.SeedSequence([seed, i]).generate_state(1)[0])) for i in range(n)
        ]
        return {k: torch.cat([p[k] for p in pairs]) for k in pairs[0]}
