"""Contrastive losses between brain embeddings and image/text embeddings.

* :class:`CLIPLoss`: CLIP's symmetric InfoNCE with a temperature; rows whose targets are
  identical (e.g. the same category template caption twice in a batch) are all positives.
* :class:`SoftCLIPLoss`: MindEye's SoftCLIP: the targets of the cross-entropy are the softmax of
  the target embeddings' own similarities, so near-duplicate images are not pushed apart.
* :class:`MindEye2Loss`: SoftCLIP + embedding MSE + low-level L1, MindEye2's three terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.physics.precision import full_precision

__all__ = ["CLIPLoss", "MindEye2Loss", "SoftCLIPLoss"]


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
        with full_precision(pred):  # fp32 similarities under autocast (bf16: 1.0 -> 0.996)
            return self._loss(_normalise(pred), _normalise(target))

    def _loss(self, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
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
        with full_precision(pred):  # fp32 similarities under autocast
            return self._loss(_normalise(pred), _normalise(target))

    def _loss(self, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        soft = F.softmax(t @ t.T / self.temperature, dim=-1)
        logits = p @ t.T / self.temperature
        return 0.5 * (F.cross_entropy(logits, soft) + F.cross_entropy(logits.T, soft))


class MindEye2Loss(nn.Module):
    """MindEye2's objective on one batch (our reading, weights as parameters):

    ``SoftCLIP(contrastive head, image embedding) + prior_weight * MSE(prior head, image
    embedding) + lowlevel_weight * L1(low-level image, seen image)``.

    Args:
        temperature: SoftCLIP temperature.
        prior_weight: weight of the embedding-prediction MSE (the paper's diffusion prior loss is
            scaled by 30; here an MLP head and a plain MSE stand in for it).
        lowlevel_weight: weight of the low-level pathway's L1 loss.
    """

    def __init__(
        self, *, temperature: float = 0.05, prior_weight: float = 30.0, lowlevel_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.clip = SoftCLIPLoss(temperature)
        self.prior_weight = prior_weight
        self.lowlevel_weight = lowlevel_weight

    def forward(
        self,
        contrastive: torch.Tensor,
        prior: torch.Tensor,
        image: torch.Tensor,
        target_emb: torch.Tensor,
        target_image: torch.Tensor,
    ) -> torch.Tensor:
        """Heads ``(B, D)``, ``(B, D)``, ``(B, 3, S, S)`` against targets ``(B, D)``, images."""
        loss = self.clip(contrastive, target_emb)
        loss = loss + self.prior_weight * F.mse_loss(prior.float(), target_emb.float())
        return loss + self.lowlevel_weight * F.l1_loss(image.float(), target_image.float())
