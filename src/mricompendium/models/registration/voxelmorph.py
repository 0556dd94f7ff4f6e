"""VoxelMorph: a U-Net that maps a (moving, fixed) pair to a dense deformation.

Balakrishnan, Zhao, Sabuncu, Guttag, Dalca, "VoxelMorph: a learning framework for deformable
medical image registration", IEEE TMI 38(8), 2019; the diffeomorphic variant (a stationary
velocity field integrated by scaling and squaring) is Dalca et al., MICCAI 2018 / MedIA 2019.

This is our own dimension-generic (2D/3D) reading: the two images are concatenated as channels;
each encoder level is a 3x3 convolution + LeakyReLU(0.2) followed by 2x max-pooling; each decoder
level a convolution, 2x nearest upsampling and concatenation with the encoder features of that
resolution; a few full-resolution convolutions; and a flow head initialised near zero. Spatial
sizes that are not multiples of ``2**len(enc_channels)`` are zero-padded and cropped back.
The paper's configuration is ``enc (16, 32, 32, 32)``, ``dec (32, 32, 32, 32)``,
``final (32, 16, 16)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.registration.common import (
    FlowHead,
    RegistrationOutput,
    check_pair,
    conv_nd,
    pad_to_multiple,
)

__all__ = ["VoxelMorph"]


class _ConvAct(nn.Sequential):
    def __init__(self, ndim: int, cin: int, cout: int) -> None:
        super().__init__(conv_nd(ndim)(cin, cout, 3, padding=1), nn.LeakyReLU(0.2))


class VoxelMorph(nn.Module):
    """VoxelMorph-style registration U-Net (2D or 3D).

    Args:
        ndim: spatial dimensions, 2 or 3.
        enc_channels: channels of the encoder levels (one 2x pooling after each).
        dec_channels: channels of the decoder levels, same length as ``enc_channels``.
        final_channels: full-resolution convolutions before the flow head.
        integration_steps: 0 predicts the displacement; ``k > 0`` predicts a stationary velocity
            field integrated by ``k`` squarings (diffeomorphic VoxelMorph).

    Shapes:
        ``forward(moving, fixed)``: both ``(B, 1, *S)``; returns a
        :class:`~mricompendium.models.registration.common.RegistrationOutput` with ``warped``
        ``(B, 1, *S)`` and ``disp`` ``(B, ndim, *S)`` in voxels.
    """

    def __init__(
        self,
        *,
        ndim: int = 2,
        enc_channels: Sequence[int] = (16, 32, 32, 32),
        dec_channels: Sequence[int] = (32, 32, 32, 32),
        final_channels: Sequence[int] = (32, 16, 16),
        integration_steps: int = 0,
    ) -> None:
        super().__init__()
        if len(enc_channels) != len(dec_channels) or not enc_channels:
            raise ValueError("enc_channels and dec_channels must be non-empty and equally long")
        self.ndim = ndim
        self.levels = len(enc_channels)
        self.encoder = nn.ModuleList()
        cin = 2
        for ch in enc_channels:
            self.encoder.append(_ConvAct(ndim, cin, ch))
            cin = ch
        self.decoder = nn.ModuleList()
        for i, ch in enumerate(dec_channels):
            self.decoder.append(_ConvAct(ndim, cin, ch))
            cin = ch + enc_channels[-1 - i]
        final = []
        for ch in final_channels:
            final.append(_ConvAct(ndim, cin, ch))
            cin = ch
        self.final = nn.Sequential(*final)
        self.head = FlowHead(cin, ndim, integration_steps)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> RegistrationOutput:
        check_pair(moving, fixed, self.ndim)
        shape = moving.shape[2:]
        x, _ = pad_to_multiple(torch.cat([moving, fixed], dim=1), 2**self.levels)
        pool = F.max_pool2d if self.ndim == 2 else F.max_pool3d
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = pool(x, 2)
        for i, block in enumerate(self.decoder):
            x = F.interpolate(block(x), scale_factor=2.0, mode="nearest")
            x = torch.cat([x, skips[-1 - i]], dim=1)
        x = self.final(x)
        x = x[(..., *(slice(0, s) for s in shape))]
        return self.head(x, moving)
