"""The noise-conditioned score network (a diffusion prior's denoiser)."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.score import ScoreUNet


def test_shapes_parameters_and_mask_input():
    net = ScoreUNet(chans=12)
    x = torch.randn(3, 32, 32, dtype=torch.complex64)
    out = net(x, torch.full((3,), 0.5))
    assert out.shape == (3, 32, 32) and out.dtype == torch.complex64
    assert 5e4 < sum(p.numel() for p in net.parameters()) < 1.5e5
    mask = torch.zeros(3, 1, 32, 32)
    mask[..., 12:20] = 1
    assert not torch.allclose(net(x, torch.full((3,), 0.5), mask), out)  # the mask is an input
    one_d = torch.ones(1, 1, 1, 32)
    assert torch.allclose(net(x, torch.full((3,), 0.5), one_d), out)  # all ones = no mask


def test_preconditioning_limits():
    """At tiny noise the skip path dominates (D ~ x); at huge noise the input is scaled away."""
    net = ScoreUNet(chans=8, sigma_data=0.5)
    c_skip, c_out, c_in, _ = net.coefficients(torch.tensor([1e-4, 1e4]))
    assert c_skip[0] == pytest.approx(1.0, abs=1e-6) and c_out[0] == pytest.approx(1e-4, rel=1e-2)
    assert c_skip[1] < 1e-8 and c_in[1] == pytest.approx(1e-4, rel=1e-3)
    x = torch.randn(2, 16, 16, dtype=torch.complex64)
    assert torch.allclose(net(x, torch.full((2,), 1e-5)), x, atol=1e-4)


def test_rejects_bad_inputs():
    net = ScoreUNet(chans=8)
    with pytest.raises(ValueError):
        net(torch.randn(2, 16, 16), torch.ones(2))  # real input
    with pytest.raises(ValueError):
        net(torch.randn(2, 18, 16, dtype=torch.complex64), torch.ones(2))  # not a multiple of 4
    with pytest.raises(ValueError):
        ScoreUNet(chans=2)


def test_overfits_one_batch():
    torch.manual_seed(0)
    net = ScoreUNet(chans=8)
    clean = torch.randn(4, 16, 16, dtype=torch.complex64) * 0.5
    sigma = torch.full((4,), 0.3)
    noisy = clean + sigma.view(-1, 1, 1) * torch.randn(4, 16, 16, dtype=torch.complex64)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = None
    for _ in range(150):
        loss = (net(noisy, sigma) - clean).abs().square().mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
