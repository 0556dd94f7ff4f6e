from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.varnet import (
    VarNet,
    VarNetBlock,
    convert_fastmri_state_dict,
)
from mricompendium.physics.coils import acs_mask
from mricompendium.physics.fft import ifft2c
from mricompendium.physics.sense import sens_expand, sens_reduce

SMALL = dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)


def make_data(b: int, c: int, h: int, w: int, *, mask_2d: bool = False):
    """Smooth complex images, unit-RSS coil maps (ones for c=1), a mask with a 4-line ACS."""
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    blob = torch.exp(-(xx**2 + yy**2) * 3)
    x = blob * torch.exp(1j * torch.rand(b, 1, 1, generator=g) * 3) * (1 + yy * xx)
    x = x + 0.1 * torch.randn(b, h, w, dtype=torch.complex64, generator=g)
    if c == 1:
        maps = torch.ones(b, 1, h, w, dtype=torch.complex64)
    else:
        angles = torch.arange(c) * 2 * torch.pi / c
        mag = torch.exp(
            -((xx - angles.cos()[:, None, None]) ** 2 + (yy - angles.sin()[:, None, None]) ** 2)
        )
        maps = (mag * torch.exp(1j * angles[:, None, None] * (xx + 1))).expand(b, c, h, w)
        maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = torch.zeros(1, 1, h if mask_2d else 1, w)
    mask[..., ::3] = 1
    mask[..., w // 2 - 2 : w // 2 + 2] = 1
    if mask_2d:
        mask[..., 1::2, :] = 0
        mask[..., h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2] = 1
    k = mask * sens_expand(x.to(torch.complex64), maps.to(torch.complex64))
    return k, mask, maps.to(torch.complex64), x.to(torch.complex64)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
@pytest.mark.parametrize("mask_2d", [False, True])
def test_output_shape_and_dtype(coils: int, h: int, w: int, mask_2d: bool) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w, mask_2d=mask_2d)
    out = VarNet(**SMALL)(k, mask)
    assert out.shape == (2, h, w)
    assert out.dtype == torch.complex64
    assert torch.isfinite(out.abs()).all()


def test_given_maps_mode_needs_maps_and_builds_no_sensitivity_net() -> None:
    k, mask, maps, _ = make_data(1, 4, 32, 32)
    net = VarNet(**SMALL, use_given_maps=True)
    assert net.sens_net is None
    assert net(k, mask, maps).shape == (1, 32, 32)
    with pytest.raises(ValueError, match="maps"):
        net(k, mask)


def test_rejects_bad_inputs() -> None:
    k, mask, _, _ = make_data(1, 4, 32, 32)
    net = VarNet(**SMALL)
    with pytest.raises(TypeError, match="complex"):
        net(k.real, mask)
    with pytest.raises(ValueError, match="broadcast"):
        net(k, torch.ones(1, 1, 1, 31))


def test_explicit_dc_false_drops_the_dc_parameter() -> None:
    with_dc = VarNet(**SMALL)
    without = VarNet(**SMALL, explicit_dc=False)
    assert all(c.dc_weight is None for c in without.cascades)
    assert not any("dc_weight" in name for name, _ in without.named_parameters())
    n_with = sum(p.numel() for p in with_dc.parameters())
    assert n_with - sum(p.numel() for p in without.parameters()) == SMALL["num_cascades"]


def test_cascade_implements_the_update_equation() -> None:
    k0, mask, maps, _ = make_data(2, 4, 32, 32)
    k = k0 + 0.3 * torch.randn_like(k0)
    block = VarNetBlock(chans=4, pools=2)
    block.dc_weight.data.fill_(0.6)
    expected = (
        k - 0.6 * mask * (k - k0) - sens_expand(block.regulariser(sens_reduce(k, maps)), maps)
    )
    torch.testing.assert_close(block(k, k0, mask, maps), expected)


def test_sensitivity_maps_have_unit_rss() -> None:
    k, mask, _, _ = make_data(2, 4, 32, 32)
    maps = VarNet(**SMALL).estimate_maps(k, mask)
    rss = maps.abs().square().sum(1).sqrt()
    torch.testing.assert_close(rss, torch.ones_like(rss))


def test_acs_mask_is_symmetric_centre_block() -> None:
    mask = torch.zeros(2, 1, 1, 16)
    mask[0, ..., 6:11] = 1  # run 6..10 about centre 8: left 2, right 3 -> block 6..9
    mask[0, ..., 1] = 1
    mask[1, ..., ::3] = 0
    mask[1, ..., 1::5] = 1  # centre 8 unsampled -> no ACS (the sensitivity net then uses all)
    acs = acs_mask(mask, symmetric=True)
    assert acs[0, 0, 0].nonzero().flatten().tolist() == [6, 7, 8, 9]
    assert acs[1].sum() == 0
    mask_2d = torch.zeros(1, 1, 8, 8)
    mask_2d[..., 3:6, 2:7] = 1
    mask_2d[..., 0, 0] = 1
    assert acs_mask(mask_2d, symmetric=True)[0, 0].nonzero().tolist() == [
        [r, c] for r in (3, 4) for c in (2, 3, 4, 5)
    ]


def test_is_equivariant_to_data_scale() -> None:
    k, mask, _, _ = make_data(2, 4, 32, 32)
    net = VarNet(**SMALL)
    torch.testing.assert_close(net(1e-4 * k, mask), 1e-4 * net(k, mask), rtol=1e-3, atol=1e-8)


def test_overfits_one_batch() -> None:
    k, mask, _, x = make_data(1, 4, 32, 32)
    net = VarNet(**SMALL)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (net(k, mask).abs() - x.abs()).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_matches_fastmri_parameter_count_and_output() -> None:
    fastmri_models = pytest.importorskip("fastmri.models")
    for cfg in (SMALL, dict(num_cascades=12, sens_chans=8, sens_pools=4, chans=18, pools=4)):
        with torch.device("meta"):  # counts parameters without allocating them
            ours, theirs = VarNet(**cfg), fastmri_models.VarNet(**cfg)
        n_ours = sum(p.numel() for p in ours.parameters())
        assert n_ours == sum(p.numel() for p in theirs.parameters())
    theirs = fastmri_models.VarNet(**SMALL)
    for block in theirs.cascades:
        block.dc_weight.data.fill_(0.7)
    ours = VarNet(**SMALL)
    ours.load_state_dict(convert_fastmri_state_dict(theirs.state_dict()))
    k, mask, _, _ = make_data(2, 4, 32, 32)
    k_real, mask_bool = torch.view_as_real(k), mask.bool().unsqueeze(-1)
    with torch.no_grad():
        maps_ours, maps_theirs = ours.estimate_maps(k, mask), theirs.sens_net(k_real, mask_bool)
        torch.testing.assert_close(maps_ours, torch.view_as_complex(maps_theirs), atol=1e-5, rtol=0)
        k_ours, k_theirs = k, k_real
        for a, b in zip(ours.cascades, theirs.cascades, strict=True):
            k_ours, k_theirs = (
                a(k_ours, k, mask, maps_ours),
                b(k_theirs, k_real, mask_bool, maps_theirs),
            )
        torch.testing.assert_close(k_ours, torch.view_as_complex(k_theirs), atol=1e-4, rtol=1e-4)
        # fastMRI returns the RSS magnitude of the coil images of the same final k-space.
        rss = ifft2c(k_ours).abs().square().sum(1).sqrt()
        torch.testing.assert_close(theirs(k_real, mask_bool), rss, atol=1e-4, rtol=1e-4)
