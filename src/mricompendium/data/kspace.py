"""Multi-coil k-space for reconstruction experiments: simulated from the embedded slices or real.

Two sources give the same :class:`ReconBatch`, so a notebook switches between them with one
parameter (``data_path``):

- :class:`MultiCoilSimulator`: magnitude slices ``(N, H, W)`` get a smooth random phase
  (:func:`~mricompendium.physics.simulate.smooth_phase`), are weighted by birdcage coil maps
  (rotated and scaled at random per case, so the coil geometry varies), Fourier transformed
  (:func:`~mricompendium.physics.fft.fft2c`), receive white complex Gaussian noise at a given SNR,
  and are undersampled by a :class:`Sampling` mask. This is an "inverse crime" setting (the same
  discrete operator simulates and reconstructs; see :mod:`mricompendium.physics.simulate`).
- :class:`RealKspaceSet`: fully sampled k-space from fastMRI or Calgary-Campinas HDF5 files,
  cropped and resized by a documented policy (:meth:`RealKspaceSet.from_arrays`), with the RSS
  image as the reference, undersampled retrospectively with the same masks.

Targets. ``target`` is the complex ground-truth image ``(B, H, W)``: for simulated data the
magnitude slice times its smooth phase; for real data the RSS image (phase zero). The models see
coil maps estimated from the calibration region (:func:`~mricompendium.physics.coils.
estimate_sensitivities`), which absorb the low-resolution image phase, so their complex output
has a different phase from ``target``. Compare magnitudes: ``ReconBatch.target_abs``
(``|target|``) is the reference for losses and metrics.

Layouts follow the package: k-space and maps complex ``(B, C, H, W)``, masks float32
``(B or 1, 1, 1, W)`` (1D, undersampling the last dimension) or ``(B or 1, 1, H, W)`` (2D).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import load_calgary_campinas_h5, load_fastmri_h5
from mricompendium.physics.coils import estimate_sensitivities, rss
from mricompendium.physics.fft import fft2c, ifft2c
from mricompendium.physics.masks import (
    equispaced_mask_1d,
    gaussian_mask_2d,
    poisson_disc_mask_2d,
    random_mask_1d,
)
from mricompendium.physics.simulate import smooth_phase

__all__ = [
    "PATTERNS",
    "MultiCoilSimulator",
    "RealKspaceSet",
    "ReconBatch",
    "Sampling",
    "batch_fn",
    "case_seed",
    "coil_compress",
    "load_kspace_source",
    "random_birdcage_maps",
    "undersample",
]

PATTERNS = ("equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d")
_LABELS = {
    "equispaced_1d": "1D equispaced",
    "random_1d": "1D random",
    "poisson_2d": "2D Poisson-disc",
    "gaussian_2d": "2D Gaussian",
}
MIN_ACS = 4  # fewest calibration lines (1D) or box side (2D) a mask keeps


def case_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed derived from ``seed`` and integer keys (case index, purpose, ...)."""
    state = np.random.SeedSequence([int(seed) % 2**63, *(int(k) % 2**63 for k in keys)])
    return int(state.generate_state(1, np.uint32)[0] >> np.uint32(1))


