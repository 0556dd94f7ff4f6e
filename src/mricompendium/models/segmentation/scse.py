"""Squeeze & excitation blocks for fully convolutional networks: cSE, sSE and scSE.

Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully
Convolutional Networks", MICCAI 2018 (arXiv:1803.02579); journal version "Recalibrating fully
convolutional networks with spatial and channel 'squeeze and excitation' blocks", IEEE TMI 2019.

- **cSE** (spatial squeeze, channel excitation; the SE block of Hu et al., CVPR 2018): global
  average pooling gives one value per channel, two fully connected layers (``C -> C/r``, ReLU,
  ``C/r -> C``, sigmoid) give a weight per channel, and the feature map is scaled channel-wise.
- **sSE** (channel squeeze, spatial excitation): a 1x1 convolution ``C -> 1`` and a sigmoid give a
  weight per voxel, and every channel is scaled by it.
- **scSE**: both recalibrations of the same input, combined voxel- and channel-wise; the official
  code (github.com/ai-med/squeeze_and_excitation) takes the element-wise maximum, ``"add"`` sums
  them instead.

Reduction ratio ``r = 2`` as in the official code. Each block keeps the input's shape and adds
``2 C^2 / r + C + C / r`` (cSE) or ``C + 1`` (sSE) parameters. 2D and 3D.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SE_KINDS", "ChannelSE", "ChannelSpatialSE", "SpatialSE", "make_se"]

SE_KINDS = ("none", "cse", "sse", "scse")


class ChannelSE(nn.Module):
    """cSE: squeeze space by global average pooling, excite channels (Hu et al. 2018).

    Args:
        channels: feature channels ``C``.
        reduction: ratio ``r`` of the bottleneck (``C // r`` hidden units, at least 1).

    Shapes: ``(B, C, *spatial)`` -> same.
    """

    def __init__(self, channels: int, *, reduction: int = 2) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"need channels >= 1 and reduction >= 1, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        z = x.flatten(2).mean(dim=2)  # (B, C): the spatial squeeze
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
        return x * w.reshape(b, c, *([1] * (x.ndim - 2)))


class SpatialSE(nn.Module):
    """sSE: squeeze channels by a 1x1 convolution, excite every voxel.

    Args:
        channels: feature channels ``C``.
        spatial_dims: 2 or 3.

    Shapes: ``(B, C, *spatial)`` -> same.
    """

    def __init__(self, channels: int, *, spatial_dims: int = 2) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.conv = conv(channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class ChannelSpatialSE(nn.Module):
    """scSE: cSE and sSE of the same input, combined by ``"max"`` (official code) or ``"add"``.

    Shapes: ``(B, C, *spatial)`` -> same.
    """

    def __init__(
        self, channels: int, *, spatial_dims: int = 2, reduction: int = 2, combine: str = "max"
    ) -> None:
        super().__init__()
        if combine not in ("max", "add"):
            raise ValueError(f"combine must be 'max' or 'add', got {combine!r}")
        self.cse = ChannelSE(channels, reduction=reduction)
        self.sse = SpatialSE(channels, spatial_dims=spatial_dims)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cse(x), self.sse(x)
        return torch.maximum(a, b) if self.combine == "max" else a + b


def make_se(
    kind: str, channels: int, *, spatial_dims: int, reduction: int = 2, combine: str = "max"
) -> nn.Module:
    """The block named ``kind`` (one of :data:`SE_KINDS`; ``"none"`` is the identity)."""
    if kind == "none":
        return nn.Identity()
    if kind == "cse":
        return ChannelSE(channels, reduction=reduction)
    if kind == "sse":
        return SpatialSE(channels, spatial_dims=spatial_dims)
    if kind == "scse":
        return ChannelSpatialSE(
            channels, spatial_dims=spatial_dims, reduction=reduction, combine=combine
        )
    raise ValueError(f"se must be one of {SE_KINDS}, got {kind!r}")
