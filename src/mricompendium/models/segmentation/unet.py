"""A plain U-Net (2D or 3D) with optional squeeze & excitation after every block.

Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015: an encoder of (conv-norm-ReLU) x 2 blocks with max-pooling, a bottleneck, and a
decoder of transposed-convolution upsampling, skip concatenation and the same blocks; a 1x1
convolution gives one logit per class. With ``se`` set, a cSE / sSE / scSE block
(:mod:`mricompendium.models.segmentation.scse`) follows every encoder block, the bottleneck and
every decoder block, where Roy et al. (MICCAI 2018) insert them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mricompendium.models.segmentation.scse import SE_KINDS, make_se

__all__ = ["UNet", "n_parameters"]


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Block(nn.Sequential):
    """(conv k x k - norm - ReLU) x 2, then the SE block."""

    def __init__(self, cin: int, cout: int, *, dims: int, norm: str, se: nn.Module) -> None:
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        layers: list[nn.Module] = []
        for c in (cin, cout):
            layers += [conv(c, cout, 3, padding=1, bias=norm == "none"), _norm(norm, cout, dims)]
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers, se)


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {kind!r}")


class UNet(nn.Module):
    """U-Net returning logits, with optional SE recalibration (Roy et al. 2018).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (contrasts).
        out_channels: classes (background included for a softmax).
        features: channels per level, e.g. ``(16, 32, 64, 128)`` (the last is the bottleneck);
            the input size must be divisible by ``2 ** (len(features) - 1)``.
        se: ``"none"``, ``"cse"``, ``"sse"`` or ``"scse"``.
        reduction: cSE reduction ratio ``r``.
        combine: how scSE merges its two branches (``"max"`` or ``"add"``).
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: dropout probability before the output convolution.

    Shapes: ``(B, in_channels, *spatial)`` -> logits ``(B, out_channels, *spatial)``.
    """

    def __init__(
        self,
        *,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] = (16, 32, 64, 128),
        se: str = "none",
        reduction: int = 2,
        combine: str = "max",
        norm: str = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(features) < 2 or min(features) < 1:
            raise ValueError(f"features needs >= 2 positive sizes, got {features}")
        if se not in SE_KINDS:
            raise ValueError(f"se must be one of {SE_KINDS}, got {se!r}")
        feats = [int(f) for f in features]
        self.levels = len(feats) - 1
        d = spatial_dims

        def block(cin: int, cout: int) -> _Block:
            recal = make_se(se, cout, spatial_dims=d, reduction=reduction, combine=combine)
            return _Block(cin, cout, dims=d, norm=norm, se=recal)

        self.down = nn.ModuleList(
            [block(c, f) for c, f in zip([in_channels, *feats[:-2]], feats[:-1], strict=True)]
        )
        self.bottleneck = block(feats[-2], feats[-1])
        upconv = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d
        self.up = nn.ModuleList(
            [upconv(feats[i + 1], feats[i], 2, stride=2) for i in range(self.levels)]
        )
        self.dec = nn.ModuleList([block(2 * feats[i], feats[i]) for i in range(self.levels)])
        self.pool = nn.MaxPool2d(2) if d == 2 else nn.MaxPool3d(2)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = (nn.Conv2d if d == 2 else nn.Conv3d)(feats[0], out_channels, 1)
        self.spatial_dims = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(f"expected (B, C, *spatial) with {self.spatial_dims} spatial dims")
        step = 2**self.levels
        if any(s % step for s in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} must be divisible by {step}")
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for i in reversed(range(self.levels)):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], dim=1))
        return self.head(self.dropout(x))
