"""Coil maps: birdcage simulation vs SigPy, RSS, and calibration from the k-space centre."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.physics.coils import (
    acs_mask,
    birdcage_maps,
    espirit_maps,
    estimate_sensitivities,
    rss,
)
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import equispaced_mask_1d, poisson_disc_mask_2d
from mricompendium.physics.sense import sens_reduce


def _smooth_object(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth elliptical object with a smooth phase, and its support."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    r2 = (x / 0.8) ** 2 + (y / 0.65) ** 2
    mag = torch.clamp(1 - r2, min=0) ** 1.5 * (1 + 0.3 * torch.cos(3 * x))
    img = torch.polar(mag, 0.6 * x - 0.4 * y**2)
    return img.unsqueeze(0).to(torch.complex64), (r2 < 0.8)


@pytest.mark.parametrize("num_coils", [4, 8, 16, 32])
def test_birdcage_shape_normalisation_and_sigpy_agreement(num_coils: int) -> None:
    import sigpy.mri

    maps = birdcage_maps(num_coils, (32, 40))
    assert maps.shape == (num_coils, 32, 40) and maps.dtype == torch.complex64
    torch.testing.assert_close(rss(maps, dim=0), torch.ones(32, 40), atol=1e-5, rtol=0)
    ref = torch.from_numpy(sigpy.mri.birdcage_maps((num_coils, 32, 40)).astype(np.complex64))
    corr = (maps * ref.conj()).sum(dim=(-2, -1)).abs() / (
        maps.norm(dim=(-2, -1)) * ref.norm(dim=(-2, -1))
    )
    assert corr.min() > 0.99


def test_birdcage_unnormalised_magnitude_falls_off_with_distance() -> None:
    maps = birdcage_maps(4, (33, 33), normalize=False)
    # coil 0 sits at +x: the pixel nearest to it is brighter than the far edge
    assert maps[0, 16, -1].abs() > 2 * maps[0, 16, 0].abs()
    with pytest.raises(ValueError):
        birdcage_maps(0, (8, 8))


def test_rss_real_and_complex() -> None:
    x = torch.tensor([[3.0, 0.0], [4.0, 1.0]])
    torch.testing.assert_close(rss(x, dim=0), torch.tensor([5.0, 1.0]))
    xc = torch.complex(x, x)
    torch.testing.assert_close(rss(xc, dim=0), torch.tensor([5.0, 1.0]) * np.sqrt(2))


def test_acs_detection_1d_and_2d() -> None:
    k = torch.ones(1, 2, 32, 32, dtype=torch.complex64)
    m1 = equispaced_mask_1d(32, acceleration=4, center_fraction=0.25, seed=0)
    acs = acs_mask(k * m1)
    assert acs.shape == (1, 1, 32, 32)
    assert acs[0, 0].all(dim=0).sum() >= 8 and acs[0, 0].any(dim=1).all()
    m2 = poisson_disc_mask_2d((32, 32), acceleration=3, calib=(8, 8), seed=0)
    box = acs_mask(k * m2)[0, 0]
    assert box[12:20, 12:20].all() and box.sum() < 32 * 32 / 3
    assert acs_mask(k, num_low_freqs=6)[0, 0, 0].sum() == 6
    with pytest.raises(ValueError):
        acs_mask(torch.zeros(1, 1, 8, 8, dtype=torch.complex64))


def test_estimated_maps_give_good_sense_combination() -> None:
    n = 64
    img, support = _smooth_object(n)
    true_maps = birdcage_maps(8, (n, n)).unsqueeze(0)
    kspace = fft2c(img.unsqueeze(1) * true_maps)
    mask = equispaced_mask_1d(n, acceleration=4, center_fraction=0.25, seed=0)
    est = estimate_sensitivities(kspace * mask)
    assert est.shape == (1, 8, n, n)
    # coil combination of the fully sampled data with the estimated maps
    recon = sens_reduce(kspace, est)[0].abs()
    nmse = ((recon - img[0].abs())[support].norm() / img[0].abs()[support].norm()) ** 2
    assert nmse < 0.01
    inner = (est[0] * true_maps[0].conj())[:, support].sum(dim=1).abs()
    norms = est[0][:, support].norm(dim=1) * true_maps[0][:, support].norm(dim=1)
    assert (inner / norms).min() > 0.9


def test_estimate_rejects_real_input() -> None:
    with pytest.raises(TypeError):
        estimate_sensitivities(torch.ones(1, 2, 8, 8))


def test_espirit_reference_matches_truth_inside_object() -> None:
    n = 32
    img, support = _smooth_object(n)
    true_maps = birdcage_maps(4, (n, n))
    kspace = fft2c(img.unsqueeze(1) * true_maps.unsqueeze(0))[0]
    maps = espirit_maps(kspace, calib_width=12, kernel_width=4, crop=0.0)
    assert maps.shape == (4, n, n)
    # ESPIRiT maps equal the truth up to one phase per pixel: compare |<S_est, S_true>| per pixel
    per_pixel = (maps * true_maps.conj()).sum(dim=0).abs()
    assert per_pixel[support].mean() > 0.95