@dataclass(frozen=True)
class Sampling:
    """A Cartesian undersampling setting.

    Attributes:
        pattern: ``"equispaced_1d"``, ``"random_1d"`` (phase-encode lines, the last dimension W)
            or ``"poisson_2d"``, ``"gaussian_2d"`` (2D variable density).
        acceleration: realised acceleration (grid points / sampled points), > 1.
        center_fraction: 1D only: fraction of columns fully sampled at the centre; default
            ``0.32 / acceleration`` (fastMRI's 0.08 at 4x, 0.04 at 8x), at least
            :data:`MIN_ACS` columns.
        calib: 2D only: side of the fully sampled square calibration box in pixels; default
            ``max(MIN_ACS, round(min(H, W) / 8))`` (8x8 at 64x64).
    """

    pattern: str
    acceleration: float
    center_fraction: float | None = None
    calib: int | None = None

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {self.pattern!r}")
        if not float(self.acceleration) > 1.0:
            raise ValueError(f"acceleration must be > 1, got {self.acceleration}")
        if self.center_fraction is not None and not 0.0 < self.center_fraction < 1.0:
            raise ValueError(f"center_fraction must be in (0, 1), got {self.center_fraction}")
        if self.calib is not None and self.calib < 1:
            raise ValueError(f"calib must be >= 1, got {self.calib}")
        object.__setattr__(self, "acceleration", float(self.acceleration))

    @classmethod
    def parse(cls, text: str | Sampling) -> Sampling:
        """Parse ``"pattern@acceleration"``, e.g. ``"equispaced_1d@4"``, ``"poisson_2d@8"``.

        Optional ``",cf=0.08"`` (1D centre fraction) or ``",calib=8"`` (2D box) may follow.
        A :class:`Sampling` is returned unchanged.
        """
        if isinstance(text, Sampling):
            return text
        if not isinstance(text, str) or "@" not in text:
            raise ValueError(
                f"expected 'pattern@acceleration' such as 'poisson_2d@8', got {text!r}"
            )
        head, *options = [part.strip() for part in text.split(",")]
        pattern, acc = (s.strip() for s in head.split("@", 1))
        kwargs: dict[str, float | int] = {}
        for opt in options:
            key, _, value = opt.partition("=")
            if key == "cf":
                kwargs["center_fraction"] = float(value)
            elif key == "calib":
                kwargs["calib"] = int(value)
            else:
                raise ValueError(f"unknown sampling option {opt!r} in {text!r} (cf=, calib=)")
        try:
            acceleration = float(acc.rstrip("x"))
        except ValueError as e:
            raise ValueError(f"cannot read the acceleration in {text!r}") from e
        return cls(pattern, acceleration, **kwargs)  # type: ignore[arg-type]

    @property
    def is_2d(self) -> bool:
        """Whether the mask is 2D ``(1, 1, H, W)`` rather than 1D ``(1, 1, 1, W)``."""
        return self.pattern.endswith("_2d")

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"1D equispaced 4x"``."""
        return f"{_LABELS[self.pattern]} {self.acceleration:g}x"

    def __str__(self) -> str:
        return f"{self.pattern}@{self.acceleration:g}"

    def make_mask(self, shape: tuple[int, int], seed: int) -> torch.Tensor:
        """Float32 0/1 mask ``(1, 1, 1, W)`` (1D) or ``(1, 1, H, W)`` (2D); cached per args."""
        return _cached_mask(self, (int(shape[0]), int(shape[1])), int(seed)).clone()


@functools.lru_cache(maxsize=4096)
def _cached_mask(sampling: Sampling, shape: tuple[int, int], seed: int) -> torch.Tensor:
    h, w = shape
    acc = sampling.acceleration
    if not sampling.is_2d:
        cf = sampling.center_fraction if sampling.center_fraction is not None else 0.32 / acc
        cf = min(max(cf, MIN_ACS / w), int(round(w / acc)) / w)
        fn = equispaced_mask_1d if sampling.pattern == "equispaced_1d" else random_mask_1d
        return fn(w, acceleration=acc, center_fraction=cf, seed=seed)
    side = sampling.calib if sampling.calib is not None else max(MIN_ACS, round(min(h, w) / 8))
    fn2 = poisson_disc_mask_2d if sampling.pattern == "poisson_2d" else gaussian_mask_2d
    return fn2((h, w), acceleration=acc, calib=(side, side), seed=seed)


@dataclass
class ReconBatch:
    """One batch of undersampled multi-coil data with its references.

    Attributes:
        kspace: masked noisy k-space, complex ``(B, C, H, W)`` (zeros where not sampled).
        mask: float32 ``(B or 1, 1, 1, W)`` or ``(B or 1, 1, H, W)``.
        maps: coil maps estimated from the calibration region of ``kspace``, complex
            ``(B, C, H, W)``: what a model is given.
        true_maps: the maps that made the data (simulation) or estimated from the fully sampled
            k-space (real data), complex ``(B, C, H, W)``.
        target: complex ground truth ``(B, H, W)`` (see the module docstring).
        brain_mask: bool ``(B, H, W)``, the region for ``ssim_brain``.
        indices: the case indices, int64 ``(B,)``.
        sampling: the setting, as ``str(Sampling)``.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    maps: torch.Tensor
    true_maps: torch.Tensor
    target: torch.Tensor
    brain_mask: torch.Tensor
    indices: torch.Tensor
    sampling: str = ""

    @property
    def target_abs(self) -> torch.Tensor:
        """Magnitude reference ``|target|``, real ``(B, H, W)``: the loss and metric target."""
        return self.target.abs()

    def to(self, device: str | torch.device) -> ReconBatch:
        """The batch with every tensor on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)

    def __len__(self) -> int:
        return int(self.kspace.shape[0])


def random_birdcage_maps(
    num_coils: int,
    shape: tuple[int, int],
    *,
    rotation: torch.Tensor,
    radius: torch.Tensor,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Birdcage maps for a batch of coil rings, each rotated and with its own radius.

    The model of :func:`~mricompendium.physics.coils.birdcage_maps` (coil ``c`` a conductor at
    angle ``2 pi c / C + rotation`` on a circle of ``radius`` image half-widths; sensitivity
    ``exp(i (psi - angle)) / d``), normalised to ``sum_c |S_c|^2 = 1``. With ``rotation = 0``
    and ``radius = 1.5`` it equals ``birdcage_maps(num_coils, shape)``.

    Args:
        num_coils: C >= 1.
        shape: ``(H, W)``.
        rotation: ``(B,)`` ring rotations in radians.
        radius: ``(B,)`` ring radii (> 0; > 1 keeps the coils outside the field of view).
        dtype: complex output dtype.

    Returns:
        complex maps ``(B, C, H, W)``.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}")
    rotation = torch.as_tensor(rotation, dtype=torch.float64).reshape(-1, 1, 1, 1)
    radius = torch.as_tensor(radius, dtype=torch.float64).reshape(-1, 1, 1, 1)
    if rotation.shape != radius.shape:
        raise ValueError("rotation and radius must both be (B,)")
    if bool((radius <= 0).any()):
        raise ValueError("radius must be positive")
    h, w = shape
    base = torch.arange(num_coils, dtype=torch.float64).view(1, -1, 1, 1) * (
        2 * math.pi / num_coils
    )
    angle = base + rotation
    y = ((torch.arange(h, dtype=torch.float64) - h / 2) / (h / 2)).view(1, 1, -1, 1)
    x = ((torch.arange(w, dtype=torch.float64) - w / 2) / (w / 2)).view(1, 1, 1, -1)
    dy = y - radius * torch.sin(angle)
    dx = x - radius * torch.cos(angle)
    dist = torch.sqrt(dx**2 + dy**2).clamp_min(1e-6)
    maps = torch.polar(1.0 / dist, torch.atan2(dx, -dy) - angle)
    return (maps / rss(maps, dim=1).unsqueeze(1)).to(dtype)


def _case_masks(
    sampling: Sampling,
    shape: tuple[int, int],
    seed: int,
    indices: Sequence[int],
    mask_seed: int | None,
) -> torch.Tensor:
    """One mask per case (seeded by case) or one shared mask (``mask_seed``)."""
    if mask_seed is not None:
        return sampling.make_mask(shape, mask_seed)
    return torch.cat([sampling.make_mask(shape, case_seed(seed, i, 3)) for i in indices])


def undersample(
    full_kspace: torch.Tensor,
    mask: torch.Tensor,
    *,
    sigma: torch.Tensor | None = None,
    noise_seeds: Sequence[int] = (),
) -> torch.Tensor:
    """Mask fully sampled k-space ``(B, C, H, W)``, optionally adding seeded per-case noise.

    Args:
        full_kspace: complex ``(B, C, H, W)``.
        mask: float ``(B or 1, 1, 1 or H, W)``.
        sigma: ``(B,)`` noise std per real/imaginary part, or None for no noise.
        noise_seeds: one seed per case (needed with ``sigma``): a case's noise depends only on
            its seed, not on the rest of the batch.

    Returns:
        ``mask * (full_kspace + noise)``, complex ``(B, C, H, W)``.
    """
    k = full_kspace
    if sigma is not None:
        if len(noise_seeds) != k.shape[0]:
            raise ValueError(f"need {k.shape[0]} noise seeds, got {len(noise_seeds)}")
        noise = torch.stack(
            [
                torch.randn(
                    (*k.shape[1:], 2),
                    generator=torch.Generator().manual_seed(s),
                    dtype=k.real.dtype,
                )
                for s in noise_seeds
            ]
        )
        noise = torch.view_as_complex(noise).to(k.device)
        k = k + sigma.to(device=k.device, dtype=k.real.dtype).view(-1, 1, 1, 1) * noise
    return k * mask.to(device=k.device, dtype=k.real.dtype)


class MultiCoilSimulator:
    """Simulated undersampled multi-coil k-space from magnitude slices.

    Case ``i`` (an index into ``images``) always gets the same smooth phase, coil geometry,
    noise and (with per-case masks) mask for a given ``seed``, whatever batch it is in:
    ``batch(indices, sampling, seed)`` is a pure function of its arguments.

    Args:
        images: float ``(N, H, W)`` magnitude slices (e.g. ``load_slices(...).images``).
        masks_brain: bool ``(N, H, W)`` brain masks (SNR reference region, ``ssim_brain``).
        num_coils: coils C.
        snr: mean ``|target|`` inside the brain / noise std (per real and imaginary part), per
            case; ``None`` or ``inf`` for noise-free k-space.
        seed: base seed of the case-wise phase and coil geometry.
        max_phase: peak of the smooth phase in radians.
        vary_coils: rotate the coil ring uniformly at random and draw its radius in
            ``radius_range`` per case; False: the fixed ring of ``birdcage_maps``.
        radius_range: range of ring radii (image half-widths).
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
        device: str | torch.device = "cpu",
    ) -> None:
        images = np.asarray(images, dtype=np.float32)
        masks_brain = np.asarray(masks_brain).astype(bool)
        if images.ndim != 3 or masks_brain.shape != images.shape:
            raise ValueError(
                f"images (N, H, W) and masks_brain of the same shape expected, got "
                f"{images.shape} and {masks_brain.shape}"
            )
        if num_coils < 1:
            raise ValueError(f"num_coils must be >= 1, got {num_coils}")
        if snr is not None and not snr > 0:
            raise ValueError(f"snr must be positive (or None), got {snr}")
        if not masks_brain.reshape(len(images), -1).any(axis=1).all():
            raise ValueError("every brain mask must contain at least one pixel")
        self.device = torch.device(device)
        self.images = torch.from_numpy(images).to(self.device)
        self.brain = torch.from_numpy(masks_brain).to(self.device)
        self.num_coils, self.snr, self.seed = num_coils, snr, int(seed)
        self.max_phase, self.vary_coils, self.radius_range = max_phase, vary_coils, radius_range

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
        """The true coil maps of the cases, complex ``(B, C, H, W)``."""
        idx = self._check_indices(indices)
        b = len(idx)
        if self.vary_coils:
            u = torch.tensor(
                [
                    torch.rand(
                        2, generator=torch.Generator().manual_seed(case_seed(self.seed, i, 1))
                    ).tolist()
                    for i in idx
                ],
                dtype=torch.float64,
            )
            lo, hi = self.radius_range
            rotation, radius = 2 * math.pi * u[:, 0], lo + (hi - lo) * u[:, 1]
        else:
            rotation, radius = torch.zeros(b), torch.full((b,), 1.5)
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
        """Per-case noise std ``(B,)``: mean ``|target|`` in the brain / snr (None: no noise)."""
        if self.snr is None or math.isinf(self.snr):
            return None
        mag = target.abs() * brain
        return (mag.sum(dim=(-2, -1)) / brain.sum(dim=(-2, -1))) / self.snr

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
            sampling: a :class:`Sampling` or its string (``"poisson_2d@8"``).
            seed: seeds the noise and, without ``mask_seed``, one mask per case (both per
                case: a case's data do not depend on the rest of the batch).
            mask_seed: one shared mask ``(1, 1, 1|H, W)`` from this seed instead.

        Returns:
            A :class:`ReconBatch` on the simulator's device.
        """
        idx = self._check_indices(indices)
        sampling = Sampling.parse(sampling)
        target, maps = self.targets(idx), self.coil_maps(idx)
        brain = self.brain[idx]
        full = fft2c(target.unsqueeze(1) * maps)  # one batched FFT call
        mask = _case_masks(sampling, self.image_shape, seed, idx, mask_seed).to(self.device)
        sigma = self.noise_sigma(target, brain)
        kspace = undersample(
            full, mask, sigma=sigma, noise_seeds=[case_seed(seed, i, 2) for i in idx]
        )
        return ReconBatch(
            kspace=kspace,
            mask=mask,
            maps=estimate_sensitivities(kspace),
            true_maps=maps,
            target=target,
            brain_mask=brain,
            indices=torch.tensor(idx, dtype=torch.int64),
            sampling=str(sampling),
        )


def batch_fn(
    source: MultiCoilSimulator | RealKspaceSet,
    samplings: Sequence[Sampling | str],
    batch_size: int,
    *,
    indices: Sequence[int] | None = None,
    mask_pool: int = 8,
    seed: int = 0,
) -> Callable[[int, torch.Generator], ReconBatch]:
    """A training batch function ``(step, generator) -> ReconBatch`` for ``training.fit``.

    Each step draws ``batch_size`` cases (with replacement) from ``indices`` (default all),
    one setting from ``samplings`` and one shared mask from a pool of ``mask_pool`` seeds per
    setting (so masks are cached), all from the step's generator; the noise is new every step.

    Args:
        source: a :class:`MultiCoilSimulator` or :class:`RealKspaceSet`.
        samplings: the training settings (mixed over steps).
        batch_size: cases per step.
        indices: the training cases.
        mask_pool: distinct masks per setting seen in training.
        seed: offsets the mask-pool seeds (kept apart from evaluation masks).
    """
    settings = [Sampling.parse(s) for s in samplings]
    if not settings:
        raise ValueError("samplings is empty")
    if batch_size < 1 or mask_pool < 1:
        raise ValueError("batch_size and mask_pool must be >= 1")
    pool = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    if pool.size == 0:
        raise ValueError("no training cases")

    def sample(step: int, gen: torch.Generator) -> ReconBatch:
        pick = torch.randint(pool.size, (batch_size,), generator=gen).numpy()
        setting = settings[int(torch.randint(len(settings), (1,), generator=gen))]
        m_seed = 1_000_003 * (seed + 1) + int(torch.randint(mask_pool, (1,), generator=gen))
        noise_seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        return source.batch(pool[pick], setting, noise_seed, mask_seed=m_seed)

    return sample


def _num_slices(path: str | Path) -> int | None:
    """Slices in an HDF5 file's ``kspace`` without reading it (None if it cannot be opened)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return int(f["kspace"].shape[0])
    except (OSError, KeyError, TypeError):
        return None  # the loader raises the informative error


def _slice_range(n: int | None, keep_fraction: float, max_slices: int | None) -> slice | None:
    """The central ``keep_fraction`` of ``n`` slices, thinned to at most ``max_slices``."""
    if n is None:
        return None
    keep = max(1, int(round(n * keep_fraction)))
    start = (n - keep) // 2
    step = 1 if max_slices is None else max(1, math.ceil(keep / max_slices))
    stop = start + keep if max_slices is None else min(start + keep, start + step * max_slices)
    return slice(start, stop, step)


def _centre_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    ch, cw = min(shape[0], h), min(shape[1], w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def coil_compress(kspace: torch.Tensor, num_coils: int) -> torch.Tensor:
    """PCA coil compression of one volume ``(S, C, H, W)`` to ``num_coils`` virtual coils.

    The coil covariance over all samples of the volume is diagonalised and the data projected
    on its ``num_coils`` leading eigenvectors (SVD coil compression, Huang et al., MRI 2008).
    """
    s, c, h, w = kspace.shape
    if not 1 <= num_coils <= c:
        raise ValueError(f"num_coils must be in [1, {c}], got {num_coils}")
    if num_coils == c:
        return kspace
    flat = kspace.transpose(0, 1).reshape(c, -1).to(torch.complex128)
    _, vecs = torch.linalg.eigh(flat @ flat.conj().T)
    basis = vecs[:, -num_coils:].flip(-1)  # leading eigenvectors first
    out = basis.conj().T @ flat
    return out.reshape(num_coils, s, h, w).transpose(0, 1).to(kspace.dtype)


def _prepare_volume(
    kspace: np.ndarray,
    *,
    crop: tuple[int, int] | None,
    size: int | None,
    num_coils: int | None,
) -> torch.Tensor:
    """Fully sampled ``(S, C, H, W)`` k-space -> cropped, resized, compressed, scaled k-space."""
    image = ifft2c(torch.from_numpy(np.ascontiguousarray(kspace, dtype=np.complex64)))
    if crop is not None:
        image = _centre_crop(image, crop)
    if size is not None:
        side = min(image.shape[-2:])
        if size > side:
            raise ValueError(f"size {size} exceeds the cropped image side {side}")
        image = _centre_crop(image, (side, side))
    k = fft2c(image)
    if size is not None:
        k = _centre_crop(k, (size, size))  # lower resolution, same field of view
    if num_coils is not None:
        k = coil_compress(k, num_coils)
    ref = torch.quantile(rss(ifft2c(k), dim=1).flatten()[::7].double(), 0.995)
    return k / float(ref.clamp_min(1e-12))


class RealKspaceSet:
    """Fully sampled real multi-coil k-space, undersampled retrospectively like the simulator.

    Policy (see :meth:`from_arrays`): per volume, the coil images are centre-cropped (fastMRI:
    to the header's reconstruction matrix, which removes the 2x readout oversampling), made
    square and, with ``size``, reduced in resolution by cropping the k-space centre to
    ``size x size`` (the same field of view at a coarser grid). With ``num_coils``, PCA coil
    compression. Each volume is scaled so the 99.5th percentile of its RSS image is 1, like the
    embedded slices. The reference is the RSS of the fully sampled coil images (``target``,
    phase zero); ``true_maps`` are the fully sampled coil images over their RSS; the brain
    (object) mask is RSS > 10 % of 1 with holes filled. No noise is added: the data have their own.

    Args:
        kspace: fully sampled, centred k-space, complex ``(N, C, H, W)`` (all slices).
        volume_ids: ``(N,)`` int volume of each slice (for splits by subject).
        names: one name per volume.
        device: where the batches are made.
    """

    def __init__(
        self,
        kspace: torch.Tensor,
        *,
        volume_ids: Sequence[int] | None = None,
        names: Sequence[str] = (),
        device: str | torch.device = "cpu",
    ) -> None:
        if not torch.is_complex(kspace) or kspace.dim() != 4:
            raise ValueError(f"kspace must be complex (N, C, H, W), got {tuple(kspace.shape)}")
        from scipy import ndimage

        self.device = torch.device(device)
        self.kspace = kspace.to(self.device)
        coil_images = ifft2c(self.kspace)
        image = rss(coil_images, dim=1)
        self.target = image.to(kspace.dtype)
        floor = 1e-6 * image.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        self.true_maps = coil_images / (image + floor).unsqueeze(1)
        masks = [ndimage.binary_fill_holes(m) for m in (image > 0.1).cpu().numpy()]
        self.brain = torch.from_numpy(np.stack(masks)).to(self.device)
        n = kspace.shape[0]
        self.volume_ids = np.zeros(n, np.int64) if volume_ids is None else np.asarray(volume_ids)
        if self.volume_ids.shape != (n,):
            raise ValueError(f"volume_ids must be ({n},), got {self.volume_ids.shape}")
        self.names = list(names)
        self.num_coils = int(kspace.shape[1])

    def __len__(self) -> int:
        return int(self.kspace.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    @classmethod
    def from_arrays(
        cls,
        volumes: Sequence[np.ndarray],
        *,
        crops: Sequence[tuple[int, int] | None] | None = None,
        size: int | None = None,
        num_coils: int | None = None,
        names: Sequence[str] = (),
        device: str | torch.device = "cpu",
    ) -> RealKspaceSet:
        """Build from fully sampled volumes ``(S, C, H, W)`` with the policy of the class."""
        if not volumes:
            raise ValueError("no volumes")
        crops = list(crops) if crops is not None else [None] * len(volumes)
        prepared = [
            _prepare_volume(v, crop=c, size=size, num_coils=num_coils)
            for v, c in zip(volumes, crops, strict=True)
        ]
        shapes = {tuple(p.shape[1:]) for p in prepared}
        if len(shapes) > 1:
            raise ValueError(
                f"volumes differ in (coils, H, W) {sorted(shapes)}: pass size= and num_coils="
            )
        ids = np.concatenate([np.full(len(p), i) for i, p in enumerate(prepared)])
        return cls(torch.cat(prepared), volume_ids=ids, names=names, device=device)

    @classmethod
    def from_fastmri(
        cls,
        path: str | Path,
        *,
        size: int | None = None,
        num_coils: int | None = None,
        keep_fraction: float = 1.0,
        max_slices: int | None = None,
        max_files: int | None = None,
        device: str | torch.device = "cpu",
    ) -> RealKspaceSet:
        """Load fastMRI multi-coil ``.h5`` files (one file or a folder of them).

        Each volume is cropped to its ISMRMRD reconstruction matrix ``(x, y)`` in image space.
        ``keep_fraction`` keeps the central slices of each volume, ``max_slices`` thins them
        evenly; ``max_files`` caps the files read (sorted by name).
        """
        files = _h5_files(path, max_files)
        vols, crops = [], []
        for f in files:
            vol = load_fastmri_h5(f, slices=_slice_range(_num_slices(f), keep_fraction, max_slices))
            if vol.kspace.ndim != 4:
                raise DataError(f, "is single-coil; RealKspaceSet needs multi-coil k-space")
            vols.append(vol.kspace)
            crops.append((vol.recon_size[0], vol.recon_size[1]))
        return cls.from_arrays(
            vols,
            crops=crops,
            size=size,
            num_coils=num_coils,
            names=[f.name for f in files],
            device=device,
        )

    @classmethod
    def from_calgary_campinas(
        cls,
        path: str | Path,
        *,
        size: int | None = None,
        num_coils: int | None = None,
        keep_fraction: float = 0.6,
        max_slices: int | None = None,
        max_files: int | None = None,
        device: str | torch.device = "cpu",
    ) -> RealKspaceSet:
        """Load Calgary-Campinas (CC-359) multi-coil ``.h5`` files (one file or a folder).

        Slices are (ky, kz) planes along the readout; ``keep_fraction=0.6`` drops the outer
        slices (mostly outside the head; the MC-MRRec challenge drops the outer 50 of 256).
        """
        files = _h5_files(path, max_files)
        vols = [
            load_calgary_campinas_h5(
                f, slices=_slice_range(_num_slices(f), keep_fraction, max_slices)
            )
            for f in files
        ]
        return cls.from_arrays(
            vols, size=size, num_coils=num_coils, names=[f.name for f in files], device=device
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> RealKspaceSet:
        """The slices ``indices`` as a new set (sharing nothing mutable)."""
        idx = np.asarray(indices, dtype=np.int64)
        out = object.__new__(RealKspaceSet)
        out.__dict__.update(self.__dict__)
        for key in ("kspace", "target", "true_maps", "brain"):
            setattr(out, key, getattr(self, key)[torch.as_tensor(idx, device=self.device)])
        out.volume_ids = self.volume_ids[idx]
        return out

    def split_by_volume(self, n_test: int) -> tuple[RealKspaceSet, RealKspaceSet]:
        """``(train, test)`` with the last ``n_test`` volumes held out (no subject in both)."""
        vols = np.unique(self.volume_ids)
        if not 1 <= n_test < len(vols):
            raise ValueError(f"n_test must be in [1, {len(vols) - 1}], got {n_test}")
        test = np.isin(self.volume_ids, vols[-n_test:])
        return self.subset(np.flatnonzero(~test)), self.subset(np.flatnonzero(test))

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        sampling: Sampling | str,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> ReconBatch:
        """Retrospectively undersampled slices, as :meth:`MultiCoilSimulator.batch`."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx or min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be a non-empty subset of [0, {len(self)})")
        sampling = Sampling.parse(sampling)
        mask = _case_masks(sampling, self.image_shape, seed, idx, mask_seed).to(self.device)
        kspace = undersample(self.kspace[idx], mask)
        return ReconBatch(
            kspace=kspace,
            mask=mask,
            maps=estimate_sensitivities(kspace),
            true_maps=self.true_maps[idx],
            target=self.target[idx],
            brain_mask=self.brain[idx],
            indices=torch.tensor(idx, dtype=torch.int64),
            sampling=str(sampling),
        )


def _h5_files(path: str | Path, max_files: int | None) -> list[Path]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    files = sorted(p.glob("*.h5")) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"no .h5 files in {p}")
    return files[:max_files] if max_files is not None else files


def load_kspace_source(data_path: str | Path, data_format: str, **kwargs: object) -> RealKspaceSet:
    """``RealKspaceSet.from_fastmri`` or ``.from_calgary_campinas`` by ``data_format`` name."""
    loaders = {
        "fastmri": RealKspaceSet.from_fastmri,
        "calgary_campinas": RealKspaceSet.from_calgary_campinas,
    }
    if data_format not in loaders:
        raise ValueError(f"data_format must be one of {sorted(loaders)}, got {data_format!r}")
    return loaders[data_format](data_path, **kwargs)  # type: ignore[arg-type]
