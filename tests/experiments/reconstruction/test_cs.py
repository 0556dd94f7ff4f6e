"""Compressed sensing: exact wavelet round trip, CS beats zero filling, lam = 0 at full sampling."""

from __future__ import annotations

import pytest
import torch

from mricompendium.experiments.reconstruction.cs import (
    Wavelet2d,
    l1_wavelet_recon,
    power_iteration,
    soft_threshold,
)
from mricompendium.physics.coils import birdcage_maps
from mricompendium.physics.masks import golden_angle_radial, poisson_disc_mask_2d
from mricompendium.physics.nufft import RadialNufftOp
from mricompendium.physics.sense import SenseOp


def _phantom(n: int) -> torch.Tensor:
    """Piecewise-smooth phantom: two ellipses and a square, one with a smooth ramp."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    img = 0.8 * (((x / 0.75) ** 2 + (y / 0.9) ** 2) < 1).float() * (1 + 0.2 * y)
    img = img + 0.4 * (((x - 0.2) / 0.25) ** 2 + ((y + 0.1) / 0.4) ** 2 < 1).float()
    img = img - 0.3 * ((x + 0.35).abs() < 0.12).float() * ((y - 0.3).abs() < 0.12).float()
    return img.to(torch.complex64)


def _nmse(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x - ref).abs().pow(2).sum() / ref.abs().pow(2).sum())


@pytest.mark.parametrize("wavelet", ["haar", "db4"])
@pytest.mark.parametrize("shape", [(2, 32, 32), (1, 3, 16, 24), (8, 8)])
def test_wavelet_round_trip_exact_and_orthonormal(wavelet: str, shape: tuple[int, ...]) -> None:
    psi = Wavelet2d(wavelet, levels=3)
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = psi.forward(x)
    assert c.shape == x.shape
    torch.testing.assert_close(psi.inverse(c), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(c.norm(), x.norm())
    xc = torch.complex(x, -x)
    torch.testing.assert_close(psi.inverse(psi.forward(xc)), xc, atol=1e-12, rtol=0)


def test_wavelet_sparsifies_piecewise_constant_image() -> None:
    c = Wavelet2d("haar", levels=3).forward(_phantom(64).real.double())
    detail = Wavelet2d("haar", levels=3).detail_mask((64, 64))
    assert (c[detail].abs() > 1e-2).float().mean() < 0.2


def test_wavelet_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Wavelet2d("haar", levels=3).forward(torch.zeros(12, 16))
    with pytest.raises(ValueError):
        Wavelet2d("bior2.2")


def test_soft_threshold_complex() -> None:
    x = torch.tensor([3 + 4j, 0.5 + 0j, -2 + 0j])
    out = soft_threshold(x, 1.0)
    torch.testing.assert_close(out, torch.tensor([2.4 + 3.2j, 0j, -1 + 0j]))


def test_power_iteration_finds_largest_eigenvalue() -> None:
    scale = torch.tensor([3.0, 0.5])[:, None, None]
    est = power_iteration(
        lambda v: scale * v, (2, 4, 4), dtype=torch.complex64, device=torch.device("cpu")
    )
    torch.testing.assert_close(est, scale)


def test_full_sampling_lam_zero_returns_adjoint() -> None:
    maps = birdcage_maps(4, (32, 32))
    op = SenseOp(maps, torch.ones(1, 1, 1, 32))
    y = op.A(_phantom(32)[None].repeat(2, 1, 1))
    out = l1_wavelet_recon(y, op, lam=0.0, num_iters=30)
    torch.testing.assert_close(out, op.A_adjoint(y), atol=1e-4, rtol=0)


def test_cs_beats_zero_filled_on_undersampled_phantom() -> None:
    n = 64
    truth = _phantom(n)[None]
    maps = birdcage_maps(4, (n, n))
    mask = poisson_disc_mask_2d((n, n), acceleration=5, calib=(8, 8), seed=0)
    op = SenseOp(maps, mask)
    y = op.A(truth)
    zero_filled = op.A_adjoint(y)
    cs = l1_wavelet_recon(y, op, lam=1e-3, num_iters=60, wavelet="haar")
    assert cs.shape == (1, n, n)
    assert _nmse(cs, truth) < 0.5 * _nmse(zero_filled, truth)


def test_cs_with_radial_operator_and_odd_size() -> None:
    n = 30  # not divisible by 2**levels: solved on a padded grid and cropped
    truth = _phantom(n)[None]
    traj = golden_angle_radial(24, 2 * n, seed=0)
    op = RadialNufftOp(traj, (n, n))
    y = op.A(truth)
    cs = l1_wavelet_recon(y, op, lam=1e-2, num_iters=40, levels=2)
    gridding = op.gridding_recon(y)
    assert cs.shape == (1, n, n)
    assert _nmse(cs, truth) < _nmse(gridding, truth)


def test_cs_rejects_bad_input() -> None:
    op = SenseOp(birdcage_maps(2, (8, 8)), torch.ones(1, 1, 1, 8))
    with pytest.raises(ValueError):
        l1_wavelet_recon(torch.zeros(1, 2, 8, 8, dtype=torch.complex64), op, lam=-1.0)
    with pytest.raises(TypeError):
        l1_wavelet_recon(torch.zeros(1, 2, 8, 8), op, lam=1.0)
