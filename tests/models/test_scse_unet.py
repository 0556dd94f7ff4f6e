"""U-Net with cSE / sSE / scSE: shapes, the blocks' arithmetic, parameter counts, overfitting."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mricompendium.models.segmentation.scse import (
    ChannelSE,
    ChannelSpatialSE,
    SpatialSE,
    make_se,
)
from mricompendium.models.segmentation.unet import UNet, n_parameters


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("se", ["none", "cse", "sse", "scse"])
def test_unet_returns_logits_of_the_input_size(dims, se):
    torch.manual_seed(0)
    net = UNet(spatial_dims=dims, in_channels=2, out_channels=4, features=(4, 8, 16), se=se)
    x = torch.randn(2, 2, *([16] * dims))
    assert net(x).shape == (2, 4, *([16] * dims))


def _zeroed(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def test_blocks_with_zero_weights_halve_the_input():
    x = torch.randn(2, 6, 5, 7)
    cse, sse = _zeroed(ChannelSE(6)), _zeroed(SpatialSE(6, spatial_dims=2))
    torch.testing.assert_close(cse(x), 0.5 * x)  # sigmoid(0) = 0.5 everywhere
    torch.testing.assert_close(sse(x), 0.5 * x)


def test_cse_scales_channels_and_sse_scales_voxels():
    torch.manual_seed(0)
    x = torch.rand(1, 4, 6, 6) + 0.1
    ratio_c = ChannelSE(4)(x) / x
    assert torch.allclose(ratio_c, ratio_c[..., :1, :1].expand_as(ratio_c))  # one factor/channel
    ratio_s = SpatialSE(4, spatial_dims=2)(x) / x
    assert torch.allclose(ratio_s, ratio_s[:, :1].expand_as(ratio_s))  # one factor per voxel


def test_scse_combines_both_branches():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5, 5)
    for combine, op in (("max", torch.maximum), ("add", torch.add)):
        blk = ChannelSpatialSE(4, spatial_dims=3, combine=combine)
        torch.testing.assert_close(blk(x), op(blk.cse(x), blk.sse(x)))


def test_parameter_overhead_matches_the_formula():
    c, r = 16, 2
    assert (
        n_parameters(make_se("cse", c, spatial_dims=2, reduction=r)) == 2 * c * c // r + c + c // r
    )
    assert n_parameters(make_se("sse", c, spatial_dims=3)) == c + 1
    feats = (8, 16, 32)
    plain = n_parameters(UNet(features=feats))
    scse = n_parameters(UNet(features=feats, se="scse"))
    blocks = [8, 16, 32, 16, 8]  # after each encoder block, the bottleneck and each decoder block
    assert scse - plain == sum(2 * f * f // 2 + f + f // 2 + f + 1 for f in blocks)


def test_unet_with_scse_overfits_one_batch():
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=3, features=(8, 16), se="scse")
    x = torch.rand(2, 1, 16, 16)
    y = (x[:, 0] * 3).long().clamp(max=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert float((net(x).argmax(1) == y).float().mean()) > 0.95


def test_bad_configuration_and_input_are_refused():
    with pytest.raises(ValueError, match="se must be"):
        UNet(se="gse")
    with pytest.raises(ValueError, match="divisible"):
        UNet(features=(4, 8, 16))(torch.randn(1, 1, 18, 16))
    with pytest.raises(ValueError, match="combine"):
        ChannelSpatialSE(4, combine="mean")
