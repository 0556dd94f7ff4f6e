"""Radial NUFFT: agreement with fft2c on the grid and with the NDFT, adjointness, gridding."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics.coils import birdcage_maps
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import golden_angle_radial, spokes_for_acceleration
from mricompendium.physics.nufft import (
    RadialNufftOp,
    density_compensation,
    ndft_adjoint,
    ndft_forward,
)


def _randc(*shape: int, seed: int = 0, dtype=torch.complex128) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.vdot(a.flatten(), b.flatten())


def _cartesian_traj(h: int, w: int) -> torch.Tensor:
    ky = 2 * math.pi * (torch.arange(h, dtype=torch.float64) - h // 2) / h
    kx = 2 * math.pi * (torch.arange(w, dtype=torch.float64) - w // 2) / w
    return torch.stack(torch.meshgrid(ky, kx, indexing="ij"), dim=-1).reshape(-1, 2)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("shape", [(16, 16), (12, 15)])
def test_on_grid_trajectory_reproduces_fft2c(shape: tuple[int, int]) -> None:
    h, w = shape
    x = _randc(2, h, w)
    traj = _cartesian_traj(h, w)
    ref = fft2c(x).reshape(2, 1, -1)
    assert _rel(ndft_forward(x, traj).unsqueeze(1), ref) < 1e-12
    assert _rel(RadialNufftOp(traj, shape).A(x), ref) < 1e-3


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
def test_nufft_is_adjoint(dtype: torch.dtype) -> None:
    traj = golden_angle_radial(13, 32, seed=0)
    maps = birdcage_maps(3, (20, 24), dtype=dtype)
    op = RadialNufftOp(traj, (20, 24), maps=maps)
    x, y = _randc(2, 20, 24, seed=1, dtype=dtype), _randc(2, 3, traj.shape[0], seed=2, dtype=dtype)
    lhs, rhs = _dot(op.A(x), y), _dot(x, op.A_adjoint(y))
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


def test_nufft_matches_ndft() -> None:
    traj = golden_angle_radial(20, 48, seed=3)
    x = _randc(2, 24, 24, seed=4)
    op = RadialNufftOp(traj, (24, 24))
    assert _rel(op.A(x)[:, 0], ndft_forward(x, traj)) < 1e-2
    y = _randc(2, 1, traj.shape[0], seed=5)
    assert _rel(op.A_adjoint(y), ndft_adjoint(y[:, 0], traj, (24, 24))) < 1e-2


def test_ndft_pair_is_adjoint() -> None:
    traj = golden_angle_radial(7, 10, seed=0).double()
    x, y = _randc(3, 6, 5, seed=6), _randc(3, traj.shape[0], seed=7)
    torch.testing.assert_close(
        _dot(ndft_forward(x, traj), y), _dot(x, ndft_adjoint(y, traj, (6, 5)))
    )


def test_gridding_recon_of_fully_sampled_radial_returns_image() -> None:
    n = 32
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    img = torch.exp(-((xx / 0.5) ** 2 + (yy / 0.4) ** 2) * 2).to(torch.complex64)[None]
    traj = golden_angle_radial(spokes_for_acceleration(1.0, n), 2 * n, seed=0)
    op = RadialNufftOp(traj, (n, n))
    recon = op.gridding_recon(op.A(img))
    assert _rel(recon, img) < 0.05
    assert op.A_dagger(op.A(img)).shape == (1, n, n)


@pytest.mark.parametrize("method", ["pipe", "ramp"])
def test_density_compensation_grows_with_radius(method: str) -> None:
    traj = golden_angle_radial(30, 64, seed=0)
    w = density_compensation(traj, (32, 32), method=method)
    assert w.shape == (traj.shape[0],) and (w > 0).all()
    radius = traj.norm(dim=1)
    assert w[(radius > 2.0) & (radius < 2.5)].mean() > 5 * w[radius < 0.3].mean()
    # weights sum to about H W times the covered fraction (a disc) of [-pi, pi)^2
    assert w.sum() == pytest.approx(32 * 32 * math.pi / 4, rel=0.15)


def test_multicoil_shapes_and_errors() -> None:
    traj = golden_angle_radial(4, 16)
    maps = birdcage_maps(5, (8, 8))
    op = RadialNufftOp(traj, (8, 8), maps=maps)
    y = op.A(torch.ones(3, 8, 8, dtype=torch.complex64))
    assert y.shape == (3, 5, 64)
    assert op.A_adjoint(y).shape == (3, 8, 8)
    with pytest.raises(ValueError):
        op.A(torch.ones(3, 9, 8, dtype=torch.complex64))
    with pytest.raises(ValueError):
        op.A_adjoint(torch.ones(3, 4, 64, dtype=torch.complex64))
    with pytest.raises(ValueError):
        RadialNufftOp(traj[:, :1], (8, 8))
    with pytest.raises(TypeError):
        RadialNufftOp(traj, (8, 8), maps=maps.abs())
    with pytest.raises(ValueError):
        density_compensation(traj, (8, 8), method="voronoi")
