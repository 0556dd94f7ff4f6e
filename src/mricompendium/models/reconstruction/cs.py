"""Compressed-sensing baseline: L1-wavelet regularised reconstruction solved with FISTA.

Solves, for each slice independently but in one batched computation,

    x* = argmin_x 1/2 ||A x - y||_2^2 + lam ||Psi x||_1,

with ``A`` any forward operator exposing ``A`` and ``A_adjoint`` (for example
:class:`~mricompendium.physics.sense.SenseOp` or
:class:`~mricompendium.physics.nufft.RadialNufftOp`),
``Psi`` an orthonormal periodic 2D wavelet transform (detail bands only: the coarsest
approximation band is not penalised) and ``|.|`` the complex modulus. References: Lustig, Donoho
and Pauly, "Sparse MRI", MRM 2007; Beck and Teboulle, "FISTA", SIAM J. Imaging Sci. 2009.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F


class LinearOperator(Protocol):
    """Anything with a forward model ``A`` (image ``(B, H, W)`` -> data) and its adjoint."""

    def A(self, x: torch.Tensor) -> torch.Tensor: ...

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor: ...


class Wavelet2d:
    """Batched orthonormal 2D discrete wavelet transform with periodic boundaries.

    Coefficients are stored in one tensor of the image's shape in the usual pyramid layout: the
    approximation band of the last level in the top-left ``(H / 2^L, W / 2^L)`` corner. Because
    the filters are orthonormal and the extension periodic, :meth:`inverse` is both the exact
    inverse and the adjoint of :meth:`forward`. Only the filter taps come from PyWavelets.

    Args:
        wavelet: an orthogonal PyWavelets name such as ``"haar"`` or ``"db4"``.
        levels: number of decomposition levels; H and W must be divisible by ``2 ** levels``.
    """

    def __init__(self, wavelet: str = "db4", levels: int = 3) -> None:
        import pywt

        wav = pywt.Wavelet(wavelet)
        if not wav.orthogonal:
            raise ValueError(f"wavelet {wavelet!r} is not orthogonal")
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = levels
        self.filters = torch.tensor([wav.dec_lo, wav.dec_hi], dtype=torch.float64).unsqueeze(1)

    def _check(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        step = 2**self.levels
        if h % step or w % step:
            raise ValueError(f"image ({h}, {w}) must be divisible by 2**levels = {step}")

    def _analysis_last(self, x: torch.Tensor) -> torch.Tensor:
        """One level along the last dim of real ``(..., L)`` -> ``[low | high]`` ``(..., L)``."""
        *lead, n = x.shape
        taps = self.filters.to(dtype=x.dtype, device=x.device)
        flat = x.reshape(-1, 1, n)
        reps = -(-(taps.shape[-1] - 1) // n)  # periodic extension, even for n < filter length
        ext = torch.cat([flat] * (reps + 1), dim=-1)[..., : n + taps.shape[-1] - 1]
        out = F.conv1d(ext, taps, stride=2)  # (M, 2, n / 2)
        return out.reshape(*lead, n)

    def _synthesis_last(self, c: torch.Tensor) -> torch.Tensor:
        """Adjoint (= inverse) of :meth:`_analysis_last`."""
        *lead, n = c.shape
        taps = self.filters.to(dtype=c.dtype, device=c.device)
        out = F.conv_transpose1d(c.reshape(-1, 2, n // 2), taps, stride=2)[:, 0]
        pad = (-out.shape[-1]) % n
        out = F.pad(out, (0, pad)).reshape(out.shape[0], -1, n).sum(dim=1)  # fold periodic wrap
        return out.reshape(*lead, n)

    def _level(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        if inverse:
            x = self._synthesis_last(x.transpose(-1, -2)).transpose(-1, -2)
            return self._synthesis_last(x)
        x = self._analysis_last(x)
        return self._analysis_last(x.transpose(-1, -2)).transpose(-1, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real or complex image ``(..., H, W)`` -> coefficients ``(..., H, W)``."""
        if torch.is_complex(x):
            out = self.forward(torch.stack((x.real, x.imag)))
            return torch.complex(out[0], out[1])
        self._check(x)
        out = x.clone()
        h, w = x.shape[-2:]
        for _ in range(self.levels):
            out[..., :h, :w] = self._level(out[..., :h, :w], inverse=False)
            h, w = h // 2, w // 2
        return out

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        """Coefficients ``(..., H, W)`` -> image ``(..., H, W)``; the exact inverse of forward."""
        if torch.is_complex(c):
            out = self.inverse(torch.stack((c.real, c.imag)))
            return torch.complex(out[0], out[1])
        self._check(c)
        out = c.clone()
        h, w = c.shape[-2:]
        for level in reversed(range(self.levels)):
            hh, ww = h // 2**level, w // 2**level
            out[..., :hh, :ww] = self._level(out[..., :hh, :ww], inverse=True)
        return out

    def detail_mask(
        self, shape: tuple[int, int], device: torch.device | None = None
    ) -> torch.Tensor:
        """Boolean ``(H, W)``: True on detail coefficients, False on the approximation band."""
        mask = torch.ones(shape, dtype=torch.bool, device=device)
        mask[: shape[0] // 2**self.levels, : shape[1] // 2**self.levels] = False
        return mask


def soft_threshold(x: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Proximal operator of ``tau |x|_1`` for real or complex ``x`` (shrinks the modulus)."""
    mag = x.abs()
    return x * (mag - tau).clamp_min(0) / mag.clamp_min(torch.finfo(mag.dtype).tiny)


def _slice_norm(x: torch.Tensor) -> torch.Tensor:
    return x.abs().pow(2).sum(dim=(-2, -1), keepdim=True).sqrt()


def power_iteration(
    normal, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device, num_iters: int = 20
) -> torch.Tensor:
    """Largest eigenvalue of ``normal`` (``A^H A``) per slice ``(B, 1, 1)``, seeded start."""
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    for _ in range(num_iters):
        v = normal(v)
        v = v / _slice_norm(v).clamp_min(1e-30)
    return _slice_norm(normal(v))


def _padding(h: int, w: int, step: int) -> tuple[int, int]:
    return (-h) % step, (-w) % step


def l1_wavelet_recon(
    y: torch.Tensor,
    op: LinearOperator,
    *,
    lam: float,
    num_iters: int = 50,
    levels: int = 3,
    wavelet: str = "db4",
    x0: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1-wavelet compressed-sensing reconstruction with FISTA (batched over slices).

    The step is ``1 / L`` per slice, ``L`` the largest eigenvalue of ``A^H A`` from a power
    iteration (times 1.01 for safety). Images whose sides are not divisible by ``2 ** levels``
    are solved on a zero-extended grid (the extension is free, unconstrained by the data) and
    cropped back.

    Args:
        y: measured data in the layout of ``op`` (``(B, C, H, W)`` for SENSE, ``(B, C, K)``
            for radial).
        op: forward operator with ``A`` and ``A_adjoint``; ``A_adjoint(y)`` is ``(B, H, W)``.
        lam: weight of the L1 term, in the units of ``y`` (scale it with the data).
        num_iters: FISTA iterations.
        levels: wavelet decomposition levels.
        wavelet: orthogonal PyWavelets wavelet name, e.g. ``"db4"`` or ``"haar"``.
        x0: complex initial image ``(B, H, W)``; zeros when ``None``.

    Returns:
        complex image ``(B, H, W)``.
    """
    if lam < 0 or num_iters < 0:
        raise ValueError(f"need lam >= 0 and num_iters >= 0, got {lam}, {num_iters}")
    if not torch.is_complex(y):
        raise TypeError(f"y must be complex, got {y.dtype}")
    adj = op.A_adjoint(y)
    b, h, w = adj.shape
    psi = Wavelet2d(wavelet, levels)
    ph, pw = _padding(h, w, 2**levels)

    def fwd(x: torch.Tensor) -> torch.Tensor:
        return op.A(x[..., :h, :w])

    def back(r: torch.Tensor) -> torch.Tensor:
        return F.pad(op.A_adjoint(r), (0, pw, 0, ph))

    step = 1.0 / (
        1.01
        * power_iteration(
            lambda v: back(fwd(v)), (b, h + ph, w + pw), dtype=adj.dtype, device=adj.device
        )
    )
    detail = psi.detail_mask((h + ph, w + pw), device=adj.device)
    x = torch.zeros_like(back(y)) if x0 is None else F.pad(x0.to(adj.dtype), (0, pw, 0, ph))
    z, t = x, 1.0
    for _ in range(num_iters):
        u = z - step * back(fwd(z) - y)
        coef = psi.forward(u)
        coef = torch.where(detail, soft_threshold(coef, lam * step), coef)
        x_new = psi.inverse(coef)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
    return x[..., :h, :w]
