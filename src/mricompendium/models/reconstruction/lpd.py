"""Learned Primal-Dual reconstruction (Adler & Oktem, IEEE TMI 2018) for multi-coil MRI."""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import (
    ConvDenoiser,
    check_recon_inputs,
)
from mricompendium.physics.precision import upcast
from mricompendium.physics.sense import SenseOp

__all__ = ["LPDNet"]


def _to_channels(z: torch.Tensor) -> torch.Tensor:
    """Complex ``(N, K, H, W)`` -> real ``(N, 2K, H, W)`` (all real parts, then imaginary)."""
    return torch.cat((z.real, z.imag), dim=1)


def _to_complex(z: torch.Tensor) -> torch.Tensor:
    """Real ``(N, 2K, H, W)`` -> complex ``(N, K, H, W)``; inverse of :func:`_to_channels`."""
    re, im = upcast(z).chunk(2, dim=1)  # fp32 under autocast: the operator runs in fp32
    return torch.complex(re, im)


class LPDNet(nn.Module):
    """Learned Primal-Dual (Adler & Oktem, "Learned Primal-Dual Reconstruction", IEEE TMI 2018),
    adapted to multi-coil Cartesian MRI.

    The operator is ``A = M F S`` (:class:`SenseOp`). A primal memory ``f`` of ``n_primal``
    complex images and a dual memory ``h`` of ``n_dual`` complex k-spaces per coil are updated
    ``num_iter`` times by residual CNNs::

        h <- h + Gamma([h, A f_1, k0])        (per coil, shared weights)
        f <- f + Lambda([f, A^H h_0])

    and the reconstruction is ``f_0``. Adaptations: the primal memory starts from the zero-filled
    image ``A^H k0`` (the paper starts from zero) and the dual from zero; the CNNs are
    :class:`ConvDenoiser` stacks with ReLU (the paper uses PReLU); no input scaling inside the
    model (the experiment layer applies one input normalisation to every model).

    Paper configuration: ``num_iter=10, n_primal=5, n_dual=5`` and 3-layer CNNs with 32 channels
    (``hidden=32, depth=3``). The defaults here are sized for 64x64 CPU training.

    Args:
        num_iter: unrolled primal-dual iterations.
        n_primal: complex images in the primal memory.
        n_dual: complex k-spaces (per coil) in the dual memory.
        hidden: hidden channels of each CNN.
        depth: convolutions per CNN.
    """

    def __init__(
        self,
        *,
        num_iter: int = 5,
        n_primal: int = 5,
        n_dual: int = 5,
        hidden: int = 32,
        depth: int = 3,
    ) -> None:
        super().__init__()
        for name, value in (("num_iter", num_iter), ("n_primal", n_primal), ("n_dual", n_dual)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.n_primal, self.n_dual = n_primal, n_dual
        self.dual_nets = nn.ModuleList(
            ConvDenoiser(
                in_chans=2 * (n_dual + 2), out_chans=2 * n_dual, hidden=hidden, depth=depth
            )
            for _ in range(num_iter)
        )
        self.primal_nets = nn.ModuleList(
            ConvDenoiser(
                in_chans=2 * (n_primal + 1), out_chans=2 * n_primal, hidden=hidden, depth=depth
            )
            for _ in range(num_iter)
        )

    def _dual_step(
        self, net: nn.Module, h: torch.Tensor, f: torch.Tensor, k0: torch.Tensor, op: SenseOp
    ) -> torch.Tensor:
        """Dual memory ``(B, C, D, H, W)`` -> updated dual memory."""
        b, c, d, hh, ww = h.shape
        af = op.A(f[:, min(1, self.n_primal - 1)])
        z = torch.cat((h, af.unsqueeze(2), k0.unsqueeze(2)), dim=2).reshape(b * c, d + 2, hh, ww)
        return h + _to_complex(net(_to_channels(z))).reshape(b, c, d, hh, ww)

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruct a complex image.

        Args:
            kspace: masked coil k-space, complex ``(B, C, H, W)``.
            mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)``.
            maps: complex coil maps ``(B, C, H, W)`` (ones for single-coil); required.

        Returns:
            Complex image ``(B, H, W)``.
        """
        check_recon_inputs(kspace, mask, maps, require_maps=True, name="LPDNet")
        k0 = kspace
        op = SenseOp(maps, mask)
        b, c, h, w = kspace.shape
        f = op.A_adjoint(k0).unsqueeze(1).repeat(1, self.n_primal, 1, 1)
        dual = k0.new_zeros(b, c, self.n_dual, h, w)
        for dual_net, primal_net in zip(self.dual_nets, self.primal_nets, strict=True):
            dual = self._dual_step(dual_net, dual, f, k0, op)
            adj = op.A_adjoint(dual[:, :, 0])
            f = f + _to_complex(primal_net(_to_channels(torch.cat((f, adj.unsqueeze(1)), dim=1))))
        return f[:, 0]
