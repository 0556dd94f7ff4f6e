"""2D+t cine (and other multi-frame) k-space simulated on a grid finer than the reconstruction.

:class:`FrameSimulator` is the multi-frame counterpart of
:class:`~mricompendium.data.recon.simulate.KspaceSimulator` and follows its rules (no inverse
crime): each case's frames are magnitudes on an object grid at least twice finer than the
reconstruction grid; one smooth random phase and one set of birdcage coil maps (rotated and
scaled per case) per case, on that grid; every frame's Fourier transform sampled at the
reconstruction grid's k-space positions (:func:`~mricompendium.physics.simulate.crop_kspace`);
white complex Gaussian noise on the samples. The reference of each frame is the fully sampled,
noise-free acquisition on the reconstruction grid; every method gets coil maps estimated from the
time-averaged undersampled data (:func:`~mricompendium.data.recon.frames.estimate_frame_maps`).
Every random choice of case ``i`` comes from ``case_seed(seed, i, purpose)``.

:func:`cine_cases` draws the frames: the shared analytic beating left ventricle
(:mod:`mricompendium.data.cardiac`) rendered on the fine grid with 2x2 supersampling, each case
its own heart (anatomy, motion, contrast) and, optionally,

* a real-texture background: the embedded real T1 slice (dipy's ``t1_coronal_slice``, one real
  image shared by every case, placed with its own rotation, flip and shift per case) in place of
  the analytic tissue texture, moving with the analytic motion (it is warped by the same
  deformation as the heart's surroundings);
* breathing: the whole field of view shifted along the first axis by ``breathing_mm`` times a
  sinusoid of one cycle over ``breath_cycles`` cardiac cycles, phase drawn per case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.cardiac import CardiacSequence, random_heart
from mricompendium.data.embedded import load_slices, resize_stack
from mricompendium.data.recon.batches import case_seed
from mricompendium.data.recon.frames import (
    AnySampling,
    FrameBatch,
    estimate_frame_maps,
    frame_masks,
    parse_sampling,
)
from mricompendium.physics.coils import random_birdcage_maps
from mricompendium.physics.fft import fft2c
from mricompendium.physics.simulate import (
    MIN_OVERSAMPLING,
    add_complex_noise,
    crop_kspace,
    fourier_resample,
    smooth_phase,
)

__all__ = ["BACKGROUNDS", "CineCases", "FrameSimulator", "cine_cases"]

BACKGROUNDS = ("analytic", "real")
FOV_MM = 128.0  # the analytic heart's field of view (64 px of 2 mm in the registration family)
REAL_TEXTURE = "dipy_t1_coronal_slice"


class FrameSimulator:
    """Simulated undersampled multi-frame k-space of objects finer than the reconstruction grid.

    ``batch(indices, sampling, seed)`` is a pure function of its arguments.

    Args:
        objects: float ``(N, T, Hs, Ws)`` magnitude frames on the object grid.
        regions: bool ``(N, H, W)`` on the reconstruction grid (which they define): the SNR
            reference region and the region of the ``*_roi`` metrics.
        num_coils: coils C (1: single coil, maps = 1).
        snr: mean ``|reference|`` in the region (over frames) / noise std per real and imaginary
            part; ``None`` or ``inf``: noise-free.
        seed: base seed of the phase and coil geometry of each case.
        max_phase: peak of the smooth phase (radians), the same in every frame.
        radius_range: coil-ring radii drawn per case (image half-widths).
        device: where batches are made.
    """

    def __init__(
        self,
        objects: np.ndarray,
        regions: np.ndarray,
        *,
        num_coils: int,
        snr: float | None,
        seed: int,
        max_phase: float = math.pi / 2,
        radius_range: tuple[float, float] = (1.3, 1.8),
        device: str | torch.device = "cpu",
    ) -> None:
        obj = np.asarray(objects, dtype=np.float32)
        reg = np.asarray(regions).astype(bool)
        if obj.ndim != 4 or reg.ndim != 3 or len(obj) != len(reg):
            raise ValueError(f"objects (N, T, Hs, Ws) and regions (N, H, W), got {obj.shape}, "
                             f"{reg.shape}")  # fmt: skip
        (hs, ws), (h, w) = obj.shape[2:], reg.shape[1:]
        if hs < MIN_OVERSAMPLING * h or ws < MIN_OVERSAMPLING * w:
            raise ValueError(f"objects on {hs}x{ws} are not {MIN_OVERSAMPLING:g}x finer than the "
                             f"reconstruction grid {h}x{w} (the inverse crime)")  # fmt: skip
        if not reg.reshape(len(reg), -1).any(axis=1).all():
            raise ValueError("every region must be non-empty")
        if not isinstance(num_coils, int) or num_coils < 1:
            raise ValueError(f"num_coils must be an int >= 1, got {num_coils!r}")
        if snr is not None and not snr > 0:
            raise ValueError(f"snr must be positive or None, got {snr}")
        self.device = torch.device(device)
        self.objects = torch.from_numpy(obj)
        self.regions = torch.from_numpy(reg).to(self.device)
        self.num_coils, self.snr, self.seed = num_coils, snr, int(seed)
        self.max_phase, self.radius_range = max_phase, radius_range
        self._cases: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return int(self.objects.shape[0])

    @property
    def frames(self) -> int:
        return int(self.objects.shape[1])

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.regions.shape[1]), int(self.regions.shape[2])

    @property
    def object_shape(self) -> tuple[int, int]:
        return int(self.objects.shape[2]), int(self.objects.shape[3])

    @property
    def oversampling(self) -> float:
        (hs, ws), (h, w) = self.object_shape, self.image_shape
        return min(hs / h, ws / w)

    def _case(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Case ``i``'s noise-free coil k-space ``(C, T, H, W)`` and reference ``(T, H, W)``."""
        if i not in self._cases:
            fine = self.object_shape
            phase = smooth_phase(fine, max_phase=self.max_phase, seed=case_seed(self.seed, i, 0))
            obj = torch.polar(self.objects[i], phase.expand_as(self.objects[i]))
            shape = self.image_shape
            if self.num_coils == 1:
                kspace = crop_kspace(fft2c(obj), shape).unsqueeze(0)
            else:
                gen = torch.Generator().manual_seed(case_seed(self.seed, i, 1))
                u = torch.rand(2, generator=gen)
                lo, hi = self.radius_range
                rotation, radius = 2 * math.pi * float(u[0]), lo + (hi - lo) * float(u[1])
                maps = random_birdcage_maps(self.num_coils, fine, rotation=rotation,
                                            radius=radius)[0]  # fmt: skip
                kspace = crop_kspace(fft2c(maps.unsqueeze(1) * obj.unsqueeze(0)), shape)
            target = fourier_resample(obj, shape)
            self._cases[i] = (kspace.to(self.device), target.to(self.device))
        return self._cases[i]

    def targets(self, indices: Sequence[int]) -> torch.Tensor:
        """Complex references ``(B, T, H, W)``."""
        return torch.stack([self._case(int(i))[1] for i in indices])

    def batch(
        self,
        indices: Sequence[int] | np.ndarray,
        sampling: str | AnySampling,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> FrameBatch:
        """Undersampled noisy k-space of cases ``indices``: masks per case from ``seed`` (or one
        shared mask from ``mask_seed``), noise from ``seed``."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx or min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)}), got {idx}")
        s = parse_sampling(sampling)
        full = torch.stack([self._case(i)[0] for i in idx])
        target = torch.stack([self._case(i)[1] for i in idx])
        region = self.regions[idx]
        if self.snr is not None and not math.isinf(self.snr):
            mag = target.abs() * region.unsqueeze(1)
            mean = mag.sum(dim=(1, 2, 3)) / (region.sum(dim=(1, 2)) * self.frames)
            full = add_complex_noise(full, sigma=mean / self.snr,
                                     seeds=[case_seed(seed, i, 2) for i in idx])  # fmt: skip
        mask = frame_masks(s, self.frames, self.image_shape, seed, idx, mask_seed).to(self.device)
        kspace = full * mask
        return FrameBatch(kspace=kspace, mask=mask, maps=estimate_frame_maps(kspace, mask),
                          target=target, region=region, indices=torch.tensor(idx),
                          sampling=str(s))  # fmt: skip


@dataclass(frozen=True)
class CineCases:
    """Cine cases: fine-grid frames, regions, and each case's id, unit and group.

    Attributes:
        objects: float32 ``(N, T, Hs, Ws)`` magnitudes on the fine grid.
        body: bool ``(N, H, W)`` the body outline on the reconstruction grid (SNR region).
        heart: bool ``(N, H, W)`` left ventricle and myocardium over the cycle, dilated by two
            pixels, on the reconstruction grid (the ``*_roi`` metrics' region).
    """

    objects: np.ndarray
    body: np.ndarray
    heart: np.ndarray
    case: list[str]
    unit: list[str]
    group: list[str]

    def __len__(self) -> int:
        return len(self.case)


def _real_texture() -> np.ndarray:
    real = load_slices("real")
    if REAL_TEXTURE not in real.names:
        raise ValueError(f"the embedded real slices lack {REAL_TEXTURE}")
    return real.images[real.names.index(REAL_TEXTURE)].astype(np.float64)


def _background(tex: np.ndarray, level: float, rng: np.random.Generator):
    """ED positions (mm) -> the real texture, rotated, flipped and shifted per case."""
    angle, flip = rng.uniform(0, 2 * math.pi), rng.choice([-1.0, 1.0])
    shift = rng.uniform(-8, 8, size=2)
    c, s = math.cos(angle), math.sin(angle)
    px = 1.55  # mm per texture pixel: the body (+-62 mm) falls inside the head (+-40 px)
    mean = float(tex[tex > 0.2].mean())

    def background(ref: np.ndarray) -> np.ndarray:
        x, y = ref[0] / px, flip * ref[1] / px
        coords = np.stack([c * x - s * y + 64 + shift[0], s * x + c * y + 64 + shift[1]])
        vals = ndimage.map_coordinates(tex, coords.reshape(2, -1), order=1, mode="reflect")
        return np.clip(level + 0.7 * (vals.reshape(ref.shape[1:]) - mean), 0.0, None)

    return background


def cine_cases(
    n: int,
    *,
    frames: int,
    size: int,
    seed: int,
    fine: int = 128,
    background: str = "analytic",
    breathing_mm: float = 0.0,
    breath_cycles: float = 4.0,
    group: str | None = None,
) -> CineCases:
    """``n`` cine cases of ``frames`` phases over one cardiac cycle, each its own heart.

    Args:
        n: cases; case ``j`` is the heart ``random_heart(case_seed(seed, j, 51))``.
        frames: cardiac phases, evenly spread over the cycle (``t = k / frames``).
        size: the reconstruction grid side (regions); ``fine`` the object grid side (at least
            twice finer), both spanning the same 128 mm field of view.
        background: ``"analytic"`` (the heart's own texture) or ``"real"`` (see the module).
        breathing_mm: peak breathing shift (0: breath-hold).
        breath_cycles: cardiac cycles per breath.
        group: the group name (default: the background's).
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if not isinstance(n, int) or n < 1 or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"n and frames must be positive ints, got {n!r}, {frames!r}")
    if fine < MIN_OVERSAMPLING * size:
        raise ValueError(f"fine ({fine}) must be >= {MIN_OVERSAMPLING:g} x size ({size})")
    tex = _real_texture() if background == "real" else None
    sub, spacing = 2, FOV_MM / fine
    axis = ((np.arange(fine * sub) + 0.5) / sub - fine / 2) * spacing
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"))
    objects, body, heart, names = [], [], [], []
    for j in range(n):
        rng = np.random.default_rng(case_seed(seed, j, 52))
        h = random_heart(case_seed(seed, j, 51))
        bg = None if tex is None else _background(tex, h.levels[2], rng)
        seq = CardiacSequence(h, size=fine, spacing_mm=spacing, background=bg)
        phase0 = rng.uniform(0, 2 * math.pi)
        imgs, labs = [], []
        for k in range(frames):
            t = k / frames
            dy = breathing_mm * math.sin(2 * math.pi * t / breath_cycles + phase0)
            img, lab = seq.render(grid - np.array([dy, 0.0]).reshape(2, 1, 1), t)
            imgs.append(img.reshape(fine, sub, fine, sub).mean((1, 3)))
            labs.append(lab[::sub, ::sub] > 0)
        objects.append(np.stack(imgs).astype(np.float32))
        outline = (grid[0, ::sub, ::sub] / 58.0) ** 2 + (grid[1, ::sub, ::sub] / 62.0) ** 2 < 1.0
        body.append(resize_stack(outline[None].astype(np.float32), size)[0] >= 0.5)
        lv = resize_stack(np.any(labs, axis=0)[None].astype(np.float32), size)[0] >= 0.5
        heart.append(ndimage.binary_dilation(lv, iterations=2))
        names.append(f"heart_{background}_{j:03d}")
    return CineCases(np.stack(objects), np.stack(body), np.stack(heart), names, list(names),
                     [group or background] * n)  # fmt: skip
