"""Radon-operator Learned Primal-Dual and the Primal-Dual UNet."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.pdunet import PDUNet, RadonLPD
from mricompendium.physics.sinogram import RadonOp, uniform_angles

N = 24
LPD = dict(num_iter=2, n_primal=3, n_dual=3, hidden=8)
PDU = dict(num_iter=2, n_primal=2, n_dual=3, chans=4, num_pools=2, dual_hidden=8)


def _problem(complex_data: bool, batch: int = 2) -> tuple[torch.Tensor, ...]:
    off = torch.arange(N, dtype=torch.float32) - N // 2
    yy, xx = torch.meshgrid(off, off, indexing="ij")
    shift = torch.arange(batch, dtype=torch.float32).view(-1, 1, 1)
    x = (
        torch.exp(-((yy - shift) ** 2 + (xx + 2) ** 2) / 30.0)
        + 0.5 * ((yy / 8) ** 2 + (xx / 6) ** 2 < 1).float()
    )
    if complex_data:
        x = x * torch.exp(1j * 0.05 * xx)
    op, op_full = RadonOp(uniform_angles(4), (N, N)), RadonOp(uniform_angles(16), (N, N))
    g = op.A(x)
    return x, g.to(torch.complex64 if complex_data else torch.float32), op, op_full


@pytest.mark.parametrize("complex_data", [True, False])
def test_shapes_and_dtypes(complex_data: bool) -> None:
    x, g, op, op_full = _problem(complex_data)
    lpd = RadonLPD(**LPD, complex_data=complex_data)(g, op)
    pdu_net = PDUNet(**PDU, complex_data=complex_data)
    pdu = pdu_net(g, op, op_full)
    assert lpd.shape == pdu.shape == (2, N, N)
    assert lpd.dtype == pdu.dtype == g.dtype
    assert pdu_net.upsample(g, op, op_full).shape == (2, *op_full.sinogram_shape)


@pytest.mark.parametrize("complex_data", [True, False])
def test_untrained_networks_return_the_fbp(complex_data: bool) -> None:
    """The primal weights start at zero: the initial image (FBP of the data) comes back."""
    _, g, op, op_full = _problem(complex_data)
    torch.testing.assert_close(RadonLPD(**LPD, complex_data=complex_data)(g, op), op.fbp(g))
    # PD-UNet: FBP of the full-angle re-projection of that same image
    expected = op_full.fbp(op_full.A(op.fbp(g)))
    torch.testing.assert_close(PDUNet(**PDU, complex_data=complex_data)(g, op, op_full), expected)


def test_input_checks() -> None:
    _, g, op, op_full = _problem(True)
    with pytest.raises(TypeError, match="real"):
        RadonLPD(**LPD, complex_data=False)(g, op)
    with pytest.raises(ValueError, match="sinogram"):
        RadonLPD(**LPD)(g[:, :3], op)
    with pytest.raises(ValueError, match="op_full"):
        PDUNet(**PDU)(g, op)
    with pytest.raises(ValueError, match="op_full"):
        PDUNet(**PDU)(g, op, RadonOp(uniform_angles(16), (N, N), num_det=30))
    with pytest.raises(ValueError, match="num_iter"):
        RadonLPD(num_iter=0)
    with pytest.raises(ValueError, match="dual_depth"):
        RadonLPD(depth=1)


def test_gradients_reach_every_parameter() -> None:
    _, g, op, op_full = _problem(True, batch=1)
    for net, args in ((RadonLPD(**LPD), (g, op)), (PDUNet(**PDU), (g, op, op_full))):
        with torch.no_grad():  # move the primal weights off zero, else the nets get no gradient
            net.primal_weights.fill_(0.1)
        net(*args).abs().sum().backward()
        missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
        assert not missing, missing


@pytest.mark.parametrize("cls", ["lpd", "pdunet"])
def test_overfits_one_batch(cls: str) -> None:
    torch.manual_seed(0)
    x, g, op, op_full = _problem(True, batch=1)
    scale = op.fbp(g).abs().square().mean().sqrt()
    g, x = g / scale, x / scale
    net = RadonLPD(**LPD) if cls == "lpd" else PDUNet(**PDU)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = (net(g, op, op_full).abs() - x.abs()).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
