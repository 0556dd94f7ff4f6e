"""MindEye2: shared-subject fMRI-to-image decoding.

Scotti, Tripathy, Torrico Villanueva, Kneeland, Chen, Narang, Santhirasegaran, Xu, Naselaris,
Norman, Abraham, *MindEye2: Shared-Subject Models Enable fMRI-To-Image With 1 Hour of Data*,
ICML 2024 (arXiv:2403.11207). Our reading of its architecture, at any width:

* **functional alignment**: one linear map per subject from that subject's voxels into a shared
  latent (the paper's 4096-d "ridge" layer); a new subject only adds a map;
* a **shared residual MLP backbone** on the latent (MindEye's 4 blocks of
  LayerNorm-GELU-Dropout-Linear with skip connections);
* a **contrastive projector** to the image embedding (trained with SoftCLIP; used for retrieval)
  and a second head that predicts the embedding itself (trained with MSE; the paper uses a
  diffusion prior here, which this small version replaces by an MLP);
* a **low-level pathway**: an upsampling CNN from the latent to a small image (the paper's blurry
  reconstruction through Stable Diffusion's VAE latent, trained with an L1 loss).

The image generation from the embedding (SDXL unCLIP and refinement) is not part of this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["LowLevelDecoder", "MindEye2", "MindEye2Output", "ResidualMLP"]


class ResidualMLP(nn.Module):
    """``n_blocks`` residual blocks ``x + Linear(Dropout(GELU(LayerNorm(x))))`` at width ``dim``."""

    def __init__(self, dim: int, n_blocks: int, dropout: float = 0.15) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
            for _ in range(n_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


def _head(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out)
    )


class LowLevelDecoder(nn.Module):
    """Latent ``(B, L)`` -> blurry RGB image ``(B, 3, S, S)`` in [0, 1].

    A linear layer to a ``channels x S/4 x S/4`` map, a 3x3 convolution, nearest 2x upsampling,
    a 3x3 convolution to ``channels / 2``, a 1x1 convolution to RGB, bilinear 2x upsampling and a
    sigmoid. Like the paper's low-level pathway it aims at a blurry image (layout, colour,
    contrast), not detail.
    """

    def __init__(self, latent_dim: int, *, image_size: int = 32, channels: int = 32) -> None:
        super().__init__()
        if image_size < 8 or image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {image_size}")
        self.channels, self.side = channels, image_size // 4
        half = max(channels // 2, 4)
        self.fc = nn.Linear(latent_dim, channels * self.side * self.side)
        self.up = nn.Sequential(
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GELU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels, half, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(half, 3, 1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Sigmoid(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.up(self.fc(latent).view(-1, self.channels, self.side, self.side))


class MindEye2Output(NamedTuple):
    """``latent`` ``(B, L)``: backbone output; ``contrastive`` and ``prior`` ``(B, D)``: the two
    embedding heads (not normalised); ``image`` ``(B, 3, S, S)``: low-level reconstruction."""

    latent: torch.Tensor
    contrastive: torch.Tensor
    prior: torch.Tensor
    image: torch.Tensor


class MindEye2(nn.Module):
    """Shared-subject decoder: per-subject linear maps, shared backbone and heads.

    Args:
        voxels: ``{subject name: number of voxels}`` for the subjects known at construction.
        embed_dim: dimension D of the image embedding (CLIP's).
        latent_dim: width L of the shared latent and backbone (paper: 4096).
        n_blocks: residual blocks of the backbone (paper: 4).
        image_size: side of the low-level reconstruction.
        lowlevel_channels: channels of the low-level decoder's first map.
        dropout: dropout in the backbone.
    """

    def __init__(
        self,
        *,
        voxels: Mapping[str, int],
        embed_dim: int,
        latent_dim: int = 256,
        n_blocks: int = 2,
        image_size: int = 32,
        lowlevel_channels: int = 64,
        dropout: float = 0.15,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.subject_maps = nn.ModuleDict()
        for name, n in voxels.items():
            self.add_subject(name, n)
        self.backbone = ResidualMLP(latent_dim, n_blocks, dropout)
        self.contrastive_head = _head(latent_dim, embed_dim)
        self.prior_head = _head(latent_dim, embed_dim)
        self.lowlevel = LowLevelDecoder(
            latent_dim, image_size=image_size, channels=lowlevel_channels
        )

    def add_subject(self, name: str, n_voxels: int) -> None:
        """Add (or replace) the linear map of subject ``name`` with ``n_voxels`` inputs."""
        if n_voxels < 1:
            raise ValueError(f"subject {name!r} needs >= 1 voxel, got {n_voxels}")
        self.subject_maps[name] = nn.Linear(n_voxels, self.latent_dim)

    def forward(self, voxels: torch.Tensor, subject: str) -> MindEye2Output:
        """Decode ``voxels`` ``(B, V_subject)`` of one subject."""
        if subject not in self.subject_maps:
            raise KeyError(f"unknown subject {subject!r}; known: {list(self.subject_maps)}")
        latent = self.backbone(self.subject_maps[subject](voxels))
        return MindEye2Output(
            latent, self.contrastive_head(latent), self.prior_head(latent), self.lowlevel(latent)
        )
