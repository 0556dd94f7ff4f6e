"""Compressed-sensing baseline: L1-wavelet regularised reconstruction solved with FISTA.

Solves, for each slice independently but in one batched computation,

    x* = argmin_x 1/2 ||A x - y||_2^2 + lam ||Psi x||_1,

with ``A`` any forward operator exposing ``A`` and ``A_adjoint`` (for example
:class:`~mricompendium.physics.sense.SenseOp` or
:class:`~mricompendium.physics.nufft.RadialNufftOp`),
``Psi`` an orthonormal periodic 2D wavelet transform (all bands, as in SigPy's
``L1WaveletRecon``; optionally detail bands only) and ``|.|`` the complex modulus.
References: Lustig, Donoho and Pauly, "Sparse MRI", MRM 2007; Beck and Teboulle, "FISTA",
SIAM J. Imaging Sci. 2009.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812

from mricompendium.physics.sense import LinearOperator


class Wavelet2d:
    """Batched orthonormal 2D discrete wavelet transform with periodic boundaries.

    Coefficients are stored in one tensor of the image's shape in the usual pyramid layout: the
    approximation band of the last level in the top-left ``(H / 2^L, W / 2^L)`` corner. One level
    along an axis of length ``n`` is the orthogonal ``(n, n)`` matrix whose first ``n / 2`` rows
    hold the low-pass filter and the last ``n / 2`` the high-pass filter, shifted by two samples
    per row and wrapped periodically; a 2D level is ``W_h X W_w^T`` on the current approximation
    block. Because the matrices are orthogonal, :meth:`inverse` is both the exact inverse and the
    adjoint of :meth:`forward`. Only the filter taps come from PyWavelets.

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
        self.filters = torch.tensor([wav.dec_lo, wav.dec_hi], dtype=torch.float64)
        self._matrices: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}

    def _check(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        step = 2**self.levels
        if h % step or w % step:
            raise ValueError(f"image ({h}, {w}) must be divisible by 2**levels = {step}")

    def matrix(self, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Orthogonal one-level analysis matrix ``(n, n)`` for even ``n`` (cached)."""
        key = (n, dtype, device)
        if key not in self._matrices:
            taps = self.filters.shape[1]
            half = torch.arange(n // 2)
            cols = (2 * half[:, None] + torch.arange(taps)[None, :]) % n  # (n/2, taps)
            mat = torch.zeros(n, n, dtype=torch.float64)
            for band in range(2):
                rows = (band * (n // 2) + half)[:, None].expand_as(cols)
                vals = self.filters[band].expand_as(cols)
                mat.index_put_((rows.flatten(), cols.flatten()), vals.flatten(), accumulate=True)
            self._matrices[key] = mat.to(dtype=dtype, device=device)
        return self._matrices[key]

    def _apply(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        if torch.is_complex(x):
            out = self._apply(torch.stack((x.real, x.imag)), inverse)
            return torch.complex(out[0], out[1])
        self._check(x)
        out = x.clone()
        h, w = x.shape[-2:]
        order = reversed(range(self.levels)) if inverse else range(self.levels)
        for level in order:
            hh, ww = h >> level, w >> level
            mh = self.matrix(hh, x.dtype, x.device)
            mw = self.matrix(ww, x.dtype, x.device)
            block = out[..., :hh, :ww]
            if inverse:
                out[..., :hh, :ww] = mh.T @ block @ mw
            else:
                out[..., :hh, :ww] = mh @ block @ mw.T
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real or complex image ``(..., H, W)`` -> coefficients ``(..., H, W)``."""
        return self._apply(x, inverse=False)

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        """Coefficients ``(..., H, W)`` -> image ``(..., H, W)``; the exact inverse of forward."""
        return self._apply(c, inverse=True)

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
    penalize_approximation: bool = True,
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
        penalize_approximation: also shrink the coarsest approximation band (the standard
            ``||Psi x||_1``); ``False`` penalises the detail bands only.

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
    if penalize_approximation:
        detail = torch.ones_like(detail)
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
