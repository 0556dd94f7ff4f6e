"""nnU-Net's dynamic U-Net, with a plain or a residual encoder (Isensee et al. 2021; 2022).

The topology comes from a plan (see :mod:`mricompendium.experiments.segmentation.autoconfig`):
one entry per resolution stage of ``features``, ``kernel_sizes`` and ``strides`` (the first
stride is normally 1). nnU-Net's plain configuration uses two conv-norm-LeakyReLU layers per
stage in the encoder and the decoder; the residual-encoder variant of "Extending nnU-Net is all
you need" (AMOS 2022, arXiv:2208.10791) replaces each encoder stage by a stack of residual blocks
(default (1, 3, 4, 6, 6, 6, ...) blocks, as nnU-Net's ResEnc U-Net) and keeps the plain decoder,
so the two differ only in the encoder. Built from MONAI's nnU-Net blocks (``UnetBasicBlock``,
``UnetResBlock``, ``UnetUpBlock``: instance norm, LeakyReLU 0.01, transposed-conv upsampling).

Not included: deep supervision (nnU-Net adds auxiliary losses at lower resolutions).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks.dynunet_block import (
    UnetBasicBlock,
    UnetOutBlock,
    UnetResBlock,
    UnetUpBlock,
)
from torch import nn

__all__ = ["RESENC_BLOCKS", "DynamicUNet"]

RESENC_BLOCKS = (1, 3, 4, 6, 6, 6, 6, 6)  # residual blocks per encoder stage (nnU-Net ResEnc)
_NORM = ("instance", {"affine": True})

Size = int | Sequence[int]


class DynamicUNet(nn.Module):
    """A U-Net whose depth, kernels and poolings come from a plan; plain or residual encoder.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (modalities).
        out_channels: output channels (classes, background included for softmax training).
        features: channels per stage, e.g. (32, 64, 128, 256, 320).
        kernel_sizes: conv kernel per stage (an int or one per axis).
        strides: downsampling stride per stage (the first is normally 1).
        residual_encoder: residual blocks in the encoder instead of two plain convs per stage.
        encoder_blocks: residual blocks per stage (default :data:`RESENC_BLOCKS`); residual only.

    Shapes: input ``(B, in_channels, *spatial)``, each size divisible by the product of the
    strides along its axis; output logits ``(B, out_channels, *spatial)``.
    """

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: Sequence[int],
        kernel_sizes: Sequence[Size],
        strides: Sequence[Size],
        residual_encoder: bool = False,
        encoder_blocks: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        n = len(features)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if n < 2 or len(kernel_sizes) != n or len(strides) != n:
            raise ValueError(
                "features, kernel_sizes and strides need one entry per stage (>= 2 stages); "
                f"got {len(features)}, {len(kernel_sizes)}, {len(strides)}"
            )
        blocks = tuple(encoder_blocks or RESENC_BLOCKS[:n]) if residual_encoder else (1,) * n
        if len(blocks) != n or min(blocks) < 1:
            raise ValueError(f"encoder_blocks must give >= 1 block for each of {n} stages")
        self.spatial_dims = spatial_dims
        self.strides = [_axes(s, spatial_dims) for s in strides]
        self.encoder = nn.ModuleList()
        c_in = in_channels
        for f, k, s, nb in zip(features, kernel_sizes, strides, blocks, strict=True):
            self.encoder.append(self._stage(c_in, f, k, s, nb, residual_encoder))
            c_in = f
        self.decoder = nn.ModuleList(
            UnetUpBlock(
                spatial_dims,
                features[i + 1],
                features[i],
                kernel_size=kernel_sizes[i],
                stride=1,
                upsample_kernel_size=strides[i + 1],
                norm_name=_NORM,
            )
            for i in reversed(range(n - 1))
        )
        self.head = UnetOutBlock(spatial_dims, features[0], out_channels)

    def _stage(self, c_in: int, c_out: int, k: Size, s: Size, n_blocks: int, residual: bool):
        dims = self.spatial_dims
        if not residual:
            return UnetBasicBlock(dims, c_in, c_out, kernel_size=k, stride=s, norm_name=_NORM)
        layers = [UnetResBlock(dims, c_in, c_out, kernel_size=k, stride=s, norm_name=_NORM)]
        layers += [
            UnetResBlock(dims, c_out, c_out, kernel_size=k, stride=1, norm_name=_NORM)
            for _ in range(n_blocks - 1)
        ]
        return nn.Sequential(*layers)

    def divisor(self) -> tuple[int, ...]:
        """The number each spatial size must be divisible by (product of strides per axis)."""
        out = [1] * self.spatial_dims
        for s in self.strides:
            out = [a * b for a, b in zip(out, s, strict=True)]
        return tuple(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, *spatial)`` -> logits ``(B, out_channels, *spatial)``."""
        div = self.divisor()
        if any(size % d for size, d in zip(x.shape[2:], div, strict=True)):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} must be divisible by {div}")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for up in self.decoder:
            x = up(x, skips.pop())
        return self.head(x)


def _axes(s: Size, dims: int) -> tuple[int, ...]:
    t = (int(s),) * dims if isinstance(s, int) else tuple(int(v) for v in s)
    if len(t) != dims or min(t) < 1:
        raise ValueError(f"a stride must be a positive int or {dims} positive ints, got {s!r}")
    return t
