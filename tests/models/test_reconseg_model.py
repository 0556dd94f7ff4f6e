"""The joint reconstruction + segmentation model (models.reconstruction.multitask)."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.multitask import ReconSeg, Segmenter
from mricompendium.models.reconstruction.varnet import VarNet


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    k = torch.randn(2, 3, 16, 16, dtype=torch.complex64, generator=g)
    mask = (torch.rand(1, 1, 16, 16, generator=g) < 0.5).float()
    maps = torch.randn(2, 3, 16, 16, dtype=torch.complex64, generator=g)
    maps = maps / (maps.abs().square().sum(1, keepdim=True).sqrt())
    return k * mask, mask, maps


def test_segmenter_shapes_and_scale_invariance() -> None:
    torch.manual_seed(0)
    seg = Segmenter(classes=4, chans=4, num_pools=2).eval()
    x = torch.rand(2, 16, 16) + 0.1
    logits = seg(x)
    assert logits.shape == (2, 4, 16, 16)
    torch.testing.assert_close(seg(7.5 * x), logits, rtol=1e-4, atol=1e-5)  # blind to units
    torch.testing.assert_close(seg(x.to(torch.complex64)), logits)  # magnitude of a complex image
    with pytest.raises(ValueError):
        seg(x[0])
    with pytest.raises(ValueError):
        Segmenter(classes=1)


def test_reconseg_zero_filled_and_frozen_recon() -> None:
    k, mask, maps = _inputs()
    zf = ReconSeg(None, Segmenter(chans=2))
    assert zf(k, mask, maps).shape == (2, 16, 16)
    torch.manual_seed(0)
    recon = VarNet(num_cascades=1, sens_chans=2, sens_pools=1, chans=2, pools=1)
    frozen = ReconSeg(recon, Segmenter(chans=2), train_recon=False).train()
    assert not recon.training  # the frozen stage stays in eval mode
    assert all(not p.requires_grad for p in recon.parameters())
    out = frozen(k, mask, maps)
    assert not out.requires_grad  # no gradient reaches the reconstruction
    joint = ReconSeg(VarNet(num_cascades=1, sens_chans=2, sens_pools=1, chans=2, pools=1),
                     Segmenter(chans=2))  # fmt: skip
    assert joint(k, mask, maps).requires_grad
