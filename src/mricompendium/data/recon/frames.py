"""Multi-frame k-space batches (cine phases or echoes), their masks, and real multi-frame sets.

Both sources of multi-frame data, the simulator
(:class:`~mricompendium.data.recon.cine.FrameSimulator`) and :class:`FrameKspaceSet` (fully
sampled real k-space, undersampled retrospectively: CMRxRecon cine, SKM-TEA qDESS echoes), give a
:class:`FrameBatch`, so a notebook switches between them with ``data_path``.

Layouts (:mod:`mricompendium.physics.kt`): k-space complex ``(B, C, T, H, W)``, masks real 0/1
``(B, 1, T or 1, H or 1, W)``, maps complex ``(B, C, H, W)`` (one set for every frame),
images ``(B, T, H, W)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mricompendium.data.recon.batches import case_seed
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.fft import ifft2c
from mricompendium.physics.kt import KtSampling, KtSenseOp, frame_average
from mricompendium.physics.masks import Sampling

__all__ = [
    "FrameBatch",
    "FrameKspaceSet",
    "estimate_frame_maps",
    "frame_masks",
    "parse_sampling",
    "sampling_label",
]

AnySampling = KtSampling | Sampling


def parse_sampling(text: str | AnySampling) -> AnySampling:
    """A k-t setting (``"vd_kt@8"``, ``"equispaced_kt@10"``) or a 2D mask shared by every frame
    (``"poisson_2d@6"``: the echoes of one acquisition share their k-space positions)."""
    if isinstance(text, KtSampling | Sampling):
        return text
    if isinstance(text, str) and text.split("@", 1)[0].strip().endswith("_kt"):
        return KtSampling.parse(text)
    s = Sampling.parse(text)
    if not s.is_2d:
        raise ValueError(f"{text!r}: multi-frame data take a k-t pattern or a 2D mask")
    return s


def sampling_label(sampling: str | AnySampling) -> str:
    """The human-readable name of a setting."""
    return parse_sampling(sampling).label


def frame_masks(
    sampling: AnySampling,
    frames: int,
    shape: tuple[int, int],
    seed: int,
    indices: Sequence[int],
    mask_seed: int | None,
) -> torch.Tensor:
    """Masks ``(B or 1, 1, T or 1, H or 1, W)``: one per case (seeded by case) or one shared."""

    def one(s: int) -> torch.Tensor:
        if isinstance(sampling, KtSampling):
            return sampling.make_mask(frames, shape[1], s)
        return sampling.make_mask(shape, s).unsqueeze(2)  # (1, 1, 1, H, W)

    if mask_seed is not None:
        return one(mask_seed)
    return torch.cat([one(case_seed(seed, i, 3)) for i in indices])


def estimate_frame_maps(kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Coil maps ``(B, C, H, W)`` from the time-averaged k-space's fully sampled centre."""
    avg, union = frame_average(kspace, mask.expand(len(kspace), *mask.shape[1:]))
    return estimate_sensitivities(avg, union)


@dataclass
class FrameBatch:
    """Undersampled multi-frame data with references.

    Attributes:
        kspace: masked noisy k-space, complex ``(B, C, T, H, W)``.
        mask: float32 ``(B or 1, 1, T or 1, H or 1, W)``.
        maps: coil maps estimated from the time-averaged calibration region of ``kspace``
            (ones for one coil), complex ``(B, C, H, W)``: what every method is given.
        target: complex references ``(B, T, H, W)``.
        region: bool ``(B, H, W)``, the region of the ``*_roi`` metrics.
        indices: case indices, int64 ``(B,)``.
        sampling: the setting, ``str``.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    maps: torch.Tensor
    target: torch.Tensor
    region: torch.Tensor
    indices: torch.Tensor
    sampling: str = ""

    @property
    def target_abs(self) -> torch.Tensor:
        return self.target.abs()

    def operator(self) -> KtSenseOp:
        return KtSenseOp(self.maps, self.mask)

    def zero_filled(self) -> torch.Tensor:
        """The zero-filled SENSE-combined frames ``(B, T, H, W)``."""
        return self.operator().A_adjoint(self.kspace)

    def to(self, device: str | torch.device) -> FrameBatch:
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}  # fmt: skip
        return dataclasses.replace(self, **moved)

    def __len__(self) -> int:
        return int(self.kspace.shape[0])


class FrameKspaceSet:
    """Fully sampled real multi-frame k-space, undersampled retrospectively (no noise added).

    Args:
        kspace: complex ``(N, C, T, H, W)`` (each case one slice of a cine, or the echoes of one
            slice), DC at ``(H // 2, W // 2)``.
        units: the unit of independence of each case (patient / scan).
        regions: bool ``(N, H, W)`` regions of the ``*_roi`` metrics (default: everywhere).
        device: where batches are made.

    The reference of a case is the root-sum-of-squares of its fully sampled coil images per
    frame (phase zero), as for fastMRI's targets.
    """

    def __init__(
        self,
        kspace: np.ndarray | torch.Tensor,
        units: Sequence[str],
        *,
        regions: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        k = torch.as_tensor(kspace)
        if not torch.is_complex(k) or k.dim() != 5:
            raise ValueError(f"kspace must be complex (N, C, T, H, W), got {k.dtype} {k.shape}")
        if len(units) != len(k):
            raise ValueError(f"need one unit per case ({len(k)}), got {len(units)}")
        self.device = torch.device(device)
        self.kspace = k.to(torch.complex64).to(self.device)
        self.units = [str(u) for u in units]
        n, _, _, h, w = k.shape
        reg = np.ones((n, h, w), bool) if regions is None else np.asarray(regions, bool)
        if reg.shape != (n, h, w):
            raise ValueError(f"regions must be {(n, h, w)}, got {reg.shape}")
        self.regions = torch.from_numpy(reg).to(self.device)

    def __len__(self) -> int:
        return int(self.kspace.shape[0])

    @property
    def frames(self) -> int:
        return int(self.kspace.shape[2])

    @property
    def num_coils(self) -> int:
        return int(self.kspace.shape[1])

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    def batch(
        self, indices: Sequence[int] | np.ndarray, sampling: Any, seed: int, *,
        mask_seed: int | None = None,
    ) -> FrameBatch:  # fmt: skip
        """Cases ``indices`` under ``sampling`` (masks per case from ``seed`` or shared)."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx or min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)})")
        s = parse_sampling(sampling)
        full = self.kspace[idx]
        mask = frame_masks(s, self.frames, self.image_shape, seed, idx, mask_seed).to(self.device)
        kspace = full * mask
        target = ifft2c(full).abs().square().sum(dim=1).sqrt().to(torch.complex64)
        return FrameBatch(kspace=kspace, mask=mask, maps=estimate_frame_maps(kspace, mask),
                          target=target, region=self.regions[idx],
                          indices=torch.tensor(idx), sampling=str(s))  # fmt: skip
