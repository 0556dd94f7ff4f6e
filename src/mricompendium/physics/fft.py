"""Centred, orthonormal 2D Fourier transforms on complex tensors.

Convention (the whole package): images and k-space are complex tensors whose last two dimensions
are (H, W) = (readout/rows, phase-encode/columns). ``fft2c`` maps an image with its centre at
(H//2, W//2) to k-space with DC at (H//2, W//2); both are unitary, so ``ifft2c(fft2c(x)) == x``
and the adjoint of ``fft2c`` is ``ifft2c``.
"""

from __future__ import annotations

import functools

import torch

from mricompendium.physics.precision import full_precision, upcast

DIMS = (-2, -1)


@functools.lru_cache(maxsize=32)
def _checkerboard(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(-1)^(i + j)`` on an ``(H, W)`` grid."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return (1 - 2 * ((i + j) % 2)).to(dtype)


def _centred(x: torch.Tensor, transform) -> torch.Tensor:
    with full_precision(x):  # no half-precision FFT under autocast (physics/precision.py)
        return _centred_fp32(upcast(x), transform)


def _centred_fp32(x: torch.Tensor, transform) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h % 2 == 0 and w % 2 == 0:
        # For even sizes fftshift(F(ifftshift(x))) = s * c * F(c * x), c = (-1)^(i+j) and
        # s = (-1)^(H/2 + W/2): two real products instead of four rolls, identical numbers.
        c = _checkerboard(h, w, x.real.dtype, x.device)
        out = c * transform(c * x, dim=DIMS, norm="ortho")
        return -out if (h // 2 + w // 2) % 2 else out
    x = torch.fft.ifftshift(x, dim=DIMS)
    return torch.fft.fftshift(transform(x, dim=DIMS, norm="ortho"), dim=DIMS)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D FFT over the last two dimensions of a complex ``(..., H, W)``."""
    if not torch.is_complex(x):
        raise TypeError(f"fft2c expects a complex tensor, got {x.dtype}")
    return _centred(x, torch.fft.fft2)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D inverse FFT over the last two dimensions of ``(..., H, W)``."""
    if not torch.is_complex(k):
        raise TypeError(f"ifft2c expects a complex tensor, got {k.dtype}")
    return _centred(k, torch.fft.ifft2)


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex ``(B, H, W)`` -> real ``(B, 2, H, W)`` (real, imaginary) for CNNs."""
    return torch.stack((x.real, x.imag), dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``(B, 2, H, W)`` -> complex ``(B, H, W)``; inverse of :func:`complex_to_channels`.

    Half-precision channels (a network's output under autocast) give single-precision complex
    values: the data consistency and FFTs that follow stay in full precision.
    """
    b, c, h, w = x.shape
    if c != 2:
        raise ValueError(f"expected 2 channels (real, imag), got {c}")
    x = upcast(x)
    return torch.complex(x[:, 0], x[:, 1])
