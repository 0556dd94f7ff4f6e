"""HyperVarNet: shapes, the hypernetwork's effect, the test-time DC knob, overfitting a batch."""

from __future__ import annotations

import pytest
import torch
from recon_testdata import make_data, overfit_ratio

from mricompendium.models.reconstruction.hypervarnet import FiLMConvNet, HyperVarNet


def test_film_identity_modulation_is_no_modulation() -> None:
    net = FiLMConvNet(hidden=4, depth=3)
    x = torch.randn(2, 8, 8, dtype=torch.complex64)
    zero = torch.zeros(2, net.num_modulations)
    torch.testing.assert_close(net(x, zero), net(x))
    assert not torch.allclose(net(x, torch.ones(2, net.num_modulations)), net(x))
    with pytest.raises(ValueError):
        FiLMConvNet(hidden=4, depth=1)


@pytest.mark.parametrize("coils", [1, 4])
def test_shapes_and_per_case_conditions(coils: int) -> None:
    k, mask, maps, _ = make_data(3, coils, 16, 16)
    net = HyperVarNet(num_cascades=2, hidden=4, depth=3, hyper_hidden=8)
    out = net(k, mask, maps, alpha=torch.tensor([0.0, 0.5, 1.0]), dc_scale=torch.ones(3))
    assert out.shape == (3, 16, 16) and out.is_complex()
    with pytest.raises(ValueError):
        net(k, mask, None)


def test_the_hypernetwork_starts_neutral_and_then_depends_on_alpha() -> None:
    k, mask, maps, _ = make_data(2, 4, 16, 16)
    net = HyperVarNet(num_cascades=2, hidden=4, depth=3, hyper_hidden=8)
    torch.testing.assert_close(net(k, mask, maps, alpha=0.0), net(k, mask, maps, alpha=1.0))
    torch.nn.init.normal_(net.hyper[-1].weight, std=0.5)
    assert not torch.allclose(net(k, mask, maps, alpha=0.0), net(k, mask, maps, alpha=1.0))
    fixed = HyperVarNet(num_cascades=2, hidden=4, depth=3, conditioned=False)
    assert fixed.hyper is None
    torch.testing.assert_close(fixed(k, mask, maps, alpha=0.0), fixed(k, mask, maps, alpha=1.0))
    n_fixed = sum(p.numel() for p in fixed.parameters())
    assert sum(p.numel() for p in net.parameters()) > n_fixed


def test_dc_scale_zero_removes_the_data_steps() -> None:
    k, mask, maps, _ = make_data(1, 4, 16, 16)
    net = HyperVarNet(num_cascades=2, hidden=4, depth=3, conditioned=False)
    for reg in net.regularisers:  # no regulariser: only data steps remain
        for conv in reg.convs:
            torch.nn.init.zeros_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
    from mricompendium.physics.sense import SenseOp

    x0 = SenseOp(maps, mask).A_adjoint(k)
    torch.testing.assert_close(net(k, mask, maps, dc_scale=0.0), x0)
    assert not torch.allclose(net(k, mask, maps, dc_scale=1.0), x0)


def test_overfits_one_batch() -> None:
    torch.manual_seed(0)
    k, mask, maps, x = make_data(2, 4, 16, 16)
    net = HyperVarNet(num_cascades=2, hidden=8, depth=3, hyper_hidden=8)
    assert overfit_ratio(net, k, mask, maps, x, steps=40) < 0.3
