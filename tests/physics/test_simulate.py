"""Simulated k-space: smooth phase, SNR definition, noise statistics, shapes and seeding."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics.coils import birdcage_maps
from mricompendium.physics.fft import ifft2c
from mricompendium.physics.sense import sens_reduce
from mricompendium.physics.simulate import (
    add_complex_noise,
    noise_sigma_for_snr,
    simulate_multicoil_kspace,
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
    assert noise_sigma_for_snr(img, 10.0) == pytest.approx(0.2)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[16, 16] = True
    assert noise_sigma_for_snr(img, 4.0, mask=mask) == pytest.approx(0.5)
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


@pytest.mark.parametrize("num_coils", [None, 4])
def test_simulation_shapes_and_noise_free_consistency(num_coils: int | None) -> None:
    img = _disc(32, b=2)
    maps = None if num_coils is None else birdcage_maps(num_coils, (32, 32))
    kspace, target = simulate_multicoil_kspace(img, maps, snr=None, seed=0)
    assert kspace.shape == (2, num_coils or 1, 32, 32) and target.shape == (2, 32, 32)
    torch.testing.assert_close(target.abs(), img, atol=1e-6, rtol=0)
    assert target.angle()[img > 0].std() > 0.05  # a phase was added
    combined = ifft2c(kspace)[:, 0] if maps is None else sens_reduce(kspace, maps.unsqueeze(0))
    torch.testing.assert_close(combined, target, atol=1e-5, rtol=0)


def test_simulated_snr_matches_definition_in_coil_combined_image() -> None:
    img = _disc(64, b=1)
    maps = birdcage_maps(8, (64, 64))
    kspace, target = simulate_multicoil_kspace(img, maps, snr=20.0, seed=1)
    noise = sens_reduce(kspace, maps.unsqueeze(0)) - target
    measured = target.abs()[img > 0].mean() / noise.real.std()
    assert measured == pytest.approx(20.0, rel=0.05)


def test_simulation_seeding_and_complex_input() -> None:
    img = _disc(16, b=1)
    a = simulate_multicoil_kspace(img, None, snr=10.0, seed=3)[0]
    assert torch.equal(a, simulate_multicoil_kspace(img, None, snr=10.0, seed=3)[0])
    assert not torch.equal(a, simulate_multicoil_kspace(img, None, snr=10.0, seed=4)[0])
    cimg = torch.polar(img, torch.full_like(img, math.pi / 3))
    _, target = simulate_multicoil_kspace(cimg, None, snr=None, seed=0)
    assert torch.equal(target, cimg)
    with pytest.raises(ValueError):
        simulate_multicoil_kspace(img[0], None, snr=None, seed=0)
