"""PROPELLER acquisitions with off-resonance: blades, readout timing, the multi-peak fat spectrum,
an exact simulator and the spectral (frequency-binned) forward model a reconstruction uses.

**Blades** (:class:`Propeller`): ``n_blades`` rectangular strips of ``n_lines`` parallel
phase-encode lines through the k-space centre, each line ``n_readout`` samples at Nyquist spacing
``2 pi / N`` of an ``N x N`` grid, blade ``b`` rotated by ``pi b / n_blades`` (Pipe, "Motion
correction with PROPELLER MRI", MRM 1999). Gradient echo: every readout is centred on the echo
time ``TE``; sample ``r`` of a line is acquired at ``t_r = TE + (r - R/2) / (R bw)`` with ``bw``
the receiver bandwidth per pixel.

**Signal** at time ``t`` and k-space position ``k``: ``sum_x [W(x) + F(x) sum_p a_p
exp(-i 2 pi f_p t)] exp(-i 2 pi b(x) t) exp(-i k . x)`` with the water map ``W``, the fat map ``F``,
the B0 offset ``b`` (Hz) and the fat spectrum ``(f_p, a_p)``. :func:`simulate` evaluates it
exactly, by the non-uniform DFT on the objects' fine grid, sample by sample: the phase of every
readout sample at its own time, optionally averaged over ``substeps`` instants within the sample's
dwell (a boxcar ADC), with T2* decay per species and a rigid shift of the object per blade.

**Fat spectrum** (:func:`fat_spectrum`): the six-peak model of the ISMRM 2012 water-fat workshop
challenge and the FWQPBO toolbox (peaks at 5.30, 4.31, 2.76, 2.10, 1.30 and 0.90 ppm, water at
4.70 ppm, relative amplitudes 0.048, 0.039, 0.004, 0.128, 0.693 and 0.087; Yu et al., MRM
60:1122, 2008; Hernando et al., MRM 64:811, 2010), or its main peak alone (-3.40 ppm).

**Spectral forward model** (:class:`SpectralOp`): the reconstruction's own, coarser model: an
image per frequency bin ``f_k`` on the reconstruction grid, ``y = sum_k NUFFT(x_k) exp(-i 2 pi
f_k t)`` at each sample's nominal time, no decay, no dwell integration, single-peak fat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mricompendium.physics.nufft import KaiserBesselGrid
from mricompendium.physics.simulate import fine_trajectory, grid_sample_weights

__all__ = [
    "FAT_AMPLITUDES",
    "FAT_PEAKS_PPM",
    "GAMMA_MHZ_PER_T",
    "WATER_PPM",
    "Propeller",
    "SpectralOp",
    "fat_spectrum",
    "separable_ndft",
    "simulate",
]

GAMMA_MHZ_PER_T = 42.577478  # 1H gyromagnetic ratio / 2 pi
WATER_PPM = 4.70
FAT_PEAKS_PPM = (5.30, 4.31, 2.76, 2.10, 1.30, 0.90)
FAT_AMPLITUDES = (0.048, 0.039, 0.004, 0.128, 0.693, 0.087)


def fat_spectrum(field_t: float, *, peaks: str = "six") -> tuple[torch.Tensor, torch.Tensor]:
    """Fat resonances relative to water in Hz and their relative amplitudes (summing to 1).

    Args:
        field_t: main field in tesla.
        peaks: ``"six"`` (the ISMRM 2012 challenge model) or ``"single"`` (its main peak,
            -3.40 ppm, amplitude 1).

    Returns:
        ``(freqs_hz, amplitudes)``, float64 ``(P,)`` each.
    """
    if not field_t > 0:
        raise ValueError(f"field_t must be positive, got {field_t}")
    mhz = GAMMA_MHZ_PER_T * field_t
    ppm = torch.tensor(FAT_PEAKS_PPM, dtype=torch.float64) - WATER_PPM
    amp = torch.tensor(FAT_AMPLITUDES, dtype=torch.float64)
    if peaks == "single":
        main = int(torch.argmax(amp))
        ppm, amp = ppm[main : main + 1], torch.ones(1, dtype=torch.float64)
    elif peaks != "six":
        raise ValueError(f"peaks must be 'six' or 'single', got {peaks!r}")
    return ppm * mhz, amp / amp.sum()


@dataclass(frozen=True)
class Propeller:
    """A gradient-echo PROPELLER acquisition on an ``image_size`` grid.

    Attributes:
        image_size: the reconstruction grid side ``N`` (k-space positions in its units).
        n_blades, n_lines, n_readout: blades, lines per blade, samples per line.
        te_s: echo time (s), at the centre sample of every readout.
        bw_hz_per_px: receiver bandwidth per pixel (Hz): the readout lasts ``1 / bw`` seconds.
    """

    image_size: int
    n_blades: int = 10
    n_lines: int = 16
    n_readout: int = 64
    te_s: float = 4.6e-3
    bw_hz_per_px: float = 150.0

    def __post_init__(self) -> None:
        for name in ("image_size", "n_blades", "n_lines", "n_readout"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an int >= 2, got {value!r}")
        if not self.bw_hz_per_px > 0:
            raise ValueError(f"bw_hz_per_px must be positive, got {self.bw_hz_per_px}")
        if self.te_s < 0.5 / self.bw_hz_per_px:
            half = 0.5 / self.bw_hz_per_px
            raise ValueError(f"te_s {self.te_s:g} is shorter than half the readout ({half:g} s)")

    @property
    def angles(self) -> torch.Tensor:
        """Blade rotations ``pi b / n_blades``, float64 ``(n_blades,)``."""
        return torch.arange(self.n_blades, dtype=torch.float64) * (math.pi / self.n_blades)

    @property
    def num_samples(self) -> int:
        return self.n_blades * self.n_lines * self.n_readout

    def trajectory(self) -> torch.Tensor:
        """``(n_blades, n_lines, n_readout, 2)`` positions ``(ky, kx)`` in radians per pixel."""
        step = 2 * math.pi / self.image_size
        ro = (torch.arange(self.n_readout, dtype=torch.float64) - self.n_readout // 2) * step
        pe = (torch.arange(self.n_lines, dtype=torch.float64) - self.n_lines // 2) * step
        cos, sin = torch.cos(self.angles), torch.sin(self.angles)
        # blade b: readout along (sin, cos) in (y, x), phase encoding along (cos, -sin)
        kx = ro[None, None, :] * cos[:, None, None] - pe[None, :, None] * sin[:, None, None]
        ky = ro[None, None, :] * sin[:, None, None] + pe[None, :, None] * cos[:, None, None]
        return torch.stack((ky, kx), dim=-1)

    def times(self) -> torch.Tensor:
        """Acquisition time of each readout sample ``(n_readout,)``, seconds after excitation."""
        dwell = 1.0 / (self.bw_hz_per_px * self.n_readout)
        return self.te_s + (torch.arange(self.n_readout, dtype=torch.float64)
                            - self.n_readout // 2) * dwell  # fmt: skip

    def sample_times(self) -> torch.Tensor:
        """The time of every sample in :meth:`trajectory` order, ``(num_samples,)``."""
        return self.times().expand(self.n_blades, self.n_lines, -1).reshape(-1)

    def readout_direction(self) -> torch.Tensor:
        """Unit readout direction ``(n_blades, 2)`` in ``(y, x)``: where off-resonance shifts."""
        return torch.stack((torch.sin(self.angles), torch.cos(self.angles)), dim=-1)


def separable_ndft(x: torch.Tensor, traj: torch.Tensor) -> torch.Tensor:
    """The non-uniform DFT of :func:`~mricompendium.physics.nufft.ndft_forward`, exactly, by its
    separable kernel: ``y_k = sum_ny exp(-i ky n_y) sum_nx x[ny, nx] exp(-i kx n_x)``.

    Image ``(B, H, W)`` complex, trajectory ``(K, 2)`` -> ``(B, K)``; ``K (H + W)`` exponentials
    instead of ``K H W``.
    """
    b, h, w = x.shape
    real = torch.float64 if x.dtype == torch.complex128 else torch.float32
    t = traj.to(real)
    ny = torch.arange(h, dtype=real) - h // 2
    nx = torch.arange(w, dtype=real) - w // 2
    ex = torch.polar(torch.ones(1, dtype=real), -t[:, 1, None] * nx[None, :])  # (K, W)
    ey = torch.polar(torch.ones(1, dtype=real), -t[:, 0, None] * ny[None, :])  # (K, H)
    z = x @ ex.T.to(x.dtype)  # (B, H, K)
    return torch.einsum("bhk,kh->bk", z, ey.to(x.dtype)) / math.sqrt(h * w)


def simulate(
    water: torch.Tensor,
    fat: torch.Tensor,
    b0_hz: torch.Tensor,
    acq: Propeller,
    *,
    field_t: float = 3.0,
    peaks: str = "six",
    substeps: int = 4,
    t2star_s: tuple[float, float] | None = (0.030, 0.015),
    shifts_px: torch.Tensor | None = None,
    phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Noise-free PROPELLER samples of objects on a fine grid, by the exact non-uniform DFT.

    Args:
        water, fat: ``(B, Hf, Wf)`` real maps on the fine grid (same field of view as the
            reconstruction grid, at least as fine).
        b0_hz: ``(B, Hf, Wf)`` off-resonance in Hz.
        acq: the acquisition (k-space positions in the reconstruction grid's units).
        field_t: main field (T), for the fat spectrum.
        peaks: ``"six"`` or ``"single"`` fat spectrum.
        substeps: instants per dwell averaged (1: the sample's centre only).
        t2star_s: ``(water, fat)`` T2* in seconds, or ``None`` for no decay.
        shifts_px: ``(B, n_blades, 2)`` rigid shift ``(dy, dx)`` of the object during each blade,
            in reconstruction pixels (``None``: static).
        phase: ``(B, Hf, Wf)`` a smooth phase (radians) common to both species.

    Returns:
        complex64 ``(B, num_samples)`` in :meth:`Propeller.trajectory` order.
    """
    if water.shape != fat.shape or water.shape != b0_hz.shape or water.dim() != 3:
        raise ValueError("water, fat and b0_hz must be (B, Hf, Wf) of one shape")
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    b, hf, wf = water.shape
    n = acq.image_size
    traj = acq.trajectory()  # (NB, L, R, 2)
    freqs, amps = fat_spectrum(field_t, peaks=peaks)
    dwell = 1.0 / (acq.bw_hz_per_px * acq.n_readout)
    offsets = (torch.arange(substeps, dtype=torch.float64) + 0.5) / substeps - 0.5
    w64, f64, b64 = water.double(), fat.double(), b0_hz.double()
    common = torch.polar(torch.ones_like(w64), phase.double()) if phase is not None else 1.0
    out = torch.zeros(b, acq.n_blades, acq.n_lines, acq.n_readout, dtype=torch.complex128)
    instants = acq.times()[:, None] + offsets[None, :] * dwell  # (R, substeps), evenly spaced
    delta = dwell / substeps
    b0_now = torch.polar(torch.ones_like(b64), -2 * math.pi * b64 * float(instants[0, 0]))
    b0_step = torch.polar(torch.ones_like(b64), -2 * math.pi * b64 * delta)
    for r in range(acq.n_readout):
        m = torch.zeros(b, hf, wf, dtype=torch.complex128)
        for t in instants[r].tolist():
            fat_t = (amps * torch.exp(-2j * math.pi * freqs * t)).sum()
            dw, df = (1.0, 1.0) if t2star_s is None else (math.exp(-t / t2star_s[0]),
                                                          math.exp(-t / t2star_s[1]))  # fmt: skip
            m = m + (dw * w64 + df * fat_t * f64) * b0_now
            b0_now = b0_now * b0_step  # exp(-i 2 pi b t) at the next instant
        m = m * common / substeps
        k = traj[:, :, r].reshape(-1, 2)  # (NB L, 2) in reconstruction units
        y = separable_ndft(m, fine_trajectory(k, (hf, wf), (n, n)).double()) * grid_sample_weights(
            k, (hf, wf), (n, n)
        ).to(torch.complex128)
        y = y.reshape(b, acq.n_blades, acq.n_lines)
        if shifts_px is not None:  # translation by d: exp(-i k . d)
            kk = traj[:, :, r]  # (NB, L, 2)
            ph = (kk[None] * shifts_px.double()[:, :, None, :]).sum(-1)
            y = y * torch.exp(-1j * ph)
        out[..., r] = y
    return out.reshape(b, -1).to(torch.complex64)


