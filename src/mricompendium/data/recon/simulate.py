"""The package's one k-space simulator: magnitude slices -> undersampled noisy k-space.

:class:`KspaceSimulator`: each magnitude slice ``(H, W)`` gets a smooth random phase
(:func:`~mricompendium.physics.simulate.smooth_phase`), is weighted by birdcage coil maps
(rotated and scaled at random per case, so the coil geometry varies; one coil: no weighting),
measured (Cartesian: centred FFT and a mask; radial: a golden-angle NUFFT), and receives white
complex Gaussian noise at the SNR of :func:`~mricompendium.physics.simulate.noise_sigma_for_snr`
(mean ``|target|`` inside the brain mask over the noise standard deviation, per case). This is an
"inverse crime" setting (the same discrete operator simulates and reconstructs; see
:mod:`mricompendium.physics.simulate`).

Every random choice of case ``i`` (phase, coil ring, noise, per-case mask or trajectory) is drawn
from :func:`~mricompendium.data.recon.batches.case_seed` of ``(seed, i, purpose)``: a case's data do
not depend on the batch it is in, and cases are independent draws.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

from mricompendium.data.recon.batches import ReconBatch, case_masks, case_seed
from mricompendium.physics.coils import estimate_sensitivities, random_birdcage_maps
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import Sampling
from mricompendium.physics.nufft import RadialNufftOp, density_compensation
from mricompendium.physics.simulate import add_complex_noise, noise_sigma_for_snr, smooth_phase

__all__ = ["KspaceSimulator", "radial_operator"]


@functools.lru_cache(maxsize=512)
def radial_operator(
    sampling: Sampling, shape: tuple[int, int], seed: int, device: str = "cpu"
) -> RadialNufftOp:
    """Single-coil golden-angle NUFFT of ``sampling`` (first spoke from ``seed``), with
    Pipe-Menon density compensation; cached (building one takes tens of milliseconds)."""
    traj = sampling.trajectory(shape, seed).to(device)
    return RadialNufftOp(traj, shape, dcf=density_compensation(traj, shape))


class KspaceSimulator:
    """Simulated undersampled k-space from magnitude slices (single- or multi-coil).

    ``batch(indices, sampling, seed)`` is a pure function of its arguments.

    Args:
        images: float ``(N, H, W)`` magnitude slices.
        masks_brain: bool ``(N, H, W)`` brain masks (SNR reference region, ``ssim_brain``).
        num_coils: coils C (1: single-coil, maps = 1).
        snr: mean ``|target|`` inside the brain / noise std (per real and imaginary part), per
            case; ``None`` or ``inf`` for noise-free k-space.
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
        images: np.ndarray,
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
        images = np.asarray(images, dtype=np.float32)
        masks_brain = np.asarray(masks_brain).astype(bool)
        if images.ndim != 3 or masks_brain.shape != images.shape:
            raise ValueError(
                f"images (N, H, W) and masks_brain of the same shape expected, got "
                f"{images.shape} and {masks_brain.shape}"
            )
        if not isinstance(num_coils, int) or num_coils < 1:
            raise ValueError(f"num_coils must be an int >= 1, got {num_coils!r}")
        if snr is not None and not snr > 0:
            raise ValueError(f"snr must be positive (or None), got {snr}")
        empty = np.flatnonzero(~masks_brain.reshape(len(images), -1).any(axis=1))
        if empty.size:
            raise ValueError(f"brain masks of cases {empty.tolist()} are empty")
        lo, hi = radius_range
        if not 0 < lo <= hi:
            raise ValueError(f"radius_range must be (lo, hi) with 0 < lo <= hi, got {radius_range}")
        self.device = torch.device(device)
        self.images = torch.from_numpy(images).to(self.device)
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

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def _check_indices(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> list[int]:
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx:
            raise ValueError("indices is empty")
        if min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)}), got {min(idx)}..{max(idx)}")
        return idx

    def coil_maps(self, indices: Sequence[int]) -> torch.Tensor:
        """The true coil maps of the cases, complex ``(B, C, H, W)`` (ones for one coil)."""
        idx = self._check_indices(indices)
        if self.num_coils == 1:
            return torch.ones(len(idx), 1, *self.image_shape, dtype=torch.complex64).to(self.device)
        if self.vary_coils:
            draws = [
                torch.rand(2, generator=torch.Generator().manual_seed(case_seed(self.seed, i, 1)))
                for i in idx
            ]
            u = torch.stack(draws).double()
            lo, hi = self.radius_range
            rotation, radius = 2 * math.pi * u[:, 0], lo + (hi - lo) * u[:, 1]
        else:
            rotation, radius = torch.zeros(len(idx)), torch.full((len(idx),), 1.5)
        maps = random_birdcage_maps(
            self.num_coils, self.image_shape, rotation=rotation, radius=radius
        )
        return maps.to(self.device)

    def targets(self, indices: Sequence[int]) -> torch.Tensor:
        """Complex ground truth ``(B, H, W)``: magnitude times the case's smooth phase."""
        idx = self._check_indices(indices)
        phase = torch.stack(
            [
                smooth_phase(
                    self.image_shape, max_phase=self.max_phase, seed=case_seed(self.seed, i, 0)
                )
                for i in idx
            ]
        ).to(self.device)
        return torch.polar(self.images[idx], phase)

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
        target, maps = self.targets(idx), self.coil_maps(idx)
        brain = self.brain[idx]
        sigma = self.noise_sigma(target, brain)
        noise_seeds = [case_seed(seed, i, 2) for i in idx]
        common = {"true_maps": maps, "target": target, "brain_mask": self.eval_region[idx]}
        indices_t = torch.tensor(idx, dtype=torch.int64)
        if sampling.is_radial:
            if self.num_coils != 1:
                raise ValueError("radial sampling is simulated for one coil only")
            if mask_seed is None and len(idx) > 1:
                raise ValueError("a radial batch shares one trajectory: pass mask_seed or 1 case")
            traj_seed = mask_seed if mask_seed is not None else case_seed(seed, idx[0], 3)
            op = radial_operator(sampling, self.image_shape, traj_seed, str(self.device))
            kspace = self._measure(op.A(target), sigma, noise_seeds)
            return ReconBatch(kspace, None, maps, indices=indices_t, sampling=str(sampling),
                              op=op, **common)  # fmt: skip
        mask = case_masks(sampling, self.image_shape, seed, idx, mask_seed).to(self.device)
        full = fft2c(target.unsqueeze(1) * maps)
        kspace = self._measure(full, sigma, noise_seeds) * mask  # no noise where not sampled
        return ReconBatch(
            kspace=kspace,
            mask=mask,
            maps=estimate_sensitivities(kspace, mask),
            indices=indices_t,
            sampling=str(sampling),
            **common,
        )
