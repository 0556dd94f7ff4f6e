"""Contrastive losses between brain embeddings and image/text embeddings.

* :class:`CLIPLoss`: CLIP's symmetric InfoNCE with a temperature; rows whose targets are
  identical (e.g. the same category template caption twice in a batch) are all positives.
* :class:`SoftCLIPLoss`: MindEye's SoftCLIP: the targets of the cross-entropy are the softmax of
  the target embeddings' own similarities, so near-duplicate images are not pushed apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CLIPLoss", "SoftCLIPLoss"]


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


class CLIPLoss(nn.Module):
    """Symmetric InfoNCE between ``pred`` ``(B, D)`` and ``target`` ``(B, D)`` (cosine logits).

    Args:
        temperature: logits are cosine similarities divided by it.
    """

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, t = _normalise(pred), _normalise(target)
        logits = p @ t.T / self.temperature
        same = (t @ t.T > 1.0 - 1e-5).float()
        soft = same / same.sum(1, keepdim=True)
        return 0.5 * (F.cross_entropy(logits, soft) + F.cross_entropy(logits.T, soft))


class SoftCLIPLoss(nn.Module):
    """MindEye's SoftCLIP loss: cross-entropy of brain-to-target logits against the softmax of
    target-to-target logits (both directions), at one temperature."""

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, t = _normalise(pred), _normalise(target)
        soft = F.softmax(t @ t.T / self.temperature, dim=-1)
        logits = p @ t.T / self.temperature
        return 0.5 * (F.cross_entropy(logits, soft) + F.cross_entropy(logits.T, soft))
