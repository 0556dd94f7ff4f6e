"""Coil maps: birdcage simulation vs SigPy, RSS, and calibration from the k-space centre."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.physics.coils import (
    acs_mask,
    birdcage_maps,
    coil_compress,
    espirit_maps,
    estimate_sensitivities,
    random_birdcage_maps,
    rss,
)
from mricompendium.physics.fft import fft2c, ifft2c
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
    m1 = equispaced_mask_1d(32, acceleration=4, center_fraction=0.25, seed=0)
    acs = acs_mask(m1)
    assert acs.shape == (1, 1, 1, 32) and int(acs.sum()) >= 8
    assert bool(acs[0, 0, 0, 16]) and bool((acs <= m1).all())
    m2 = poisson_disc_mask_2d((32, 32), acceleration=3, calib=(8, 8), seed=0)
    box = acs_mask(m2)[0, 0]
    assert box[12:20, 12:20].all() and box.sum() < 32 * 32 / 3
    assert acs_mask(torch.zeros(1, 1, 1, 8)).sum() == 0  # no centre: empty
    with pytest.raises(ValueError):
        estimate_sensitivities(torch.zeros(1, 2, 8, 8, dtype=torch.complex64))


def test_acs_symmetric_rule_is_fastmri_s() -> None:
    mask = torch.zeros(1, 1, 1, 16)
    mask[..., 5:11] = 1  # 3 lines left of the centre (8), 3 right of it: 5, 6, 7 | 8, 9, 10
    mask[..., 11] = 1  # one more on the right
    assert acs_mask(mask)[0, 0, 0].nonzero().flatten().tolist() == list(range(5, 12))
    sym = acs_mask(mask, symmetric=True)[0, 0, 0].nonzero().flatten().tolist()
    assert sym == list(range(5, 11))


def test_maps_from_mask_equal_maps_from_data_and_single_coil_gives_ones() -> None:
    n = 32
    img, _ = _smooth_object(n)
    kspace = fft2c(img.unsqueeze(1) * birdcage_maps(4, (n, n)).unsqueeze(0))
    mask = equispaced_mask_1d(n, acceleration=4, center_fraction=0.25, seed=0)
    torch.testing.assert_close(
        estimate_sensitivities(kspace * mask, mask), estimate_sensitivities(kspace * mask)
    )
    one = estimate_sensitivities(kspace[:, :1] * mask, mask)
    assert torch.equal(one, torch.ones_like(one))


def test_random_birdcage_maps_reduce_to_birdcage_and_vary() -> None:
    fixed = random_birdcage_maps(4, (16, 20), rotation=torch.zeros(1), radius=torch.full((1,), 1.5))
    torch.testing.assert_close(fixed[0], birdcage_maps(4, (16, 20)))
    varied = random_birdcage_maps(
        4, (16, 20), rotation=torch.tensor([0.5]), radius=torch.tensor([1.5])
    )
    assert not torch.allclose(varied, fixed)
    with pytest.raises(ValueError, match="radius"):
        random_birdcage_maps(4, (8, 8), rotation=torch.zeros(1), radius=torch.zeros(1))


def test_coil_compress_keeps_the_signal_of_low_rank_data() -> None:
    rng = np.random.default_rng(0)
    mix = torch.from_numpy(
        (rng.standard_normal((6, 2)) + 1j * rng.standard_normal((6, 2))).astype(np.complex64)
    )
    img, _ = _smooth_object(16)
    virtual = torch.stack([img[0], img[0] * 0.5j + 0.1]).unsqueeze(0).repeat(2, 1, 1, 1)
    kspace = fft2c(torch.einsum("cv,svhw->schw", mix, virtual))
    out = coil_compress(kspace, 2)
    assert out.shape == (2, 2, 16, 16)
    torch.testing.assert_close(
        rss(ifft2c(out), dim=1), rss(ifft2c(kspace), dim=1), atol=1e-4, rtol=1e-4
    )
    with pytest.raises(ValueError, match="num_coils"):
        coil_compress(kspace, 7)


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
