"""Image-domain U-Net reconstruction (the fastMRI baseline)."""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import NormUNet, check_recon_inputs
from mricompendium.physics.sense import sens_reduce

__all__ = ["UNetRecon"]


class UNetRecon(nn.Module):
    """Residual U-Net on the coil-combined zero-filled image.

    The U-Net of Ronneberger et al. ("U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015) as the image-domain baseline of fastMRI (Zbontar et al., "fastMRI:
    An Open Dataset and Benchmarks for Accelerated MRI", 2018) on ``x0 = R(k)``, the
    SENSE-combined zero-filled image. The real and imaginary parts are two channels, normalised by
    their mean and standard deviation (fastMRI's baseline works on the magnitude; a complex output
    keeps the same contract as the unrolled models). With ``residual`` (the default) the U-Net
    learns a correction of ``x0`` in those normalised units, ``x = x0 + std * U(z)``, so an
    untrained or zero U-Net returns the zero-filled image (an earlier version added the
    un-normalised output, mean included, to ``x0``: a constant offset a small budget could not
    unlearn).

    fastMRI baseline configuration: ``chans=32, num_pools=4, drop_prob=0.0``. The defaults here
    are sized for 64x64 CPU training.

    Args:
        chans: first-level U-Net channels.
        num_pools: U-Net levels.
        drop_prob: dropout probability.
        residual: add the zero-filled image to the U-Net output.
    """

    def __init__(
        self,
        *,
        chans: int = 16,
        num_pools: int = 3,
        drop_prob: float = 0.0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.net = NormUNet(
            chans=chans, num_pools=num_pools, drop_prob=drop_prob, residual=residual
        )

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruct a complex image.

        Args:
            kspace: masked coil k-space, complex ``(B, C, H, W)``.
            mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)`` (unused beyond validation: the
                k-space is already masked).
            maps: complex coil maps ``(B, C, H, W)`` (ones for single-coil); required.

        Returns:
            Complex image ``(B, H, W)``.
        """
        check_recon_inputs(kspace, mask, maps, require_maps=True, name="UNetRecon")
        return self.net(sens_reduce(kspace, maps))
