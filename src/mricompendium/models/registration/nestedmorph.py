"""NestedMorph: a registration network whose skip connections fuse features by nested attention.

Marthi Krishna Kumar, Mendola, Shmuel, "NestedMorph: Enhancing Deformable Medical Image
Registration with Nested Attention Mechanisms", WACV 2025 (arXiv:2410.02550).

Our own dimension-generic (2D/3D) reading of the paper's description:

* **Encoder** (multi-scale transformer): four stages of overlapping patch embeddings (a 7-wide
  convolution with stride 4, then 3-wide with stride 2), each followed by *dual attention* blocks:
  efficient (linear-cost) spatial attention, a Mix-FFN (1x1 - depthwise 3x3 - GELU - 1x1),
  channel (cross-covariance) attention, and a second Mix-FFN, all pre-norm and residual.
* **Decoder**: from the deepest stage up, each level upsamples the decoder features by patch
  expansion and fuses them with the encoder features of its resolution through a *multi-scale
  gated attention*: local context of the encoder features (depthwise and dilated convolutions)
  plus global context of the decoder features (channel mean and max) choose, per voxel and by a
  softmax, how much of each stream to keep; each stream then gates the other (sigmoid), and the
  product re-weights the encoder features. High-resolution detail (encoder) and semantics
  (decoder) are thus combined by attention inside the attention-gated skip, the "nested"
  fusion. The deepest fused level is refined by dual-attention blocks, the shallower ones by
  large-kernel attention (LKA) blocks.
* **Head**: a 4x patch expansion back to full resolution, a flow convolution initialised near
  zero, and a spatial transformer (optionally a stationary velocity field integrated by scaling
  and squaring).

The paper's configuration has stage widths ``(48, 96, 192, 384)``, one block per stage, one
head, in 3D (about 22 M parameters by the authors' README).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from mricompendium.models.registration.common import (
    FlowHead,
    RegistrationOutput,
    check_pair,
    conv_nd,
    pad_to_multiple,
)

__all__ = ["NestedMorph"]


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channel dimension of ``(B, C, *S)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def _dw(ndim: int, ch: int, k: int, dilation: int = 1) -> nn.Module:
    return conv_nd(ndim)(ch, ch, k, padding=dilation * (k // 2), dilation=dilation, groups=ch)


class PatchEmbed(nn.Sequential):
    """Overlapping patch embedding: a strided convolution and a channel LayerNorm."""

    def __init__(self, ndim: int, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__(conv_nd(ndim)(cin, cout, k, stride, k // 2), ChannelNorm(cout))


class MixFFN(nn.Module):
    """1x1 -> depthwise 3x3 -> GELU -> 1x1."""

    def __init__(self, ndim: int, ch: int, ratio: int = 2) -> None:
        super().__init__()
        conv = conv_nd(ndim)
        self.fc1, self.dw, self.fc2 = (
            conv(ch, ch * ratio, 1),
            _dw(ndim, ch * ratio, 3),
            conv(ch * ratio, ch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.dw(self.fc1(x))))


class EfficientAttention(nn.Module):
    """Linear-cost spatial attention (Shen et al. 2021): keys softmaxed over positions."""

    def __init__(self, ndim: int, ch: int, heads: int = 1) -> None:
        super().__init__()
        if ch % heads:
            raise ValueError(f"channels {ch} not divisible by heads {heads}")
        conv = conv_nd(ndim)
        self.qkv, self.proj, self.heads = conv(ch, 3 * ch, 1), conv(ch, ch, 1), heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).flatten(2).chunk(3, dim=1)  # (B, C, N) each
        q, k, v = (rearrange(t, "b (h c) n -> b h c n", h=self.heads) for t in (q, k, v))
        context = k.softmax(dim=-1) @ v.transpose(-1, -2)  # (B, h, c, c)
        out = context.transpose(-1, -2) @ q.softmax(dim=-2)  # (B, h, c, N)
        return self.proj(rearrange(out, "b h c n -> b (h c) n").view_as(x))


class ChannelAttention(nn.Module):
    """Cross-covariance (transposed) attention between channels, with a learned temperature."""

    def __init__(self, ndim: int, ch: int, heads: int = 1) -> None:
        super().__init__()
        conv = conv_nd(ndim)
        self.qkv, self.proj, self.heads = conv(ch, 3 * ch, 1), conv(ch, ch, 1), heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).flatten(2).chunk(3, dim=1)
        q, k, v = (rearrange(t, "b (h c) n -> b h c n", h=self.heads) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-1, -2) * self.temperature).softmax(dim=-1)  # (B, h, c, c)
        return self.proj(rearrange(attn @ v, "b h c n -> b (h c) n").view_as(x))


class DualAttentionBlock(nn.Module):
    """Spatial attention, Mix-FFN, channel attention, Mix-FFN; pre-norm residual."""

    def __init__(self, ndim: int, ch: int, heads: int = 1) -> None:
        super().__init__()
        self.norms = nn.ModuleList(ChannelNorm(ch) for _ in range(4))
        self.ops = nn.ModuleList(
            [
                EfficientAttention(ndim, ch, heads),
                MixFFN(ndim, ch),
                ChannelAttention(ndim, ch, heads),
                MixFFN(ndim, ch),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for norm, op in zip(self.norms, self.ops, strict=True):
            x = x + op(norm(x))
        return x


class LKABlock(nn.Module):
    """Large-kernel attention (depthwise 5, depthwise 7 dilated 3, 1x1) and an MLP, layer-scaled."""

    def __init__(self, ndim: int, ch: int) -> None:
        super().__init__()
        conv = conv_nd(ndim)
        self.norm1, self.norm2 = ChannelNorm(ch), ChannelNorm(ch)
        self.proj1, self.proj2 = conv(ch, ch, 1), conv(ch, ch, 1)
        self.lka = nn.Sequential(_dw(ndim, ch, 5), _dw(ndim, ch, 7, dilation=3), conv(ch, ch, 1))
        self.mlp = MixFFN(ndim, ch)
        shape = (1, ch, *([1] * ndim))
        self.scale1 = nn.Parameter(torch.full(shape, 1e-2))
        self.scale2 = nn.Parameter(torch.full(shape, 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.proj1(self.norm1(x)))
        y = self.proj2(y * self.lka(y)) + y
        x = x + self.scale1 * y
        return x + self.scale2 * self.mlp(self.norm2(x))


class GatedFusion(nn.Module):
    """Multi-scale gated attention fusing encoder features ``x`` with decoder features ``g``."""

    def __init__(self, ndim: int, ch: int) -> None:
        super().__init__()
        conv = conv_nd(ndim)
        self.local = nn.Sequential(
            _dw(ndim, ch, 3), nn.GELU(), conv(ch, ch, 3, padding=2, dilation=2), nn.GELU()
        )
        self.global_proj = conv(2, 1, 1)
        self.select = conv(ch, 2, 1)
        self.proj, self.out = conv(ch, ch, 1), conv(ch, ch, 1)
        self.norm = ChannelNorm(ch)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([g.mean(1, keepdim=True), g.amax(1, keepdim=True)], dim=1)
        fused = self.norm(self.local(x) + self.global_proj(pooled))
        a, b = self.select(fused).softmax(dim=1).chunk(2, dim=1)
        x_att, g_att = x * (1 + a), g * (1 + b)
        interaction = (torch.sigmoid(g_att) * x_att) * (torch.sigmoid(x_att) * g_att)
        return self.out(torch.sigmoid(self.proj(interaction)) * x)


class PatchExpand(nn.Module):
    """Upsample by ``factor``: 1x1 convolution to ``cout * factor**n`` channels, then shuffle."""

    def __init__(self, ndim: int, cin: int, cout: int, factor: int) -> None:
        super().__init__()
        self.ndim, self.factor, self.cout = ndim, factor, cout
        self.expand = conv_nd(ndim)(cin, cout * factor**ndim, 1, bias=False)
        self.norm = ChannelNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, f = self.expand(x), self.factor
        if self.ndim == 2:
            x = rearrange(x, "b (c p q) h w -> b c (h p) (w q)", p=f, q=f)
        else:
            x = rearrange(x, "b (c p q r) d h w -> b c (d p) (h q) (w r)", p=f, q=f, r=f)
        return self.norm(x)


class NestedMorph(nn.Module):
    """Nested-attention registration network (2D or 3D).

    Args:
        ndim: 2 or 3.
        dims: widths of the four encoder stages (resolutions 1/4, 1/8, 1/16, 1/32).
        layers: dual-attention blocks per encoder stage.
        heads: attention heads.
        head_channels: channels before the flow convolution.
        integration_steps: 0 -> displacement; > 0 -> SVF integrated by scaling and squaring.

    Shapes:
        ``forward(moving, fixed)``: both ``(B, 1, *S)`` (padded internally to multiples of 32);
        returns a :class:`~mricompendium.models.registration.common.RegistrationOutput`.
    """

    def __init__(
        self,
        *,
        ndim: int = 2,
        dims: Sequence[int] = (48, 96, 192, 384),
        layers: Sequence[int] = (1, 1, 1, 1),
        heads: int = 1,
        head_channels: int = 16,
        integration_steps: int = 0,
    ) -> None:
        super().__init__()
        if len(dims) != 4 or len(layers) != 4:
            raise ValueError("dims and layers must have four entries (four stages)")
        self.ndim = ndim
        cins, ks, strides = (2, *dims[:3]), (7, 3, 3, 3), (4, 2, 2, 2)
        self.embeds = nn.ModuleList(
            PatchEmbed(ndim, c, d, k, s) for c, d, k, s in zip(cins, dims, ks, strides, strict=True)
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(DualAttentionBlock(ndim, d, heads) for _ in range(n)))
            for d, n in zip(dims, layers, strict=True)
        )
        self.ups = nn.ModuleList(PatchExpand(ndim, dims[i + 1], dims[i], 2) for i in range(3))
        self.fusions = nn.ModuleList(GatedFusion(ndim, dims[i]) for i in range(3))
        self.refine = nn.ModuleList(
            [
                nn.Sequential(LKABlock(ndim, dims[0]), LKABlock(ndim, dims[0])),
                nn.Sequential(LKABlock(ndim, dims[1]), LKABlock(ndim, dims[1])),
                nn.Sequential(*(DualAttentionBlock(ndim, dims[2], heads) for _ in range(2))),
            ]
        )
        self.final_up = PatchExpand(ndim, dims[0], dims[0], 4)
        self.final = nn.Sequential(conv_nd(ndim)(dims[0], head_channels, 3, padding=1), nn.GELU())
        self.head = FlowHead(head_channels, ndim, integration_steps)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> RegistrationOutput:
        check_pair(moving, fixed, self.ndim)
        shape = moving.shape[2:]
        x, _ = pad_to_multiple(torch.cat([moving, fixed], dim=1), 32)
        feats = []
        for embed, stage in zip(self.embeds, self.stages, strict=True):
            x = stage(embed(x))
            feats.append(x)
        g = feats[3]
        for i in (2, 1, 0):
            g = self.ups[i](g)
            g = self.refine[i](g + self.fusions[i](feats[i], g))
        y = self.final(self.final_up(g))
        y = y[(..., *(slice(0, s) for s in shape))]
        return self.head(y, moving)
