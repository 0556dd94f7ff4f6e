"""Multi-frame (2D+t) E2E-VarNet cascades and U-Nets."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.multiframe import FrameNormUNet, FrameUNet, FrameVarNet
from mricompendium.physics.kt import KtSenseOp


def _data(b=2, c=3, t=4, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, t, h, w, dtype=torch.complex64, generator=g)
    maps = torch.randn(b, c, h, w, dtype=torch.complex64, generator=g)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(b, 1, t, 1, w, generator=g) > 0.5).float()
    return x, KtSenseOp(maps, mask).A(x), mask, maps


@pytest.mark.parametrize("frame_wise", [False, True])
def test_shapes_and_frame_wise_inputs(frame_wise: bool) -> None:
    x, k, mask, maps = _data()
    for net in (FrameVarNet(frames=4, num_cascades=2, chans=4, frame_wise=frame_wise),
                FrameUNet(frames=4, chans=4, num_pools=2, frame_wise=frame_wise)):  # fmt: skip
        assert net(k, mask, maps).shape == x.shape
    unet = FrameNormUNet(frames=4, chans=4, num_pools=2, frame_wise=frame_wise)
    assert unet.unet.in_chans == (2 if frame_wise else 8)


def test_frame_wise_networks_treat_frames_alone() -> None:
    net = FrameNormUNet(frames=3, chans=4, num_pools=2, frame_wise=True).eval()
    x = torch.randn(1, 3, 8, 8, dtype=torch.complex64)
    y = x.clone()
    y[:, 2] = 0
    torch.testing.assert_close(net(x)[:, :2], net(y)[:, :2])
    joint = FrameNormUNet(frames=3, chans=4, num_pools=2).eval()
    assert not torch.allclose(joint(x)[:, :2], joint(y)[:, :2])


def test_inputs_are_validated() -> None:
    x, k, mask, maps = _data()
    net = FrameVarNet(frames=4, num_cascades=1, chans=2)
    with pytest.raises(ValueError):
        net(k[:, :, 0], mask, maps)
    with pytest.raises(ValueError):
        net(k, mask, maps[:, :2])
    with pytest.raises(ValueError):
        FrameNormUNet(frames=3, chans=2, num_pools=1)(x)


@pytest.mark.parametrize(("cls", "frame_wise"), [(FrameVarNet, False), (FrameVarNet, True),
                                                 (FrameUNet, False)])  # fmt: skip
def test_overfits_one_batch(cls, frame_wise: bool) -> None:
    x, k, mask, maps = _data(b=1, t=3)
    net = (cls(frames=3, chans=8) if cls is FrameUNet
           else cls(frames=3, num_cascades=2, chans=8, frame_wise=frame_wise))  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = (net(k, mask, maps).abs() - x.abs()).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_zero_init_starts_at_the_zero_filled_frames_and_still_learns() -> None:
    x, k, mask, maps = _data(b=1, t=2)
    zero_filled = KtSenseOp(maps, mask).A_adjoint(k)
    varnet = FrameVarNet(frames=2, num_cascades=2, chans=4, zero_init=True)
    unet = FrameUNet(frames=2, chans=4, num_pools=2, zero_init=True)
    for net in (varnet, unet):
        torch.testing.assert_close(net(k, mask, maps), zero_filled, atol=1e-5, rtol=1e-4)
    # the default networks are the earlier ones (no extra parameter, a random start)
    plain = FrameVarNet(frames=2, num_cascades=2, chans=4)
    n_zero, n_plain = (sum(p.numel() for p in n.parameters()) for n in (varnet, plain))
    assert n_zero == n_plain + 2
    assert not torch.allclose(plain(k, mask, maps), zero_filled, atol=1e-3)
    opt = torch.optim.Adam(varnet.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = (varnet(k, mask, maps).abs() - x.abs()).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.9 * first and float(varnet.reg_gains.abs().sum()) > 0
