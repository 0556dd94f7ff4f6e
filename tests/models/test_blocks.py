from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.blocks import (
    ConvDenoiser,
    DataConsistency,
    NormUNet,
    UNet,
    check_recon_inputs,
    crop_padding,
    hard_dc,
    pad_to_multiple,
    soft_dc,
)
from mricompendium.physics.fft import fft2c


@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 47), (16, 20)])
@pytest.mark.parametrize("num_pools", [1, 3])
def test_unet_keeps_spatial_shape(h: int, w: int, num_pools: int) -> None:
    net = UNet(in_chans=3, out_chans=5, chans=4, num_pools=num_pools)
    out = net(torch.randn(2, 3, h, w))
    assert out.shape == (2, 5, h, w)
    assert out.dtype == torch.float32


def test_unet_rejects_wrong_channels() -> None:
    with pytest.raises(ValueError, match="expects"):
        UNet(in_chans=2, out_chans=2, chans=4)(torch.randn(1, 3, 16, 16))


@pytest.mark.parametrize("kwargs", [{"chans": 0}, {"num_pools": -1}, {"drop_prob": 1.5}])
def test_unet_rejects_bad_hyperparameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        UNet(in_chans=2, out_chans=2, **kwargs)


def test_unet_parameter_count_matches_formula() -> None:
    # level channels 4, 8; bottom 16: two 3x3 convs per block, 2x2 transposed convs, 1x1 head.
    c = 4
    expected = (
        9 * (1 * c + c * c)
        + 9 * (c * 2 * c + 4 * c * c)
        + 9 * (2 * c * 4 * c + 16 * c * c)
        + 4 * (4 * c * 2 * c)
        + 9 * (4 * c * 2 * c + 4 * c * c)
        + 4 * (2 * c * c)
        + 9 * (2 * c * c + c * c)
        + (c * 1 + 1)
    )
    net = UNet(in_chans=1, out_chans=1, chans=c, num_pools=2)
    assert sum(p.numel() for p in net.parameters()) == expected


@pytest.mark.parametrize(("h", "w"), [(24, 24), (25, 31)])
def test_norm_unet_shape_dtype_and_scale_equivariance(h: int, w: int) -> None:
    net = NormUNet(chans=4, num_pools=2).eval()
    x = torch.randn(2, h, w, dtype=torch.complex64)
    y = net(x)
    assert y.shape == (2, h, w) and y.dtype == torch.complex64
    # Normalisation by mean/std makes the network equivariant to positive scaling.
    torch.testing.assert_close(net(1e-3 * x), 1e-3 * y, rtol=1e-3, atol=1e-6)


def test_norm_unet_rejects_real_input() -> None:
    with pytest.raises(ValueError, match="complex"):
        NormUNet(chans=4, num_pools=2)(torch.randn(1, 16, 16))


def test_conv_denoiser_depth_and_shape() -> None:
    net = ConvDenoiser(in_chans=2, out_chans=3, hidden=8, depth=4)
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4
    assert net(torch.randn(1, 2, 9, 11)).shape == (1, 3, 9, 11)
    with pytest.raises(ValueError, match="depth"):
        ConvDenoiser(in_chans=2, out_chans=2, depth=1)


def test_pad_crop_round_trip() -> None:
    x = torch.randn(1, 2, 13, 18)
    padded, pad = pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (16, 24)
    torch.testing.assert_close(crop_padding(padded, pad), x)


def test_soft_dc_known_values() -> None:
    k_pred = torch.tensor([[[[1 + 1j, 2 + 0j, 3 - 1j]]]])
    k0 = torch.tensor([[[[0 + 1j, 0 + 0j, 1 + 0j]]]])
    mask = torch.tensor([[[[1.0, 0.0, 1.0]]]])
    expected = torch.tensor([[[[1 + 0j, 0 + 0j, 2 - 1j]]]]) * 0.5
    torch.testing.assert_close(soft_dc(k_pred, k0, mask, 0.5), expected)


def test_hard_dc_replaces_only_sampled_entries() -> None:
    k_pred = torch.randn(2, 3, 8, 8, dtype=torch.complex64)
    k0 = torch.randn(2, 3, 8, 8, dtype=torch.complex64)
    mask = (torch.rand(1, 1, 1, 8) > 0.5).float()
    out = hard_dc(k_pred, k0, mask)
    m = mask.expand_as(out).bool()
    torch.testing.assert_close(out[m], k0[m])
    torch.testing.assert_close(out[~m], k_pred[~m])


def test_unet_overfits_one_batch() -> None:
    net = UNet(in_chans=1, out_chans=1, chans=4, num_pools=2)
    x, y = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.mse_loss(net(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_data_consistency_weighted_average_single_coil() -> None:
    x = torch.randn(2, 8, 10, dtype=torch.complex64)
    k0 = torch.randn(2, 1, 8, 10, dtype=torch.complex64)
    maps = torch.ones(2, 1, 8, 10, dtype=torch.complex64)
    mask = (torch.rand(1, 1, 1, 10) > 0.5).float()
    k = fft2c(x.unsqueeze(1))
    m = mask.expand_as(k).bool()
    soft = fft2c(DataConsistency(lam=3.0)(x, k0, mask, maps).unsqueeze(1))
    torch.testing.assert_close(soft[m], (k[m] + 3.0 * k0[m]) / 4.0)
    torch.testing.assert_close(soft[~m], k[~m])
    hard = fft2c(DataConsistency()(x, k0, mask, maps).unsqueeze(1))
    torch.testing.assert_close(hard[m], k0[m])
    assert list(DataConsistency(lam=3.0, learn_lam=True).parameters())[0].requires_grad
    with pytest.raises(ValueError, match="positive"):
        DataConsistency(lam=0.0)


def test_check_recon_inputs_errors() -> None:
    k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
    mask = torch.ones(1, 1, 1, 8)
    check_recon_inputs(k, mask, k, require_maps=True)
    with pytest.raises(ValueError, match="needs coil"):
        check_recon_inputs(k, mask, None, require_maps=True)
    with pytest.raises(ValueError, match="maps shape"):
        check_recon_inputs(k, mask, k[:, :1], require_maps=True)
    with pytest.raises(ValueError, match="mask"):
        check_recon_inputs(k, torch.ones(1, 8), None, require_maps=False)
    with pytest.raises(TypeError, match="complex"):
        check_recon_inputs(k.real, mask, None, require_maps=False)
