from __future__ import annotations

import pytest
import torch
from recon_testdata import make_data, overfit_ratio

from mricompendium.models.reconstruction.cascadenet import CascadeNet
from mricompendium.physics.fft import fft2c

SMALL = dict(num_cascades=3, hidden=8, depth=3)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
def test_output_shape_and_dtype(coils: int, h: int, w: int) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w)
    out = CascadeNet(**SMALL)(k, mask, maps)
    assert out.shape == (2, h, w) and out.dtype == torch.complex64


def test_requires_maps() -> None:
    k, mask, _, _ = make_data(1, 4, 32, 32)
    with pytest.raises(ValueError, match="maps"):
        CascadeNet(**SMALL)(k, mask)


def test_hard_dc_reproduces_measured_samples_single_coil() -> None:
    k, mask, maps, _ = make_data(2, 1, 32, 30)
    out = CascadeNet(**SMALL)(k, mask, maps)
    sampled = mask.expand_as(k).bool()
    k_out = fft2c(out.unsqueeze(1))
    torch.testing.assert_close(k_out[sampled], k[sampled], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(k_out[~sampled], k[~sampled])  # the CNNs filled the gaps


def test_soft_dc_lambda_is_learnable_and_weights_the_measurement() -> None:
    net = CascadeNet(**SMALL, lam=2.0, learn_lam=True)
    lams = [p for name, p in net.named_parameters() if "log_lam" in name]
    assert len(lams) == SMALL["num_cascades"]
    assert not any("log_lam" in n for n, _ in CascadeNet(**SMALL, lam=2.0).named_parameters())
    with pytest.raises(ValueError, match="learn_lam"):
        CascadeNet(**SMALL, learn_lam=True)


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    k, mask, maps, x = make_data(1, coils, 32, 32)
    assert overfit_ratio(CascadeNet(**SMALL), k, mask, maps, x, steps=40, lr=1e-2) < 0.35
