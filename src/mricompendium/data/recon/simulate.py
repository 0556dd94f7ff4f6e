"""The package's one k-space simulator: objects on a fine grid -> undersampled noisy k-space.

:class:`KspaceSimulator` keeps the data apart from the operator that reconstructs them (no
"inverse crime", see :mod:`mricompendium.physics.simulate`): each magnitude slice is the object on
a grid at least twice finer than the reconstruction grid (the embedded slices' own 128 x 128
grid); it gets a smooth random phase (:func:`~mricompendium.physics.simulate.smooth_phase`) and
is weighted by birdcage coil maps (rotated and scaled at random per case, so the coil geometry
varies; one coil: no weighting), all on that fine grid. Its Fourier transform is sampled at the
reconstruction grid's k-space positions (Cartesian: the central block of the fine FFT,
:func:`~mricompendium.physics.simulate.crop_kspace`; radial: a golden-angle NUFFT on the fine
grid), so the data carry the truncation of a real acquisition, and white complex Gaussian noise
is added to the samples at the SNR of :func:`~mricompendium.physics.simulate.noise_sigma_for_snr`
(mean ``|reference|`` inside the brain mask over the noise standard deviation, per case).

The reference (``target``) is what a fully sampled, noise-free acquisition on the reconstruction
grid gives (:func:`~mricompendium.physics.simulate.fourier_resample` of the complex object), as
fastMRI's targets are. The coil maps a model is given are estimated from the undersampled data
(:func:`~mricompendium.physics.coils.estimate_sensitivities`); the simulator's own maps are kept
in the batch (``true_maps``, resampled to the reconstruction grid) for tests only.

Every random choice of case ``i`` (phase, coil ring, noise, per-case mask or trajectory) is drawn
from :func:`~mricompendium.data.recon.batches.case_seed` of ``(seed, i, purpose)``: a case's data do
not depend on the batch it is in, and cases are independent draws. The noise-free measurement of
a case is computed once, on first use, and kept.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.data.recon.batches import ReconBatch, case_masks, case_seed
from mricompendium.physics.coils import estimate_sensitivities, random_birdcage_maps
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import Sampling
from mricompendium.physics.nufft import KaiserBesselGrid, RadialNufftOp, density_compensation
from mricompendium.physics.simulate import (
    MIN_OVERSAMPLING,
    add_complex_noise,
    crop_kspace,
    fine_trajectory,
    fourier_resample,
    grid_sample_weights,
    noise_sigma_for_snr,
    smooth_phase,
)

__all__ = ["KspaceSimulator", "radial_operator"]


@functools.lru_cache(maxsize=512)
def radial_operator(
    sampling: Sampling, shape: tuple[int, int], seed: int, device: str = "cpu"
) -> RadialNufftOp:
    """Single-coil golden-angle NUFFT of ``sampling`` (first spoke from ``seed``), with
    Pipe-Menon density compensation; cached (building one takes tens of milliseconds). The
    reconstruction operator of radial batches: the simulator never measures with it."""
    traj = sampling.trajectory(shape, seed).to(device)
    return RadialNufftOp(traj, shape, dcf=density_compensation(traj, shape))


RADIAL_CACHE = 4096  # noise-free radial samples kept per simulator (case, setting, trajectory)


@functools.lru_cache(maxsize=64)
def _fine_radial(
    sampling: Sampling,
    shape: tuple[int, int],
    fine_shape: tuple[int, int],
    seed: int,
    device: str = "cpu",
) -> tuple[KaiserBesselGrid, torch.Tensor]:
    """The radial acquisition on the object grid: a NUFFT there at the positions of
    ``sampling.trajectory(shape, seed)``, and the weights to the reconstruction grid's units."""
    traj = sampling.trajectory(shape, seed).to(device)
    fine = fine_trajectory(traj, fine_shape, shape)
    return KaiserBesselGrid(fine, fine_shape), grid_sample_weights(traj, fine_shape, shape)


