"""KIKI-net: cross-domain CNNs alternating in k-space and image space (Eo et al., MRM 2018)."""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import (
    ConvDenoiser,
    DataConsistency,
    check_recon_inputs,
)
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import sens_expand, sens_reduce

__all__ = ["KIKINet"]


def _per_coil(cnn: nn.Module, k: torch.Tensor) -> torch.Tensor:
    """Apply a 2-channel CNN to every coil of ``(B, C, H, W)`` complex data with shared weights."""
    b, c, h, w = k.shape
    out = cnn(complex_to_channels(k.reshape(b * c, h, w)))
    return channels_to_complex(out).reshape(b, c, h, w)


class KIKINet(nn.Module):
    """KIKI-net (Eo et al., "KIKI-net: cross-domain convolutional neural networks for
    reconstructing undersampled magnetic resonance images", MRM 2018).

    Each iteration is a k-space CNN (KCNN) on the coil k-space, the coil combination
    ``x = R k``, an image CNN (ICNN), and the interleaved data consistency (IDC) of
    :class:`DataConsistency`; the next KCNN starts from ``E x``. Both CNNs are residual plain
    CNNs on real/imaginary channels. Multi-coil: the KCNN runs on each coil separately with
    shared weights (coils folded into the batch, 2 channels), so the same model serves any coil
    count; the paper is single-coil. No input scaling inside the model (the experiment layer
    applies one input normalisation to every model).

    Paper configuration: ``num_iter=2`` (K-I-K-I), hard DC for noise-free data, and deep plain
    CNNs (roughly 25 3x3 layers with 32-64 filters per block in the paper; check the paper
    before a full-scale run). The defaults here are sized for 64x64 CPU training.

    Args:
        num_iter: number of K-I iterations.
        k_hidden: hidden channels of each KCNN.
        k_depth: convolutions per KCNN.
        i_hidden: hidden channels of each ICNN.
        i_depth: convolutions per ICNN.
        lam: DC weight ``lambda`` (None: hard DC, replace the sampled k-space).
        learn_lam: learn ``lambda`` (one per iteration).
    """

    def __init__(
        self,
        *,
        num_iter: int = 2,
        k_hidden: int = 16,
        k_depth: int = 5,
        i_hidden: int = 32,
        i_depth: int = 5,
        lam: float | None = None,
        learn_lam: bool = False,
    ) -> None:
        super().__init__()
        if num_iter < 1:
            raise ValueError(f"num_iter must be >= 1, got {num_iter}")
        self.k_cnns = nn.ModuleList(
            ConvDenoiser(in_chans=2, out_chans=2, hidden=k_hidden, depth=k_depth)
            for _ in range(num_iter)
        )
        self.i_cnns = nn.ModuleList(
            ConvDenoiser(in_chans=2, out_chans=2, hidden=i_hidden, depth=i_depth)
            for _ in range(num_iter)
        )
        self.dcs = nn.ModuleList(
            DataConsistency(lam=lam, learn_lam=learn_lam) for _ in range(num_iter)
        )

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruct a complex image.

        Args:
            kspace: masked coil k-space, complex ``(B, C, H, W)``.
            mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)``.
            maps: complex coil maps ``(B, C, H, W)`` (ones for single-coil); required.

        Returns:
            Complex image ``(B, H, W)``.
        """
        check_recon_inputs(kspace, mask, maps, require_maps=True, name="KIKINet")
        mask = mask.to(kspace.real.dtype)
        k0 = kspace
        k = k0
        for k_cnn, i_cnn, dc in zip(self.k_cnns, self.i_cnns, self.dcs, strict=True):
            k = k + _per_coil(k_cnn, k)
            x = sens_reduce(k, maps)
            x = x + channels_to_complex(i_cnn(complex_to_channels(x)))
            x = dc(x, k0, mask, maps)
            k = sens_expand(x, maps)
        return x
