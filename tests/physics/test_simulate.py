"""Simulated k-space: smooth phase, SNR definition, noise statistics, shapes and seeding."""

from __future__ import annotations

import pytest
import torch

from mricompendium.physics.nufft import ndft_forward
from mricompendium.physics.simulate import (
    add_complex_noise,
    crop_kspace,
    fine_trajectory,
    fourier_resample,
    grid_sample_weights,
    noise_sigma_for_snr,
    smooth_phase,
)


def _disc(n: int, b: int = 1) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    return ((x**2 + y**2) < 0.5).float().expand(b, n, n).clone()


def test_smooth_phase_range_smoothness_and_seed() -> None:
    phase = smooth_phase((64, 48), max_phase=1.0, seed=0)
    assert phase.shape == (64, 48)
    assert phase.abs().max() == pytest.approx(1.0, rel=1e-5)
    # smooth: neighbouring pixels differ by a small fraction of the range
    assert phase.diff(dim=0).abs().max() < 0.3 and phase.diff(dim=1).abs().max() < 0.3
    assert torch.equal(phase, smooth_phase((64, 48), max_phase=1.0, seed=0))
    assert not torch.equal(phase, smooth_phase((64, 48), max_phase=1.0, seed=1))
    assert smooth_phase((8, 8), max_phase=0.0, seed=0).abs().max() == 0


def test_noise_sigma_definition() -> None:
    img = 2.0 * _disc(32)[0]
    assert float(noise_sigma_for_snr(img, 10.0)) == pytest.approx(0.2)
    per_case = noise_sigma_for_snr(torch.stack([img, 3 * img]), 10.0)
    torch.testing.assert_close(per_case, torch.tensor([0.2, 0.6]))
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[16, 16] = True
    assert float(noise_sigma_for_snr(img, 4.0, mask=mask)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        noise_sigma_for_snr(img, 0.0)


def test_add_complex_noise_statistics() -> None:
    k = torch.zeros(2, 4, 64, 64, dtype=torch.complex64)
    gen = torch.Generator().manual_seed(0)
    noisy = add_complex_noise(k, sigma=torch.tensor([0.5, 2.0]), generator=gen)
    for i, s in enumerate((0.5, 2.0)):
        assert noisy[i].real.std() == pytest.approx(s, rel=0.03)
        assert noisy[i].imag.std() == pytest.approx(s, rel=0.03)
    with pytest.raises(TypeError):
        add_complex_noise(torch.zeros(2, 2), sigma=1.0, generator=gen)


def test_add_complex_noise_per_case_seeds() -> None:
    k = torch.zeros(3, 2, 8, 8, dtype=torch.complex64)
    a = add_complex_noise(k, sigma=1.0, seeds=[1, 2, 3])
    b = add_complex_noise(k[1:2], sigma=1.0, seeds=[2])
    assert torch.equal(a[1], b[0])  # a case's noise ignores the rest of the batch
    with pytest.raises(ValueError, match="exactly one"):
        add_complex_noise(k, sigma=1.0)
    with pytest.raises(ValueError, match="seeds"):
        add_complex_noise(k, sigma=1.0, seeds=[1])


def _bump(h: int, w: int) -> torch.Tensor:
    """A smooth complex bump sampled at the pixel centres of an (h, w) grid over the FOV."""
    u = (torch.arange(h, dtype=torch.float64) + 0.5) / h
    v = (torch.arange(w, dtype=torch.float64) + 0.5) / w
    mag = torch.exp(-((u[:, None] - 0.43) ** 2 + (v[None, :] - 0.58) ** 2) / (2 * 0.07**2))
    return torch.polar(mag, 2 * u[:, None] - v[None, :])


@pytest.mark.parametrize(("coarse", "fine"), [((32, 32), (64, 64)), ((40, 40), (128, 128)),
                                               ((33, 31), (99, 80))])  # fmt: skip
def test_fourier_resample_aligns_grids_edge_to_edge(coarse, fine) -> None:
    out = fourier_resample(_bump(*fine), coarse)
    assert out.shape == coarse
    torch.testing.assert_close(out, _bump(*coarse), atol=1e-6, rtol=0)


def test_radial_samples_of_the_fine_grid_match_the_coarse_grid() -> None:
    coarse, fine = (24, 20), (72, 64)
    traj = (torch.rand(40, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
            * 2 - 1) * 1.5  # fmt: skip
    yc = ndft_forward(_bump(*coarse), traj)
    yf = ndft_forward(_bump(*fine), fine_trajectory(traj, fine, coarse))
    torch.testing.assert_close(yf * grid_sample_weights(traj, fine, coarse), yc, atol=1e-8,
                               rtol=0)  # fmt: skip


def test_crop_kspace_keeps_the_centre_and_refuses_a_coarser_grid() -> None:
    k = torch.randn(2, 16, 16, dtype=torch.complex64)
    out = crop_kspace(k, (8, 8))
    assert out.shape == (2, 8, 8)
    assert float(out[:, 4, 4].sub(k[:, 8, 8] / 2).abs().max()) < 1e-6  # DC, scaled by 1/f
    with pytest.raises(ValueError, match="coarser"):
        crop_kspace(k, (20, 8))
    with pytest.raises(TypeError):
        crop_kspace(k.real, (8, 8))