@dataclass
class _Case:
    """A case's noise-free data: fine complex object, reference, coil k-space and maps."""

    obj: torch.Tensor  # complex (Hs, Ws)
    target: torch.Tensor  # complex (H, W)
    kspace: torch.Tensor  # complex (C, H, W), fully sampled, noise-free
    maps: torch.Tensor  # complex (C, H, W)


class KspaceSimulator:
    """Simulated undersampled k-space of objects finer than the reconstruction grid.

    ``batch(indices, sampling, seed)`` is a pure function of its arguments.

    Args:
        objects: float ``(N, Hs, Ws)`` magnitude slices on the object grid, at least
            :data:`~mricompendium.physics.simulate.MIN_OVERSAMPLING` times finer than the
            reconstruction grid along each axis (same field of view).
        masks_brain: bool ``(N, H, W)`` brain masks on the reconstruction grid, which they
            define (SNR reference region, ``ssim_brain``).
        num_coils: coils C (1: single-coil, maps = 1).
        snr: mean ``|reference|`` inside the brain / noise std (per real and imaginary part),
            per case; ``None`` or ``inf`` for noise-free k-space.
        seed: base seed of the case-wise phase and coil geometry.
        max_phase: peak of the smooth phase in radians.
        vary_coils: rotate the coil ring uniformly at random and draw its radius in
            ``radius_range`` per case; False: the fixed ring of ``birdcage_maps``.
        radius_range: range of ring radii (image half-widths).
        eval_masks: bool ``(N, H, W)`` regions the batches report as ``brain_mask`` (the
            metrics' region) when it is not the brain mask, e.g. a lesion; the SNR is still
            defined on ``masks_brain``.
        device: where the batches are made.
    """

    def __init__(
        self,
        objects: np.ndarray,
        masks_brain: np.ndarray,
        *,
        num_coils: int,
        snr: float | None,
        seed: int,
        max_phase: float = math.pi / 2,
        vary_coils: bool = True,
        radius_range: tuple[float, float] = (1.3, 1.8),
        eval_masks: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        objects = np.asarray(objects, dtype=np.float32)
        masks_brain = np.asarray(masks_brain).astype(bool)
        _check_grids(objects, masks_brain)
        if not isinstance(num_coils, int) or num_coils < 1:
            raise ValueError(f"num_coils must be an int >= 1, got {num_coils!r}")
        if snr is not None and not snr > 0:
            raise ValueError(f"snr must be positive (or None), got {snr}")
        empty = np.flatnonzero(~masks_brain.reshape(len(masks_brain), -1).any(axis=1))
        if empty.size:
            raise ValueError(f"brain masks of cases {empty.tolist()} are empty")
        lo, hi = radius_range
        if not 0 < lo <= hi:
            raise ValueError(f"radius_range must be (lo, hi) with 0 < lo <= hi, got {radius_range}")
        self.device = torch.device(device)
        self.objects = torch.from_numpy(objects).to(self.device)
        self.brain = torch.from_numpy(masks_brain).to(self.device)
        self.eval_region = self.brain
        if eval_masks is not None:
            region = np.asarray(eval_masks).astype(bool)
            if region.shape != masks_brain.shape:
                raise ValueError(f"eval_masks must be {masks_brain.shape}, got {region.shape}")
            self.eval_region = torch.from_numpy(region).to(self.device)
        self.num_coils, self.snr, self.seed = num_coils, snr, int(seed)
        self.max_phase, self.vary_coils = max_phase, vary_coils
        self.radius_range = (float(lo), float(hi))
        self._cases: dict[int, _Case] = {}
        self._radial: OrderedDict[tuple[int, Sampling, int], torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return int(self.objects.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """The reconstruction grid ``(H, W)``."""
        return int(self.brain.shape[1]), int(self.brain.shape[2])

    @property
    def object_shape(self) -> tuple[int, int]:
        """The object grid ``(Hs, Ws)`` the k-space is simulated on."""
        return int(self.objects.shape[1]), int(self.objects.shape[2])

    @property
    def oversampling(self) -> float:
        """How many times finer the object grid is than the reconstruction grid (the smaller
        of the two axes' ratios)."""
        (hs, ws), (h, w) = self.object_shape, self.image_shape
        return min(hs / h, ws / w)

    def _check_indices(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> list[int]:
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx:
            raise ValueError("indices is empty")
        if min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)}), got {min(idx)}..{max(idx)}")
        return idx

    def _fine_maps(self, i: int) -> torch.Tensor:
        """Case ``i``'s coil maps on the object grid, complex ``(C, Hs, Ws)``."""
        if self.vary_coils:
            gen = torch.Generator().manual_seed(case_seed(self.seed, i, 1))
            u = torch.rand(2, generator=gen).double()
            lo, hi = self.radius_range
            rotation, radius = 2 * math.pi * u[0], lo + (hi - lo) * u[1]
        else:
            rotation, radius = torch.zeros(()), torch.full((), 1.5)
        maps = random_birdcage_maps(self.num_coils, self.object_shape, rotation=rotation,
                                    radius=radius)  # fmt: skip
        return maps[0].to(self.device)

    def _case(self, i: int) -> _Case:
        """Case ``i``'s noise-free data, computed on first use (one case at a time, so its
        values do not depend on the batch that asked first)."""
        if i not in self._cases:
            phase = smooth_phase(self.object_shape, max_phase=self.max_phase,
                                 seed=case_seed(self.seed, i, 0))  # fmt: skip
            obj = torch.polar(self.objects[i], phase.to(self.device))
            shape = self.image_shape
            if self.num_coils == 1:
                maps = torch.ones(1, *shape, dtype=torch.complex64, device=self.device)
                kspace = crop_kspace(fft2c(obj), shape).unsqueeze(0)
            else:
                fine_maps = self._fine_maps(i)
                kspace = crop_kspace(fft2c(obj.unsqueeze(0) * fine_maps), shape)
                maps = fourier_resample(fine_maps, shape)
            target = fourier_resample(obj, shape)
            self._cases[i] = _Case(obj=obj, target=target, kspace=kspace, maps=maps)
        return self._cases[i]

    def _radial_samples(self, i: int, sampling: Sampling, traj_seed: int) -> torch.Tensor:
        """Case ``i``'s noise-free samples ``(1, K)`` on the trajectory of ``(sampling,
        traj_seed)``, measured on the object grid (kept: every method sees the same data)."""
        key = (i, sampling, traj_seed)
        if key in self._radial:
            self._radial.move_to_end(key)
            return self._radial[key]
        grid, weights = _fine_radial(sampling, self.image_shape, self.object_shape, traj_seed,
                                     str(self.device))  # fmt: skip
        samples = grid.forward(self._case(i).obj[None, None])[0] * weights
        self._radial[key] = samples
        if len(self._radial) > RADIAL_CACHE:
            self._radial.popitem(last=False)
        return samples

    def coil_maps(self, indices: Sequence[int]) -> torch.Tensor:
        """The true coil maps resampled to the reconstruction grid, complex ``(B, C, H, W)``
        (ones for one coil). No model sees them."""
        return torch.stack([self._case(i).maps for i in self._check_indices(indices)])

    def fine_objects(self, indices: Sequence[int]) -> torch.Tensor:
        """The complex objects (magnitude times smooth phase) on the object grid,
        ``(B, Hs, Ws)``: what the k-space is measured from."""
        return torch.stack([self._case(i).obj for i in self._check_indices(indices)])

    def fine_coil_maps(self, indices: Sequence[int]) -> torch.Tensor:
        """The coil maps on the object grid, complex ``(B, C, Hs, Ws)`` (ones for one coil):
        what the k-space is measured with (e.g. to measure a moved object again)."""
        idx = self._check_indices(indices)
        if self.num_coils == 1:
            return torch.ones(len(idx), 1, *self.object_shape, dtype=torch.complex64,
                              device=self.device)  # fmt: skip
        return torch.stack([self._fine_maps(i) for i in idx])

    def targets(self, indices: Sequence[int]) -> torch.Tensor:
        """Complex references ``(B, H, W)``: the object with its smooth phase as a fully
        sampled, noise-free acquisition on the reconstruction grid sees it."""
        return torch.stack([self._case(i).target for i in self._check_indices(indices)])

    def noise_sigma(self, target: torch.Tensor, brain: torch.Tensor) -> torch.Tensor | None:
        """Per-case noise std ``(B,)`` at the simulator's SNR (None: no noise)."""
        if self.snr is None or math.isinf(self.snr):
            return None
        return noise_sigma_for_snr(target, self.snr, mask=brain)

    def _measure(
        self, clean: torch.Tensor, sigma: torch.Tensor | None, seeds: list[int]
    ) -> torch.Tensor:
        if sigma is None:
            return clean
        return add_complex_noise(clean, sigma=sigma.to(clean.real.dtype), seeds=seeds)

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        sampling: Sampling | str,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> ReconBatch:
        """Undersampled noisy k-space of the cases ``indices`` under ``sampling``.

        Args:
            indices: case indices (B of them).
            sampling: a :class:`~mricompendium.physics.masks.Sampling` or its string
                (``"poisson_2d@8"``, ``"radial@17"``).
            seed: seeds the noise and, without ``mask_seed``, one mask (or radial rotation)
                per case.
            mask_seed: one shared mask (or trajectory) from this seed instead. Radial batches
                of several cases need it (one operator per batch).

        Returns:
            A :class:`~mricompendium.data.recon.batches.ReconBatch` on the simulator's device.
        """
        idx = self._check_indices(indices)
        sampling = Sampling.parse(sampling)
        cases = [self._case(i) for i in idx]
        target = torch.stack([c.target for c in cases])
        brain = self.brain[idx]
        sigma = self.noise_sigma(target, brain)
        noise_seeds = [case_seed(seed, i, 2) for i in idx]
        common = {"true_maps": torch.stack([c.maps for c in cases]), "target": target,
                  "brain_mask": self.eval_region[idx]}  # fmt: skip
        indices_t = torch.tensor(idx, dtype=torch.int64)
        if sampling.is_radial:
            if self.num_coils != 1:
                raise ValueError("radial sampling is simulated for one coil only")
            if mask_seed is None and len(idx) > 1:
                raise ValueError("a radial batch shares one trajectory: pass mask_seed or 1 case")
            traj_seed = mask_seed if mask_seed is not None else case_seed(seed, idx[0], 3)
            clean = torch.stack([self._radial_samples(i, sampling, traj_seed) for i in idx])
            kspace = self._measure(clean, sigma, noise_seeds)
            op = radial_operator(sampling, self.image_shape, traj_seed, str(self.device))
            ones = torch.ones_like(common["true_maps"])
            return ReconBatch(kspace, None, ones, indices=indices_t, sampling=str(sampling),
                              op=op, **common)  # fmt: skip
        mask = case_masks(sampling, self.image_shape, seed, idx, mask_seed).to(self.device)
        full = torch.stack([c.kspace for c in cases])
        kspace = self._measure(full, sigma, noise_seeds) * mask  # no noise where not sampled
        return ReconBatch(
            kspace=kspace,
            mask=mask,
            maps=estimate_sensitivities(kspace, mask),
            indices=indices_t,
            sampling=str(sampling),
            **common,
        )


def _check_grids(objects: np.ndarray, masks: np.ndarray) -> None:
    """Objects ``(N, Hs, Ws)`` at least twice finer than the masks' grid ``(N, H, W)``."""
    if objects.ndim != 3 or masks.ndim != 3 or len(objects) != len(masks):
        raise ValueError(
            f"objects (N, Hs, Ws) and masks_brain (N, H, W) with the same N expected, got "
            f"{objects.shape} and {masks.shape}"
        )
    (hs, ws), (h, w) = objects.shape[1:], masks.shape[1:]
    if hs < MIN_OVERSAMPLING * h or ws < MIN_OVERSAMPLING * w:
        raise ValueError(
            f"objects on {hs}x{ws} are not at least {MIN_OVERSAMPLING:g}x finer than the "
            f"reconstruction grid {h}x{w} of masks_brain: the data would come from the "
            "operator that reconstructs them (the inverse crime)"
        )
