"""BrainCLIP's mapping network: fMRI into a joint image-text embedding.

Liu, Ma, Zhou, Zhu, Zheng, *BrainCLIP: Bridging Brain and Visual-Linguistic Representation via
CLIP for Generic Natural Visual Stimulus Decoding*, arXiv:2302.12971 (2023). Our reading: an MLP
maps a subject's voxel pattern to a vector in CLIP's space, trained contrastively against the
seen image's CLIP image embedding (visual supervision) and, in BrainCLIP proper, also against the
CLIP text embedding of the image's captions (textual supervision); the earlier version made the
mapper variational (a VAE-style encoder with a KL term), kept here as an option. The losses live
in :mod:`.losses`; which supervision is used is the training routine's choice.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BrainCLIPMapper", "BrainCLIPOutput"]


class BrainCLIPOutput(NamedTuple):
    """``embedding`` ``(B, D)`` unit vectors; ``kl`` a scalar (0 unless variational)."""

    embedding: torch.Tensor
    kl: torch.Tensor


class BrainCLIPMapper(nn.Module):
    """fMRI ``(B, V)`` -> unit vectors in the joint embedding ``(B, D)``.

    Args:
        n_voxels: V.
        embed_dim: D.
        hidden: width of the two hidden layers.
        dropout: dropout after each hidden layer (and on the input voxels, halved).
        variational: sample the embedding from a diagonal Gaussian in training (reparametrised)
            and return its KL divergence from N(0, I); the mean is used in eval mode.
    """

    def __init__(
        self,
        *,
        n_voxels: int,
        embed_dim: int,
        hidden: int = 512,
        dropout: float = 0.3,
        variational: bool = False,
    ) -> None:
        super().__init__()
        if n_voxels < 1 or embed_dim < 1 or hidden < 1:
            raise ValueError("n_voxels, embed_dim and hidden must be >= 1")
        self.variational = variational
        self.body = nn.Sequential(
            nn.Dropout(dropout / 2),
            nn.Linear(n_voxels, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.mean = nn.Linear(hidden, embed_dim)
        self.logvar = nn.Linear(hidden, embed_dim) if variational else None

    def forward(self, voxels: torch.Tensor) -> BrainCLIPOutput:
        if voxels.ndim != 2:
            raise ValueError(f"voxels must be (B, V), got {tuple(voxels.shape)}")
        h = self.body(voxels)
        mu = self.mean(h)
        kl = mu.new_zeros(())
        if self.logvar is not None:
            logvar = self.logvar(h).clamp(-8.0, 8.0)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
            if self.training:
                mu = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return BrainCLIPOutput(F.normalize(mu, dim=-1), kl)
