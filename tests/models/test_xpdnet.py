"""Tests of XPDNet, its MWCNN primal network and the Haar wavelet transform."""

from __future__ import annotations

import pytest
import torch
from recon_testdata import ellipse_problem as _problem

from mricompendium.models.reconstruction.xpdnet import MWCNN, XPDNet, haar_dwt, haar_idwt
from mricompendium.physics.fft import complex_to_channels
from mricompendium.physics.sense import SenseOp, sens_reduce

SIZE = 32


def test_haar_is_orthonormal_and_inverts_exactly() -> None:
    x = torch.randn(2, 3, 8, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = haar_dwt(x)
    assert y.shape == (2, 12, 4, 3)
    torch.testing.assert_close(haar_idwt(y), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(y.pow(2).sum(), x.pow(2).sum())


def test_haar_of_a_constant_is_all_low_pass() -> None:
    y = haar_dwt(torch.full((1, 2, 4, 4), 3.0))
    torch.testing.assert_close(y[:, :2], torch.full((1, 2, 2, 2), 6.0))  # 0.5 * 4 pixels * 3
    assert y[:, 2:].abs().max() == 0
    with pytest.raises(ValueError, match="even"):
        haar_dwt(torch.zeros(1, 1, 5, 4))


def test_mwcnn_keeps_any_spatial_size() -> None:
    torch.manual_seed(0)
    net = MWCNN(in_chans=3, out_chans=5, first_chans=4, scale_chans=(4, 8))
    assert net(torch.randn(2, 3, 30, 22)).shape == (2, 5, 30, 22)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("learned_dual", [False, True])
def test_forward_returns_complex_image(coils: int, learned_dual: bool) -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(coils)
    model = XPDNet(learned_dual=learned_dual)
    out = model(kspace, mask, maps)
    assert out.shape == (2, SIZE, SIZE)
    assert out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()
    steps = model(kspace, mask, maps, return_all=True)
    assert len(steps) == model.num_iter
    torch.testing.assert_close(steps[-1], out)


def test_bad_inputs_raise() -> None:
    kspace, mask, maps, _ = _problem(4)
    model = XPDNet()
    with pytest.raises(ValueError, match="coil maps"):
        model(kspace, mask)
    with pytest.raises(TypeError):
        model(kspace, mask.to(torch.complex64), maps)
    with pytest.raises(ValueError):
        XPDNet(num_primal=0)


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    """30 Adam steps halve the loss and go below the zero-filled error."""
    torch.manual_seed(0)
    kspace, mask, maps, target = _problem(coils, batch=1)
    model = XPDNet(num_iter=2, num_primal=2, first_chans=8, scale_chans=(8, 16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (model(kspace, mask, maps) - target).abs().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    zero_filled = (sens_reduce(kspace, maps) - target).abs().pow(2).mean().item()
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] < 0.8 * zero_filled


def test_primal_step_sees_the_residual_dual() -> None:
    """The first primal net's input is [buffer, A^H(A x_0 - y)] with x_0 = A^H y."""
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(4)
    model = XPDNet(num_iter=2, num_primal=3)
    seen = []
    model.primal_nets[0].register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    model(kspace, mask, maps)
    op = SenseOp(maps, mask)
    x0 = op.A_adjoint(kspace)
    expected = complex_to_channels(op.normal(x0) - x0)
    assert seen[0].shape == (2, 8, SIZE, SIZE)
    assert expected.abs().max() > 1e-3  # multi-coil: the zero-filled image is not consistent
    torch.testing.assert_close(seen[0][:, 6:], expected)
    torch.testing.assert_close(seen[0][:, :6], complex_to_channels(x0).repeat(1, 3, 1, 1))


def test_learned_dual_with_silent_cnn_equals_residual_dual() -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(4)
    plain, learned = XPDNet(), XPDNet(learned_dual=True)
    assert sum(p.numel() for p in learned.parameters()) > sum(p.numel() for p in plain.parameters())
    learned.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for net in learned.dual_nets:
            net[-1].weight.zero_()
            net[-1].bias.zero_()
    torch.testing.assert_close(learned(kspace, mask, maps), plain(kspace, mask, maps))
