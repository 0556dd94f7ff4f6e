"""Deep Cascade of Convolutional Neural Networks (Schlemper et al., IEEE TMI 2018)."""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import (
    ConvDenoiser,
    DataConsistency,
    check_recon_inputs,
)
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import sens_reduce

__all__ = ["CascadeNet", "DataConsistency"]


class CascadeNet(nn.Module):
    """Deep Cascade of CNNs (Schlemper et al., "A Deep Cascade of Convolutional Neural Networks
    for Dynamic MR Image Reconstruction", IEEE TMI 2018), 2D version.

    Starting from the zero-filled image, each cascade applies a residual CNN
    ``x <- x + CNN(x)`` (real/imaginary as two channels) and a data-consistency layer. For
    multi-coil data the image is expanded with the coil maps, made consistent in each coil's
    k-space and reduced again (with unit-RSS maps ``R E = I``; single-coil is the paper's case).
    There is no input scaling inside the model: the experiment layer divides every model's input by
    one scale estimated from the undersampled data.

    Paper configuration (D5-C5): ``num_cascades=5, depth=5, hidden=64``, noise-free hard DC
    (``lam=None``). The defaults here are sized for 64x64 CPU training.

    Args:
        num_cascades: number of CNN + DC cascades.
        hidden: channels of the hidden CNN layers.
        depth: convolutions per CNN.
        lam: DC weight ``lambda`` (None: hard DC).
        learn_lam: learn ``lambda`` (one per cascade).
    """

    def __init__(
        self,
        *,
        num_cascades: int = 5,
        hidden: int = 32,
        depth: int = 5,
        lam: float | None = None,
        learn_lam: bool = False,
    ) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"num_cascades must be >= 1, got {num_cascades}")
        self.cnns = nn.ModuleList(
            ConvDenoiser(in_chans=2, out_chans=2, hidden=hidden, depth=depth)
            for _ in range(num_cascades)
        )
        self.dcs = nn.ModuleList(
            DataConsistency(lam=lam, learn_lam=learn_lam) for _ in range(num_cascades)
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
        check_recon_inputs(kspace, mask, maps, require_maps=True, name="CascadeNet")
        mask = mask.to(kspace.real.dtype)
        k0 = kspace
        x = sens_reduce(k0, maps)
        for cnn, dc in zip(self.cnns, self.dcs, strict=True):
            x = x + channels_to_complex(cnn(complex_to_channels(x)))
            x = dc(x, k0, mask, maps)
        return x
