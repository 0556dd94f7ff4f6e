"""Registration networks: shapes in 2D and 3D, identity at initialisation, overfitting one pair."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.registration import MSE, Grad, NestedMorph, VoxelMorph
from mricompendium.physics.deform import warp

SMALL = {
    "VoxelMorph": dict(enc_channels=(4, 8, 8), dec_channels=(8, 8, 8), final_channels=(8,)),
    "NestedMorph": dict(dims=(8, 8, 16, 16), head_channels=4),
}
CLASSES = {"VoxelMorph": VoxelMorph, "NestedMorph": NestedMorph}


def _build(name, **kw):
    return CLASSES[name](**SMALL[name], **kw)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("shape", [(32, 32), (20, 27), (16, 16, 16)])
def test_shapes_and_identity_at_init(name, shape):
    net = _build(name, ndim=len(shape)).eval()
    moving, fixed = torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)
    with torch.no_grad():
        out = net(moving, fixed)
    assert out.warped.shape == moving.shape
    assert out.disp.shape == (2, len(shape), *shape)
    assert out.disp.abs().max() < 1e-2  # flow head starts near zero: near-identity
    assert torch.allclose(out.warped, moving, atol=5e-2)


@pytest.mark.parametrize("name", CLASSES)
def test_svf_variant_integrates(name):
    net = _build(name, ndim=2, integration_steps=5)
    out = net(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    assert out.velocity.shape == out.disp.shape
    assert out.velocity is not out.disp


@pytest.mark.parametrize("name", CLASSES)
def test_overfits_one_translated_pair(name):
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((yy - 16) ** 2 + (xx - 15) ** 2) / 40.0)[None, None]
    shift = torch.zeros(1, 2, 32, 32)
    shift[:, 1] = 2.0
    moving, fixed = blob, warp(blob, -shift)  # fixed = moving moved by 2 px
    net = _build(name, ndim=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sim, reg = MSE(), Grad()
    first = None
    for _ in range(60):
        out = net(moving, fixed)
        loss = 100 * sim(out.warped, fixed) + 0.01 * reg(out.disp)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    err_before = (moving - fixed).abs().mean()
    with torch.no_grad():
        err_after = (net(moving, fixed).warped - fixed).abs().mean()
    assert float(loss.detach()) < first
    assert err_after < 0.3 * err_before
    assert out.disp[:, 1].mean() < -1.0  # moved the right way (true shift: -2 px)


def test_rejects_mismatched_pair():
    net = _build("VoxelMorph", ndim=2)
    with pytest.raises(ValueError, match="moving and fixed"):
        net(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17))
    with pytest.raises(ValueError, match="moving and fixed"):
        net(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))
