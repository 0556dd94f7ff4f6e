"""SENSE multi-coil forward model and its adjoint.

``A x = M F (S x)`` and ``A^H y = sum_c conj(S_c) F^H (M y_c)``, with ``F`` the centred
orthonormal FFT, ``S`` the coil sensitivities and ``M`` a binary sampling mask. Single-coil data
are the case C = 1 with ``S = 1``.
"""

from __future__ import annotations

from typing import Protocol

import torch

from mricompendium.physics.fft import fft2c, ifft2c


class LinearOperator(Protocol):
    """Anything with a forward model ``A`` (image ``(B, H, W)`` -> data) and its adjoint."""

    def A(self, x: torch.Tensor) -> torch.Tensor: ...

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor: ...


def sens_expand(x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Image ``(B, H, W)`` and maps ``(B, C, H, W)`` -> coil k-space ``(B, C, H, W)`` (no mask)."""
    return fft2c(x.unsqueeze(1) * maps)


def sens_reduce(k: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Coil k-space ``(B, C, H, W)`` -> combined image ``(B, H, W)``; adjoint of sens_expand."""
    return (ifft2c(k) * maps.conj()).sum(dim=1)


class SenseOp:
    """Masked multi-coil Cartesian operator with ``A`` and ``A_adjoint``.

    Args:
        maps: complex coil sensitivities ``(B, C, H, W)`` (``(C, H, W)`` is broadcast over
            the batch).
        mask: sampling mask broadcastable to ``(B, C, H, W)``, e.g. ``(B, 1, 1, W)`` for 1D
            Cartesian or ``(B, 1, H, W)`` for 2D; 1 where sampled.
    """

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor) -> None:
        if not torch.is_complex(maps):
            raise TypeError(f"coil maps must be complex, got {maps.dtype}")
        if maps.dim() == 3:
            maps = maps.unsqueeze(0)
        if maps.dim() != 4:
            raise ValueError(f"coil maps must be (B, C, H, W), got shape {tuple(maps.shape)}")
        try:
            torch.broadcast_shapes(mask.shape, maps.shape)
        except RuntimeError as exc:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not broadcast to k-space {tuple(maps.shape)}"
            ) from exc
        self.maps = maps
        self.mask = mask.to(maps.real.dtype)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(B, H, W)`` -> masked coil k-space ``(B, C, H, W)``."""
        return self.mask * sens_expand(x, self.maps)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Coil k-space ``(B, C, H, W)`` -> image ``(B, H, W)``."""
        return sens_reduce(self.mask * y, self.maps)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``."""
        return self.A_adjoint(self.A(x))