class _Gridded(torch.autograd.Function):
    """``grid.forward`` whose backward is ``grid.adjoint`` (the exact adjoint of its steps),
    instead of autograd through the sparse product (which re-sorts the matrix every call)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: KaiserBesselGrid) -> torch.Tensor:
        ctx.grid = grid
        return grid.forward(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.grid.adjoint(grad.contiguous()), None


class SpectralOp:
    """The reconstruction's spectral model: ``K`` frequency bins on the reconstruction grid.

    ``A x = sum_k NUFFT(x_k) * exp(-i 2 pi f_k (t - TE))`` for images ``x`` ``(B, K, N, N)``
    complex, with the sample times ``t`` of :meth:`Propeller.sample_times`: each bin image is the
    signal of its frequency at the echo time, so bins of one species add coherently. With one bin
    at 0 Hz it is the plain NUFFT of all blades (the standard model).

    Args:
        acq: the acquisition.
        freqs_hz: the bins ``(K,)`` in Hz.
    """

    def __init__(self, acq: Propeller, freqs_hz: Sequence[float] | torch.Tensor) -> None:
        self.acq = acq
        self.freqs = torch.as_tensor(freqs_hz, dtype=torch.float64).reshape(-1)
        if self.freqs.numel() < 1:
            raise ValueError("need at least one frequency bin")
        self.traj = acq.trajectory().reshape(-1, 2).float()
        n = acq.image_size
        self.grid = KaiserBesselGrid(self.traj, (n, n))
        t = acq.sample_times() - acq.te_s  # bin images are the images at TE
        phase = torch.exp(-2j * math.pi * self.freqs[:, None] * t[None, :])
        self._phase = phase.to(torch.complex64)

    @property
    def num_bins(self) -> int:
        return int(self.freqs.numel())

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 (operator notation)
        """Bin images ``(B, K, N, N)`` complex -> samples ``(B, num_samples)``."""
        if x.dim() != 4 or x.shape[1] != self.num_bins:
            raise ValueError(f"x must be (B, {self.num_bins}, N, N), got {tuple(x.shape)}")
        return (_Gridded.apply(x, self.grid) * self._phase.to(x.device)).sum(dim=1)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Samples ``(B, num_samples)`` -> bin images ``(B, K, N, N)``."""
        z = y[:, None, :] * self._phase.conj().to(y.device)
        return self.grid.adjoint(z)
