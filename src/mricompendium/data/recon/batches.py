"""Batches of undersampled k-space, per-case seeding, and the training batch stream.

Both sources of reconstruction data (:class:`~mricompendium.data.recon.simulate.KspaceSimulator`
and :class:`~mricompendium.data.recon.real.RealKspaceSet`) give a :class:`ReconBatch`, so that a
notebook switches between them with one parameter (``data_path``).

Layouts follow the package: Cartesian k-space and maps complex ``(B, C, H, W)``, masks float32
``(B or 1, 1, 1, W)`` (1D) or ``(B or 1, 1, H, W)`` (2D); radial samples complex ``(B, C, K)``
with the acquisition's :class:`~mricompendium.physics.nufft.RadialNufftOp` in ``op``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from mricompendium.physics.masks import Sampling
from mricompendium.physics.sense import SenseOp, sens_reduce

__all__ = ["KspaceSource", "ReconBatch", "batch_fn", "case_masks", "case_seed"]


def case_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed derived from ``seed`` and integer keys (case index, purpose, ...)."""
    state = np.random.SeedSequence([int(seed) % 2**63, *(int(k) % 2**63 for k in keys)])
    return int(state.generate_state(1, np.uint32)[0] >> np.uint32(1))


@dataclass
class ReconBatch:
    """One batch of undersampled data with its references.

    Attributes:
        kspace: masked noisy k-space, complex ``(B, C, H, W)`` (zeros where not sampled), or
            radial samples ``(B, C, K)``.
        mask: float32 ``(B or 1, 1, 1 or H, W)``; ``None`` for radial data.
        maps: coil maps estimated from the calibration region of ``kspace`` (ones for one
            coil), complex ``(B, C, H, W)``: what a model is given.
        true_maps: the maps that made the data (simulation) or the fully sampled coil images
            over their RSS (real data), complex ``(B, C, H, W)``.
        target: complex ground truth ``(B, H, W)``: the simulated complex image, or the RSS of
            the fully sampled real k-space (phase zero).
        brain_mask: bool ``(B, H, W)``, the region of ``ssim_brain``.
        indices: the case indices, int64 ``(B,)``.
        sampling: the setting, as ``str(Sampling)``.
        op: the radial acquisition operator (``None`` for Cartesian data).

    The models see maps that absorb the low-resolution image phase, so their complex output
    has another phase than ``target``: losses and metrics compare magnitudes
    (:attr:`target_abs`).
    """

    kspace: torch.Tensor
    mask: torch.Tensor | None
    maps: torch.Tensor
    true_maps: torch.Tensor
    target: torch.Tensor
    brain_mask: torch.Tensor
    indices: torch.Tensor
    sampling: str = ""
    op: Any = None

    @property
    def target_abs(self) -> torch.Tensor:
        """Magnitude reference ``|target|``, real ``(B, H, W)``: the loss and metric target."""
        return self.target.abs()

    @property
    def is_radial(self) -> bool:
        return self.op is not None

    def operator(self) -> Any:
        """The forward operator: ``SenseOp(maps, mask)`` (Cartesian) or the radial ``op``."""
        return self.op if self.op is not None else SenseOp(self.maps, self.mask)

    def zero_filled(self, kspace: torch.Tensor | None = None) -> torch.Tensor:
        """Zero-filled SENSE image (Cartesian) or density-compensated gridding image (radial).

        Computed from the undersampled data only (``kspace``, default the batch's own), complex
        ``(B, H, W)``.
        """
        k = self.kspace if kspace is None else kspace
        if self.op is not None:
            return self.op.gridding_recon(k)
        return sens_reduce(k, self.maps)

    def to(self, device: str | torch.device) -> ReconBatch:
        """The batch with every tensor on ``device`` (a radial operator stays where it is)."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)

    def __len__(self) -> int:
        return int(self.kspace.shape[0])


class KspaceSource(Protocol):
    """What :func:`batch_fn` and the experiment layer need from a data source."""

    device: torch.device

    def __len__(self) -> int: ...

    @property
    def image_shape(self) -> tuple[int, int]: ...

    def batch(
        self,
        indices: Sequence[int] | np.ndarray,
        sampling: Sampling | str,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> ReconBatch: ...


def case_masks(
    sampling: Sampling,
    shape: tuple[int, int],
    seed: int,
    indices: Sequence[int],
    mask_seed: int | None,
) -> torch.Tensor:
    """One Cartesian mask per case (seeded by case) or one shared mask (``mask_seed``)."""
    if mask_seed is not None:
        return sampling.make_mask(shape, mask_seed)
    return torch.cat([sampling.make_mask(shape, case_seed(seed, i, 3)) for i in indices])


def batch_fn(
    source: KspaceSource,
    samplings: Sequence[Sampling | str],
    batch_size: int,
    *,
    indices: Sequence[int] | None = None,
    mask_pool: int = 8,
    seed: int = 0,
) -> Callable[[int, torch.Generator], ReconBatch]:
    """A training batch function ``(step, generator) -> ReconBatch`` for ``training.fit``.

    Each step draws ``batch_size`` cases (with replacement) from ``indices`` (default all),
    one setting from ``samplings`` and one shared mask (or radial trajectory) from a pool of
    ``mask_pool`` seeds per setting (so masks are cached), all from the step's generator; the
    noise is new every step.

    Args:
        source: a simulator or real k-space set.
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
