"""Radon operator, FBP, Fourier-slice view of radial k-space and the scikit-image projections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.physics.nufft import ndft_forward
from mricompendium.physics.sinogram import (
    RadonOp,
    bin_projections,
    radial_to_sinogram,
    ramp_filter,
    skimage_projections,
    uniform_angles,
    uniform_radial,
)


def _disc(n: int, radius: float, centre: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    off = torch.arange(n, dtype=torch.float64) - n // 2
    yy, xx = torch.meshgrid(off, off, indexing="ij")
    return (((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) < radius**2).double()


def _smooth(n: int) -> torch.Tensor:
    off = torch.arange(n, dtype=torch.float64) - n // 2
    yy, xx = torch.meshgrid(off, off, indexing="ij")
    return torch.exp(-((yy - 2) ** 2 + (xx + 3) ** 2) / (2 * (n / 8) ** 2))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_uniform_angles_and_spokes() -> None:
    a = uniform_angles(4)
    torch.testing.assert_close(a, torch.tensor([0, math.pi / 4, math.pi / 2, 3 * math.pi / 4],
                                                dtype=torch.float64))  # fmt: skip
    traj = uniform_radial(a, 8)
    assert traj.shape == (32, 2)
    # spoke 0 lies along kx (ky = 0), readout from -pi to pi - pi/4
    assert torch.all(traj[:8, 0].abs() < 1e-6)
    torch.testing.assert_close(traj[:8, 1].double(), (torch.arange(8.0) - 4) * math.pi / 4,
                               check_dtype=False)  # fmt: skip
    with pytest.raises(ValueError, match="num_spokes"):
        uniform_angles(0)
    with pytest.raises(ValueError, match="num_readout"):
        uniform_radial(a, 7)


@pytest.mark.parametrize("shape", [(16, 16), (12, 15)])
def test_adjoint_is_exact_transpose(shape: tuple[int, int]) -> None:
    op = RadonOp(uniform_angles(7), shape)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, *shape, dtype=torch.float64, generator=g)
    p = torch.randn(2, *op.sinogram_shape, dtype=torch.float64, generator=g)
    lhs = (op.A(x) * p).sum()
    rhs = (x * op.A_adjoint(p)).sum()
    assert abs(float(lhs - rhs)) < 1e-10 * float(lhs.abs() + 1)
    # complex inputs: <A x, p> = <x, A^T p> with the Hermitian inner product
    xc = torch.randn(*shape, dtype=torch.complex128, generator=g)
    pc = torch.randn(*op.sinogram_shape, dtype=torch.complex128, generator=g)
    lhs = torch.vdot(op.A(xc).flatten(), pc.flatten())
    rhs = torch.vdot(xc.flatten(), op.A_adjoint(pc).flatten())
    assert abs(complex(lhs - rhs)) < 1e-10 * abs(complex(lhs))


def test_ray_sums_of_a_disc_are_chord_lengths() -> None:
    n, r = 64, 20.0
    op = RadonOp(uniform_angles(6), (n, n))
    p = op.A(_disc(n, r))
    t = torch.arange(op.num_det, dtype=torch.float64) - op.num_det // 2
    chord = 2 * torch.sqrt(torch.clamp(r**2 - t**2, min=0))
    # every angle sees the same chord profile (pixelation: a few percent)
    for row in p:
        assert _rel(row, chord) < 0.05
    # mass is preserved: each projection integrates to the image sum
    mass = torch.full((6,), float(_disc(n, r).sum()), dtype=torch.float64)
    torch.testing.assert_close(p.sum(-1), mass, rtol=1e-2, atol=0)


def test_angle_convention_moves_projection_with_the_object() -> None:
    n = 48
    x = _disc(n, 3.0, centre=(0.0, 10.0))  # a small disc at x = +10
    op = RadonOp(torch.tensor([0.0, math.pi / 2]), (n, n))
    p = op.A(x)
    t = torch.arange(op.num_det, dtype=torch.float64) - op.num_det // 2
    centroid = (p * t).sum(-1) / p.sum(-1)
    # theta = 0: u = (0, 1), t = x -> +10; theta = pi/2: u = (1, 0), t = y -> 0
    torch.testing.assert_close(centroid, torch.tensor([10.0, 0.0], dtype=torch.float64),
                               atol=0.05, rtol=0)  # fmt: skip


def test_fbp_recovers_a_smooth_image() -> None:
    n = 48
    x = _smooth(n)
    op = RadonOp(uniform_angles(96), (n, n))
    rec = op.fbp(op.A(x))
    inner = (slice(8, -8), slice(8, -8))
    assert _rel(rec[inner], x[inner]) < 0.05
    hann = RadonOp(uniform_angles(96), (n, n), window="hann")
    assert _rel(hann.fbp(hann.A(x))[inner], x[inner]) < 0.1


def test_ramp_filter_known_values() -> None:
    resp = ramp_filter(32)
    assert resp.numel() == 64
    # the discrete ramp: response ~ |f| (0 at DC up to 1/2 at Nyquist, Kak and Slaney)
    freq = torch.fft.fftfreq(64, dtype=torch.float64).abs()
    assert abs(float(resp[0])) < 5e-3
    assert float((resp - freq).abs().max()) < 0.02
    hann = ramp_filter(32, window="hann")
    assert abs(float(hann[32])) < 1e-12  # the Hann window vanishes at Nyquist
    with pytest.raises(ValueError, match="window"):
        ramp_filter(32, window="cosine")


def test_radial_samples_become_the_radon_projection() -> None:
    """Fourier-slice theorem: the IDFT of an NDFT spoke is the ray-sum projection."""
    n = 32
    x = _smooth(n)
    angles = uniform_angles(5)
    traj = uniform_radial(angles, 2 * n)
    y = ndft_forward(x.to(torch.complex128)[None], traj.double())[0]
    sino = radial_to_sinogram(y, 5, (n, n))
    assert sino.shape == (5, 2 * n)
    op = RadonOp(angles, (n, n))
    ref = op.A(x)
    assert _rel(sino.real, ref) < 0.03
    assert float(sino.imag.abs().max()) < 0.03 * float(ref.abs().max())
    with pytest.raises(TypeError, match="complex"):
        radial_to_sinogram(y.real, 5, (n, n))
    with pytest.raises(ValueError, match="spokes"):
        radial_to_sinogram(y, 7, (n, n))


def test_gradient_flows_through_the_operator() -> None:
    op = RadonOp(uniform_angles(4), (12, 12))
    x = torch.randn(1, 12, 12, dtype=torch.float64, requires_grad=True)
    p = torch.randn(1, *op.sinogram_shape, dtype=torch.float64)
    (op.A(x) * p).sum().backward()
    torch.testing.assert_close(x.grad, op.A_adjoint(p))


def test_shape_checks() -> None:
    op = RadonOp(uniform_angles(4), (12, 12))
    with pytest.raises(ValueError, match="image"):
        op.A(torch.zeros(12, 13))
    with pytest.raises(ValueError, match="sinogram"):
        op.A_adjoint(torch.zeros(4, 10))
    with pytest.raises(ValueError, match="2x2"):
        RadonOp(uniform_angles(4), (1, 12))


def test_skimage_projections_binned_match_our_operator() -> None:
    """A finer-grid scikit-image projection binned to the coarse grid agrees with RadonOp."""
    fine_n, n = 128, 64
    off = np.arange(fine_n) - fine_n // 2
    yy, xx = np.meshgrid(off, off, indexing="ij")
    fine = np.exp(-((yy - 6) ** 2 + (xx + 10) ** 2) / (2 * 14.0**2))
    angles = uniform_angles(6).numpy()
    proj = skimage_projections(fine, angles)
    # mass: each projection integrates to the image sum
    np.testing.assert_allclose(proj.sum(1), fine.sum(), rtol=1e-3)
    coarse = fine.reshape(n, 2, n, 2).mean(axis=(1, 3))
    binned = bin_projections(proj, angles, 2.0, 2 * n, origin=0.5)
    ref = RadonOp(torch.from_numpy(angles), (n, n)).A(torch.from_numpy(coarse)).numpy()
    assert np.linalg.norm(binned - ref) / np.linalg.norm(ref) < 0.03
    with pytest.raises(ValueError, match="square"):
        skimage_projections(fine[:, :100], angles)
    with pytest.raises(ValueError, match="angles"):
        bin_projections(proj, angles[:3], 2.0, 2 * n, origin=0.5)
