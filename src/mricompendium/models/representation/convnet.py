"""A small VGG-style image classifier whose layer activations can be read out by name.

The representation-analysis notebook (S26, Lin & Kriegeskorte, *The Topology and Geometry of
Neural Representations*, arXiv:2309.11028) asks whether a layer of one network instance is
recognised among the layers of other instances trained from other random seeds. This network is
the instance: three 3x3 convolution blocks (convolution, ReLU, 2x2 max-pooling), one hidden fully
connected layer and a linear read-out. The paper's networks are larger (its exact architectures
are not checked here); only the layered structure matters for the question.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerConvNet"]


class LayerConvNet(nn.Module):
    """Images ``(B, C, S, S)`` -> class logits ``(B, n_classes)``, with named layer read-outs.

    Layers (:attr:`LAYERS`): ``conv1``, ``conv2``, ``conv3`` (each after its ReLU and pooling:
    ``(B, w_k, S / 2^k, S / 2^k)``), ``fc1`` (after its ReLU, ``(B, hidden)``) and ``logits``.

    Args:
        in_channels: image channels C.
        image_size: image side S, a multiple of 8.
        widths: channels of the three convolution blocks.
        hidden: width of the fully connected layer.
        n_classes: number of classes.
    """

    LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "fc1", "logits")

    def __init__(
        self,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        widths: tuple[int, int, int] = (8, 16, 32),
        hidden: int = 64,
        n_classes: int = 20,
    ) -> None:
        super().__init__()
        if image_size % 8 or image_size < 8:
            raise ValueError(f"image_size must be a positive multiple of 8, got {image_size}")
        if len(widths) != 3 or min(widths) < 1 or hidden < 1 or n_classes < 2:
            raise ValueError("need three widths >= 1, hidden >= 1 and n_classes >= 2")
        chans = (in_channels, *widths)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(chans[k], chans[k + 1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
            )  # fmt: skip
            for k in range(3)
        )
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(widths[2] * (image_size // 8) ** 2,
                                                         hidden), nn.ReLU())  # fmt: skip
        self.head = nn.Linear(hidden, n_classes)

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's activations for images ``x`` ``(B, C, S, S)``, keyed by :attr:`LAYERS`."""
        out = {}
        for name, block in zip(self.LAYERS[:3], self.blocks, strict=True):
            x = block(x)
            out[name] = x
        out["fc1"] = self.fc1(x)
        out["logits"] = self.head(out["fc1"])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)``."""
        return self.layers(x)["logits"]
