from __future__ import annotations

import pytest
import torch
from recon_testdata import make_data, overfit_ratio

from mricompendium.models.reconstruction.kikinet import KIKINet
from mricompendium.physics.fft import fft2c

SMALL = dict(num_iter=2, k_hidden=8, k_depth=3, i_hidden=8, i_depth=3)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
def test_output_shape_and_dtype(coils: int, h: int, w: int) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w)
    out = KIKINet(**SMALL)(k, mask, maps)
    assert out.shape == (2, h, w) and out.dtype == torch.complex64


def test_requires_maps() -> None:
    k, mask, _, _ = make_data(1, 4, 32, 32)
    with pytest.raises(ValueError, match="maps"):
        KIKINet(**SMALL)(k, mask)


def test_kspace_cnn_weights_are_shared_across_coils() -> None:
    net = KIKINet(**SMALL)
    n = sum(p.numel() for p in net.parameters())
    assert net.k_cnns[0][0].in_channels == 2  # one coil at a time, whatever the coil count
    k4, mask, maps4, _ = make_data(1, 4, 32, 32)
    k8, _, maps8, _ = make_data(1, 8, 32, 32)
    assert net(k4, mask, maps4).shape == net(k8, mask, maps8).shape
    assert sum(p.numel() for p in net.parameters()) == n


def test_hard_dc_reproduces_measured_samples_single_coil() -> None:
    k, mask, maps, _ = make_data(2, 1, 33, 30)
    out = KIKINet(**SMALL)(k, mask, maps)
    sampled = mask.expand_as(k).bool()
    k_out = fft2c(out.unsqueeze(1))
    torch.testing.assert_close(k_out[sampled], k[sampled], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(k_out[~sampled], k[~sampled])


def test_soft_dc_moves_samples_towards_the_measurement() -> None:
    k, mask, maps, _ = make_data(1, 1, 32, 32)
    sampled = mask.expand_as(k).bool()
    errors = []
    for lam in (0.1, 10.0):
        torch.manual_seed(0)
        out = KIKINet(**SMALL, lam=lam)(k, mask, maps)
        errors.append((fft2c(out.unsqueeze(1))[sampled] - k[sampled]).abs().mean())
    assert errors[1] < 0.5 * errors[0]


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    k, mask, maps, x = make_data(1, coils, 32, 32)
    assert overfit_ratio(KIKINet(**SMALL), k, mask, maps, x, steps=40, lr=1e-2) < 0.35
