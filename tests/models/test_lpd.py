from __future__ import annotations

import pytest
import torch
from recon_testdata import make_data, overfit_ratio

from mricompendium.models.reconstruction.lpd import LPDNet
from mricompendium.physics.sense import sens_reduce

SMALL = dict(num_iter=3, n_primal=3, n_dual=2, hidden=16, depth=3)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
def test_output_shape_and_dtype(coils: int, h: int, w: int) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w)
    out = LPDNet(**SMALL)(k, mask, maps)
    assert out.shape == (2, h, w) and out.dtype == torch.complex64


def test_requires_maps_and_valid_sizes() -> None:
    k, mask, _, _ = make_data(1, 4, 32, 32)
    with pytest.raises(ValueError, match="maps"):
        LPDNet(**SMALL)(k, mask)
    with pytest.raises(ValueError, match="n_dual"):
        LPDNet(n_dual=0)


@pytest.mark.parametrize("n_primal", [1, 3])
def test_zero_updates_return_the_zero_filled_image(n_primal: int) -> None:
    k, mask, maps, _ = make_data(2, 4, 32, 32)
    net = LPDNet(**{**SMALL, "n_primal": n_primal})
    for cnn in [*net.primal_nets, *net.dual_nets]:
        torch.nn.init.zeros_(cnn[-1].weight)
        torch.nn.init.zeros_(cnn[-1].bias)
    torch.testing.assert_close(net(k, mask, maps), sens_reduce(k, maps))


def test_gradients_reach_every_network() -> None:
    k, mask, maps, _ = make_data(1, 4, 32, 32)
    net = LPDNet(**SMALL)
    out = net(k, mask, maps)
    out.abs().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    k, mask, maps, x = make_data(1, coils, 32, 32)
    assert overfit_ratio(LPDNet(**SMALL), k, mask, maps, x, steps=60, lr=3e-3) < 0.4
