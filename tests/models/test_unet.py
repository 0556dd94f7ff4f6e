from __future__ import annotations

import pytest
import torch
from recon_testdata import make_data, overfit_ratio

from mricompendium.models.reconstruction.unet import UNetRecon
from mricompendium.physics.sense import sens_reduce

SMALL = dict(chans=4, num_pools=2)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
def test_output_shape_and_dtype(coils: int, h: int, w: int) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w)
    out = UNetRecon(**SMALL)(k, mask, maps)
    assert out.shape == (2, h, w) and out.dtype == torch.complex64


def test_requires_maps_and_complex_kspace() -> None:
    k, mask, maps, _ = make_data(1, 4, 32, 32)
    net = UNetRecon(**SMALL)
    with pytest.raises(ValueError, match="maps"):
        net(k, mask)
    with pytest.raises(TypeError, match="complex"):
        net(k.abs(), mask, maps)


def test_residual_starts_from_the_zero_filled_image() -> None:
    k, mask, maps, _ = make_data(2, 4, 32, 32)
    net = UNetRecon(**SMALL)
    torch.nn.init.zeros_(net.net.unet.head.weight)
    torch.nn.init.zeros_(net.net.unet.head.bias)
    # A zero U-Net output is a zero correction: the zero-filled image itself, no offset.
    torch.testing.assert_close(net(k, mask, maps), sens_reduce(k, maps), rtol=1e-5, atol=1e-6)


def test_is_equivariant_to_data_scale() -> None:
    k, mask, maps, _ = make_data(2, 4, 32, 32)
    net = UNetRecon(**SMALL).eval()
    torch.testing.assert_close(
        net(1e-4 * k, mask, maps), 1e-4 * net(k, mask, maps), rtol=1e-3, atol=1e-8
    )


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    k, mask, maps, x = make_data(1, coils, 32, 32)
    assert overfit_ratio(UNetRecon(**SMALL), k, mask, maps, x, steps=30, lr=1e-2) < 0.3
