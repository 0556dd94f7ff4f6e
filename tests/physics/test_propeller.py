"""PROPELLER blades, the fat spectrum, the exact simulator and the spectral forward model."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics.nufft import KaiserBesselGrid, ndft_forward
from mricompendium.physics.propeller import (
    GAMMA_MHZ_PER_T,
    Propeller,
    SpectralOp,
    fat_spectrum,
    separable_ndft,
    simulate,
)

N = 16
ACQ = Propeller(N, n_blades=4, n_lines=4, n_readout=N, te_s=4.6e-3, bw_hz_per_px=200.0)


def _object(n: int, seed: int = 0) -> torch.Tensor:
    off = torch.arange(n, dtype=torch.float64) - n // 2
    yy, xx = torch.meshgrid(off, off, indexing="ij")
    g = torch.Generator().manual_seed(seed)
    blob = torch.exp(-((yy - 1) ** 2 + (xx + 2) ** 2) / (2 * (n / 6) ** 2))
    return blob * (1 + 0.2 * torch.rand(n, n, generator=g, dtype=torch.float64))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().norm() / b.abs().norm())


def _sim(water, fat=None, b0=None, **kw):
    fat = torch.zeros_like(water) if fat is None else fat
    b0 = torch.zeros_like(water) if b0 is None else b0
    kw = {"substeps": 1, "t2star_s": None, **kw}
    return simulate(water[None], fat[None], b0[None], ACQ, **kw)[0].to(torch.complex128)


def test_fat_spectrum_known_values() -> None:
    freqs, amps = fat_spectrum(3.0)
    assert freqs.shape == amps.shape == (6,)
    assert abs(float(amps.sum()) - 1) < 1e-12
    # the main (methylene) peak at 1.30 ppm, 3.40 ppm below water: about -434 Hz at 3 T
    main = int(amps.argmax())
    assert abs(float(freqs[main]) - (-3.40 * GAMMA_MHZ_PER_T * 3.0)) < 1e-9
    assert abs(float(freqs[main]) + 434.3) < 0.5
    f1, a1 = fat_spectrum(1.5, peaks="single")
    assert a1.tolist() == [1.0] and abs(float(f1[0]) + 217.1) < 0.5
    with pytest.raises(ValueError, match="peaks"):
        fat_spectrum(3.0, peaks="three")
    with pytest.raises(ValueError, match="field_t"):
        fat_spectrum(0.0)


def test_blade_geometry_and_timing() -> None:
    traj = ACQ.trajectory()
    assert traj.shape == (4, 4, N, 2) and ACQ.num_samples == 4 * 4 * N
    # blade 0: readout along kx, lines at ky = (l - L/2) 2 pi / N; the centre sample is k = 0
    step = 2 * math.pi / N
    torch.testing.assert_close(traj[0, :, :, 0], ((torch.arange(4.0) - 2) * step)[:, None]
                               .expand(4, N).double())  # fmt: skip
    assert float(traj[:, 2, N // 2].abs().max()) < 1e-12
    # blade b is blade 0 rotated by pi b / n_blades: radii agree
    torch.testing.assert_close(traj.norm(dim=-1), traj[:1].norm(dim=-1).expand(4, -1, -1))
    torch.testing.assert_close(ACQ.readout_direction()[1],
                               torch.tensor([math.sin(math.pi / 4), math.cos(math.pi / 4)],
                                            dtype=torch.float64))  # fmt: skip
    t = ACQ.times()
    assert abs(float(t[N // 2]) - ACQ.te_s) < 1e-15  # echo at the centre sample
    dwell = 1 / (ACQ.bw_hz_per_px * N)
    torch.testing.assert_close(torch.diff(t), torch.full((N - 1,), dwell, dtype=torch.float64))
    assert ACQ.sample_times().shape == (ACQ.num_samples,)


def test_acquisition_checks() -> None:
    with pytest.raises(ValueError, match="n_blades"):
        Propeller(16, n_blades=1)
    with pytest.raises(ValueError, match="te_s"):
        Propeller(16, te_s=1e-3, bw_hz_per_px=100.0)  # readout 10 ms, TE 1 ms
    with pytest.raises(ValueError, match="bw_hz_per_px"):
        Propeller(16, bw_hz_per_px=0.0)


def test_separable_ndft_equals_ndft() -> None:
    x = torch.randn(2, 12, 10, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    traj = ACQ.trajectory().reshape(-1, 2)
    torch.testing.assert_close(separable_ndft(x, traj), ndft_forward(x, traj))


def test_simulator_on_resonance_is_the_ndft() -> None:
    w = _object(N)
    y = _sim(w)
    ref = ndft_forward(w.to(torch.complex128)[None], ACQ.trajectory().reshape(-1, 2))[0]
    assert _rel(y, ref) < 1e-6


def test_uniform_b0_is_a_phase_at_each_sample_time() -> None:
    w, f0 = _object(N), 37.0
    y = _sim(w, b0=torch.full_like(w, f0))
    expected = _sim(w) * torch.exp(-2j * math.pi * f0 * ACQ.sample_times())
    assert _rel(y, expected) < 1e-6


def test_fat_follows_its_spectrum_and_water_its_decay() -> None:
    w = _object(N)
    t = ACQ.sample_times()
    freqs, amps = fat_spectrum(3.0)
    fat_only = _sim(torch.zeros_like(w), fat=w)
    phase = (amps[:, None] * torch.exp(-2j * math.pi * freqs[:, None] * t[None])).sum(0)
    assert _rel(fat_only, _sim(w) * phase) < 1e-6
    decayed = _sim(w, t2star_s=(0.02, 0.01))
    assert _rel(decayed, _sim(w) * torch.exp(-t / 0.02)) < 1e-6


def test_dwell_averaging_is_the_mean_over_instants() -> None:
    w, f0 = _object(N), 300.0
    y = _sim(w, b0=torch.full_like(w, f0), substeps=4)
    dwell = 1 / (ACQ.bw_hz_per_px * N)
    offs = ((torch.arange(4, dtype=torch.float64) + 0.5) / 4 - 0.5) * dwell
    mean_phase = torch.exp(-2j * math.pi * f0 * offs).mean()
    expected = _sim(w, b0=torch.full_like(w, f0)) * mean_phase
    assert _rel(y, expected) < 1e-6


def test_rigid_shift_is_a_linear_phase() -> None:
    w = _object(N)
    shifts = torch.zeros(1, 4, 2, dtype=torch.float64)
    shifts[0, 2] = torch.tensor([1.5, -0.5])
    y = _sim(w, shifts_px=shifts)
    k = ACQ.trajectory()
    ph = (k * shifts[0, :, None, None, :]).sum(-1).reshape(-1)
    assert _rel(y, _sim(w) * torch.exp(-1j * ph)) < 1e-6
    # a shifted blade differs, the others do not
    per_blade = (y - _sim(w)).reshape(4, -1).abs().amax(-1)
    assert float(per_blade[2]) > 1e-3 and float(per_blade[[0, 1, 3]].max()) < 1e-9


def test_simulator_checks() -> None:
    w = _object(N)[None]
    with pytest.raises(ValueError, match="one shape"):
        simulate(w, w[:, :8], w, ACQ)
    with pytest.raises(ValueError, match="substeps"):
        simulate(w, w, w, ACQ, substeps=0)


def test_spectral_op_adjointness() -> None:
    op = SpectralOp(ACQ, [-120.0, 0.0, 250.0])
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, N, N, dtype=torch.complex64, generator=g)
    y = torch.randn(2, ACQ.num_samples, dtype=torch.complex64, generator=g)
    lhs = torch.vdot(op.A(x).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), op.A_adjoint(y).flatten())
    assert abs(complex(lhs - rhs)) < 1e-4 * abs(complex(lhs))
    with pytest.raises(ValueError, match="x must be"):
        op.A(x[:, :2])
    with pytest.raises(ValueError, match="bin"):
        SpectralOp(ACQ, [])


def test_spectral_op_known_values() -> None:
    """One bin at 0 Hz is the NUFFT; a bin at f is the exact signal of an object at f (its
    image at TE), up to the NUFFT's interpolation error."""
    w = _object(N)
    x = w.to(torch.complex64)[None, None]
    traj = ACQ.trajectory().reshape(-1, 2).float()
    torch.testing.assert_close(SpectralOp(ACQ, [0.0]).A(x)[0],
                               KaiserBesselGrid(traj, (N, N)).forward(x)[0, 0])  # fmt: skip
    f0 = 80.0
    y_sim = _sim(w, b0=torch.full_like(w, f0))
    at_te = x * complex(torch.exp(torch.tensor(-2j * math.pi * f0 * ACQ.te_s)))
    y_op = SpectralOp(ACQ, [f0]).A(at_te)[0].to(torch.complex128)
    assert _rel(y_op, y_sim) < 1e-3
    # gradients flow through A (the custom backward is the adjoint)
    z = torch.randn(1, 2, N, N, dtype=torch.complex64, requires_grad=True)
    op = SpectralOp(ACQ, [0.0, f0])
    v = torch.randn(1, ACQ.num_samples, dtype=torch.complex64)
    (op.A(z) * v.conj()).real.sum().backward()
    torch.testing.assert_close(z.grad, op.A_adjoint(v), rtol=1e-4, atol=1e-5)
