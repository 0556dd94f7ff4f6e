"""Perturbation physics: coil-correlated noise, noise estimation, shots, translation, rotation."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics.fft import fft2c
from mricompendium.physics.perturb import (
    add_kspace_noise,
    assemble_shots,
    coil_covariance,
    estimate_noise_std,
    rigid_motion_kspace,
    rotate,
    shot_of_line,
    shot_phase_error,
    translation_phase,
)
from mricompendium.physics.simulate import crop_kspace


def _blob(h: int, w: int, b: int = 1) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(h) - h / 2, torch.arange(w) - w / 2, indexing="ij")
    img = torch.exp(-((x - 3) ** 2 / 30 + (y + 2) ** 2 / 12)) + 0.5 * (x.abs() + y.abs() < 6)
    return img.to(torch.complex64).expand(b, h, w).clone()


def test_coil_covariance_is_hermitian_pd_with_unit_mean_diagonal() -> None:
    gen = torch.Generator().manual_seed(0)
    for c in (1, 2, 8, 12):
        psi = coil_covariance(c, correlation=0.6, gain_spread=0.3, generator=gen)
        assert psi.shape == (c, c)
        torch.testing.assert_close(psi, psi.conj().T)
        assert float(torch.linalg.eigvalsh(psi).min()) > 0
        assert psi.diagonal().real.mean() == pytest.approx(1.0)
    torch.testing.assert_close(
        coil_covariance(4, correlation=0.0), torch.eye(4, dtype=torch.complex128)
    )
    with pytest.raises(ValueError):
        coil_covariance(4, correlation=1.0)
    with pytest.raises(ValueError):
        coil_covariance(4, correlation=0.2, gain_spread=0.1)  # gains need a generator


def test_correlated_noise_has_the_requested_covariance_and_only_where_sampled() -> None:
    c = 4
    psi = coil_covariance(c, correlation=0.5)
    k = torch.zeros(2, c, 64, 64, dtype=torch.complex64)
    mask = torch.zeros(1, 1, 1, 64)
    mask[..., ::2] = 1
    noisy = add_kspace_noise(k, mask, torch.tensor([0.5, 2.0]), covariance=psi, seeds=[1, 2])
    assert bool((noisy[..., 1::2] == 0).all())
    for i, s in enumerate((0.5, 2.0)):
        n = noisy[i][..., ::2].reshape(c, -1).to(torch.complex128)
        cov = n @ n.conj().T / n.shape[1] / (2 * s**2)
        torch.testing.assert_close(cov, psi, atol=0.05, rtol=0)
    white = add_kspace_noise(k, torch.ones(1, 1, 1, 64), 1.0, seeds=[1, 2])
    assert white.real.std() == pytest.approx(1.0, rel=0.03)
    # a case's noise depends only on its seed
    again = add_kspace_noise(k[1:], mask, 2.0, covariance=psi, seeds=[2])
    torch.testing.assert_close(again[0], noisy[1])
    with pytest.raises(ValueError):
        add_kspace_noise(k, mask, 1.0, covariance=2 * psi, seeds=[1, 2])


def test_estimate_noise_std_recovers_sigma_of_noise_over_a_smooth_object() -> None:
    y, x = torch.meshgrid(torch.arange(48) - 24.0, torch.arange(48) - 24.0, indexing="ij")
    obj = torch.exp(-(x**2 + y**2) / 40).to(torch.complex64).expand(2, 48, 48)
    k = fft2c(obj.unsqueeze(1) * torch.ones(1, 4, 48, 48, dtype=torch.complex64))
    mask = torch.ones(1, 1, 48, 48)
    noisy = add_kspace_noise(k, mask, torch.tensor([0.01, 0.05]), seeds=[3, 4])
    est = estimate_noise_std(noisy, mask)
    torch.testing.assert_close(est, torch.tensor([0.01, 0.05]), rtol=0.15, atol=0)
    assert estimate_noise_std(k, mask).max() < 0.01  # no noise: small


def test_shot_of_line_orders() -> None:
    assert shot_of_line(6, 2).tolist() == [0, 1, 0, 1, 0, 1]
    assert shot_of_line(6, 3, order="sequential").tolist() == [0, 0, 1, 1, 2, 2]
    assert shot_of_line(5, 5, order="sequential").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        shot_of_line(6, 7)
    with pytest.raises(ValueError):
        shot_of_line(6, 2, order="random")


def test_shot_phase_error_multiplies_each_line_by_its_shot_phase() -> None:
    k = torch.ones(1, 2, 3, 4, dtype=torch.complex64)
    out = shot_phase_error(k, shot_of_line(4, 2), torch.tensor([[0.0, math.pi / 2]]))
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([1, 1j, 1, 1j], dtype=torch.complex64))
    assert torch.equal(out.abs(), k.abs())


def test_integer_translation_phase_is_a_circular_shift() -> None:
    img = _blob(16, 20)
    k = fft2c(img)
    shifts = torch.tensor([[[3.0, -2.0]]])
    moved = k * translation_phase((16, 20), shifts, torch.zeros(20, dtype=torch.int64))[:, 0]
    expected = fft2c(torch.roll(img, shifts=(3, -2), dims=(-2, -1)))
    torch.testing.assert_close(moved, expected, atol=1e-4, rtol=1e-4)


def test_rotate_quarter_turn_is_rot90_and_zero_is_identity() -> None:
    img = _blob(16, 16) * (1 + 0.5j)
    torch.testing.assert_close(rotate(img, torch.zeros(1)), img)
    quarter = rotate(img, torch.tensor([math.pi / 2]))
    torch.testing.assert_close(quarter, torch.rot90(img, 1, (-2, -1)), atol=1e-5, rtol=1e-5)
    # energy nearly kept for a small angle on an object well inside the field of view
    small = rotate(img, torch.tensor([0.1]))
    assert small.abs().square().sum() == pytest.approx(float(img.abs().square().sum()), rel=0.05)


def test_assemble_shots_takes_each_line_from_its_shot() -> None:
    ks = torch.stack([torch.full((1, 1, 2, 4), float(s), dtype=torch.complex64) for s in range(2)])
    out = assemble_shots(ks, torch.tensor([0, 1, 1, 0]))
    assert out.shape == (1, 1, 2, 4)
    assert out[0, 0, 0].real.tolist() == [0, 1, 1, 0]


def test_rigid_motion_without_motion_is_the_still_acquisition_and_with_motion_differs() -> None:
    obj = _blob(32, 32, 2)
    maps = torch.ones(2, 3, 32, 32, dtype=torch.complex64) / math.sqrt(3)
    shots = shot_of_line(16, 4, order="sequential")
    still = rigid_motion_kspace(obj, maps, (16, 16), angles=torch.zeros(2, 4),
                                shifts=torch.zeros(2, 4, 2), shots=shots)  # fmt: skip
    torch.testing.assert_close(still, crop_kspace(fft2c(obj.unsqueeze(1) * maps), (16, 16)))
    angles = torch.tensor([[0.0, 0.05, -0.05, 0.1]] * 2)
    shifts = torch.zeros(2, 4, 2)
    shifts[:, 2] = torch.tensor([0.5, -1.0])
    moved = rigid_motion_kspace(obj, maps, (16, 16), angles=angles, shifts=shifts, shots=shots)
    # shot 0 is still: its lines are unchanged; the others differ
    torch.testing.assert_close(moved[..., shots == 0], still[..., shots == 0])
    assert not torch.allclose(moved[..., shots == 2], still[..., shots == 2])
