"""Joint reconstruction and segmentation: a segmenter on a reconstruction network's output.

In the spirit of ATOMMIC's multitask models (MTLRS, Karkalousos et al., "MultiTask Learning
for accelerated-MRI Reconstruction and Segmentation of Brain Lesions in Multiple Sclerosis",
MIDL 2023; the ATOMMIC toolbox, Karkalousos et al., 2024): a U-Net segments the magnitude of
the reconstructed image. Trained jointly, the segmentation loss also shapes the reconstruction
(the gradient flows through the reconstruction); trained sequentially, the reconstruction is
frozen and only the segmenter learns. MTLRS also feeds the segmentation back into its
reconstruction cascades; :class:`ReconSeg` does not (one pass, reconstruction then
segmentation).
"""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import UNet, check_positive
from mricompendium.physics.sense import sens_reduce

__all__ = ["ReconSeg", "Segmenter"]


class Segmenter(nn.Module):
    """A 2D U-Net giving class logits from an image's magnitude, scaled to unit RMS per image.

    The scaling makes the segmenter blind to the data's units (the reconstruction's output is
    in the units of the k-space), so the same network segments a reconstruction, a zero-filled
    image or a reference.

    Args:
        classes: output classes (background included).
        chans: first-level U-Net channels.
        num_pools: U-Net levels.
    """

    def __init__(self, *, classes: int = 4, chans: int = 8, num_pools: int = 2) -> None:
        super().__init__()
        check_positive(classes=classes)
        if classes < 2:
            raise ValueError(f"classes must be >= 2, got {classes}")
        self.classes = classes
        self.net = UNet(in_chans=1, out_chans=classes, chans=chans, num_pools=num_pools)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex or real ``(B, H, W)`` -> real logits ``(B, classes, H, W)``."""
        if image.dim() != 3:
            raise ValueError(f"Segmenter expects (B, H, W), got shape {tuple(image.shape)}")
        mag = image.abs() if image.is_complex() else image
        rms = mag.square().mean(dim=(-2, -1), keepdim=True).sqrt()
        return self.net((mag / rms.clamp_min(torch.finfo(mag.dtype).tiny)).unsqueeze(1))


class ReconSeg(nn.Module):
    """A reconstruction network (or the zero-filled image) followed by a :class:`Segmenter`.

    ``forward(kspace, mask, maps)`` returns the complex reconstruction (the contract of the
    registry's networks, so the reconstruction protocol evaluates it unchanged);
    ``segmenter(image)`` segments it.

    Args:
        recon: a network ``forward(kspace, mask, maps) -> (B, H, W)``, or ``None`` for the
            zero-filled SENSE image (no parameters).
        segmenter: the segmentation network.
        train_recon: False freezes ``recon`` (no gradients, always in eval mode): the sequential
            pipeline's second stage; True lets the joint loss train both.
    """

    def __init__(
        self, recon: nn.Module | None, segmenter: Segmenter, *, train_recon: bool = True
    ) -> None:
        super().__init__()
        self.recon = recon
        self.segmenter = segmenter
        self.train_recon = bool(train_recon) and recon is not None
        if recon is not None and not self.train_recon:
            recon.eval()
            for p in recon.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> ReconSeg:
        super().train(mode)
        if self.recon is not None and not self.train_recon:
            self.recon.eval()
        return self

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The complex reconstruction ``(B, H, W)``."""
        if self.recon is None:
            if maps is None:
                raise ValueError("the zero-filled image needs coil maps")
            return sens_reduce(kspace, maps)
        if self.train_recon:
            return self.recon(kspace, mask, maps)
        with torch.no_grad():
            return self.recon(kspace, mask, maps)
