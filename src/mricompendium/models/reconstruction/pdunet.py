"""Learned primal-dual from sinograms: the Radon-operator LPD and the Primal-Dual UNet.

Both networks unroll the same primal-dual scheme (Adler & Oktem, "Learned Primal-Dual
Reconstruction", IEEE TMI 2018) on sinograms ``g`` of a :class:`~mricompendium.physics.sinogram.
RadonOp` ``A``: a dual memory ``h`` (``n_dual`` sinograms) and a primal memory ``f``
(``n_primal`` images) are updated ``num_iter`` times::

    h <- h + Gamma([h, A f_1, g])
    f <- f + w * Lambda([f, B h_1])

with ``B`` the filtered back-projection :meth:`~RadonOp.fbp` (as the Primal-Dual UNet authors'
code uses for both networks, in place of the plain adjoint) and ``w`` a learnable per-channel
weight that starts at zero, so that an untrained network returns its initial image, the FBP of
``g``. Complex (MRI) data are two real channels per memory slot; real (CT) data one.

* :class:`RadonLPD`: ``Gamma`` and ``Lambda`` are 3-layer CNNs (PReLU), the reconstruction is
  ``f_1`` (Adler & Oktem's configuration: 10 iterations, 5 + 5 memories, 32 channels).
* :class:`PDUNet`: the Primal-Dual UNet (Ernst, Chatterjee, Rose, Speck and Nurnberger,
  "Sinogram upsampling using Primal-Dual UNet for undersampled CT and radial MRI
  reconstruction", arXiv 2112.13443, 2021): ``Lambda`` is a U-Net, fewer iterations, and the
  output is a sinogram at the full angle set, ``A_full f_1`` (the "upsampled" sinogram), whose
  FBP is the reconstruction. The full angle set is an operator given at call time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import UNet, check_positive
from mricompendium.physics.sinogram import RadonOp

__all__ = ["PDUNet", "RadonLPD", "RadonPrimalDual"]


def _cnn(c_in: int, c_out: int, hidden: int, depth: int) -> nn.Sequential:
    """``depth`` 3x3 convolutions with PReLU between them (Adler & Oktem's blocks)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, hidden, 3, padding=1), nn.PReLU(hidden)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.PReLU(hidden)]
    layers.append(nn.Conv2d(hidden, c_out, 3, padding=1))
    return nn.Sequential(*layers)


def _to_channels(x: torch.Tensor, complex_data: bool) -> torch.Tensor:
    """``(B, K, ...)`` complex -> ``(B, 2K, ...)`` real (real parts, then imaginary) or real."""
    return torch.cat((x.real, x.imag), dim=1) if complex_data else x


def _from_channels(x: torch.Tensor, complex_data: bool) -> torch.Tensor:
    if not complex_data:
        return x
    re, im = x.chunk(2, dim=1)
    return torch.complex(re, im)


class RadonPrimalDual(nn.Module):
    """The shared unrolled primal-dual scheme; subclasses choose the primal network.

    Args:
        num_iter: unrolled iterations.
        n_primal: images in the primal memory.
        n_dual: sinograms in the dual memory.
        dual_hidden: channels of the dual CNNs; ``dual_depth`` their convolutions.
        complex_data: complex (MRI) sinograms and images, else real (CT).
    """

    def __init__(
        self,
        *,
        num_iter: int,
        n_primal: int,
        n_dual: int,
        dual_hidden: int,
        dual_depth: int = 3,
        complex_data: bool = True,
    ) -> None:
        super().__init__()
        check_positive(num_iter=num_iter, n_primal=n_primal, n_dual=n_dual,
                       dual_hidden=dual_hidden)  # fmt: skip
        if dual_depth < 2:
            raise ValueError(f"dual_depth must be >= 2, got {dual_depth}")
        self.num_iter, self.n_primal, self.n_dual = num_iter, n_primal, n_dual
        self.complex_data = complex_data
        c = 2 if complex_data else 1
        self.dual_nets = nn.ModuleList(
            _cnn(c * (n_dual + 2), c * n_dual, dual_hidden, dual_depth) for _ in range(num_iter)
        )
        self.primal_nets = nn.ModuleList(
            self._primal(c * (n_primal + 1), c * n_primal) for _ in range(num_iter)
        )
        self.primal_weights = nn.Parameter(torch.zeros(num_iter, c * n_primal, 1, 1))

    def _primal(self, c_in: int, c_out: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, g: torch.Tensor, op: RadonOp) -> None:
        if g.dim() != 3 or tuple(g.shape[-2:]) != op.sinogram_shape:
            raise ValueError(
                f"sinogram must be (B, {op.sinogram_shape[0]}, {op.sinogram_shape[1]}) for the "
                f"operator's angles and detectors, got {tuple(g.shape)}"
            )
        if torch.is_complex(g) != self.complex_data:
            kind = "complex" if self.complex_data else "real"
            raise TypeError(f"{type(self).__name__} expects {kind} sinograms, got {g.dtype}")

    def primal_dual(self, g: torch.Tensor, op: RadonOp) -> torch.Tensor:
        """The primal memory after the last iteration, ``(B, n_primal, H, W)``."""
        self._check(g, op)
        b = g.shape[0]
        f = op.fbp(g).unsqueeze(1).repeat(1, self.n_primal, 1, 1)
        h = g.new_zeros(b, self.n_dual, *op.sinogram_shape)
        cd = self.complex_data
        for k, (dual, primal) in enumerate(zip(self.dual_nets, self.primal_nets, strict=True)):
            af = op.A(f[:, min(1, self.n_primal - 1)]).unsqueeze(1)
            z = torch.cat((h, af, g.unsqueeze(1)), dim=1)
            h = h + _from_channels(dual(_to_channels(z, cd)), cd)
            back = op.fbp(h[:, 0]).unsqueeze(1)
            step = primal(_to_channels(torch.cat((f, back), dim=1), cd)) * self.primal_weights[k]
            f = f + _from_channels(step, cd)
        return f

    def forward(self, g: torch.Tensor, op: RadonOp, op_full: RadonOp | None = None) -> Any:
        raise NotImplementedError  # pragma: no cover


class RadonLPD(RadonPrimalDual):
    """Learned Primal-Dual (Adler & Oktem, IEEE TMI 2018) on sinograms of a Radon operator.

    Paper configuration: ``num_iter=10, n_primal=5, n_dual=5``, 3-layer CNNs of 32 channels
    (``hidden=32``). Adaptations: the primal memory starts from the FBP of the data (not zero);
    the back-projection is the FBP (the authors of the Primal-Dual UNet did the same); the
    primal update has a learnable weight that starts at zero.

    Args:
        num_iter, n_primal, n_dual, complex_data: see :class:`RadonPrimalDual`.
        hidden: channels of the primal and dual CNNs; ``depth``: their convolutions.
    """

    def __init__(
        self,
        *,
        num_iter: int = 10,
        n_primal: int = 5,
        n_dual: int = 5,
        hidden: int = 32,
        depth: int = 3,
        complex_data: bool = True,
    ) -> None:
        self.hidden, self.depth = hidden, depth
        super().__init__(num_iter=num_iter, n_primal=n_primal, n_dual=n_dual, dual_hidden=hidden,
                         dual_depth=depth, complex_data=complex_data)  # fmt: skip

    def _primal(self, c_in: int, c_out: int) -> nn.Module:
        return _cnn(c_in, c_out, self.hidden, self.depth)

    def forward(self, g: torch.Tensor, op: RadonOp, op_full: RadonOp | None = None) -> torch.Tensor:
        """Sinogram ``(B, S, D)`` -> image ``(B, H, W)`` (``op_full`` unused)."""
        return self.primal_dual(g, op)[:, 0]


class PDUNet(RadonPrimalDual):
    """Primal-Dual UNet (Ernst et al., arXiv 2112.13443): U-Net primal blocks, sinogram
    upsampling to the full angle set, FBP.

    The authors' released code builds each primal block as a U-Net of 32 first-level channels
    (``chans=32``) inside the primal-dual loop of their Learned Primal-Dual baseline; their
    iteration count and depth at each data set are not verified here (UNVERIFIED).

    Args:
        num_iter, n_primal, n_dual, complex_data: see :class:`RadonPrimalDual`.
        chans: first-level channels of each primal U-Net; ``num_pools``: its levels.
        dual_hidden: channels of the dual CNNs.
    """

    def __init__(
        self,
        *,
        num_iter: int = 2,
        n_primal: int = 4,
        n_dual: int = 5,
        chans: int = 32,
        num_pools: int = 3,
        dual_hidden: int = 32,
        complex_data: bool = True,
    ) -> None:
        self.chans, self.num_pools = chans, num_pools
        super().__init__(num_iter=num_iter, n_primal=n_primal, n_dual=n_dual,
                         dual_hidden=dual_hidden, complex_data=complex_data)  # fmt: skip

    def _primal(self, c_in: int, c_out: int) -> nn.Module:
        return UNet(in_chans=c_in, out_chans=c_out, chans=self.chans, num_pools=self.num_pools)

    def upsample(self, g: torch.Tensor, op: RadonOp, op_full: RadonOp) -> torch.Tensor:
        """The upsampled sinogram ``(B, S_full, D)``: ``A_full`` of the primal image."""
        if op_full.image_shape != op.image_shape or op_full.num_det != op.num_det:
            raise ValueError("op_full must share the image grid and detectors of op")
        return op_full.A(self.primal_dual(g, op).mean(dim=1))

    def forward(self, g: torch.Tensor, op: RadonOp, op_full: RadonOp | None = None) -> torch.Tensor:
        """Sinogram ``(B, S, D)`` -> image ``(B, H, W)``: the FBP of the upsampled sinogram
        (``op_full`` required)."""
        if op_full is None:
            raise ValueError("PDUNet needs op_full, the operator of the full angle set")
        return op_full.fbp(self.upsample(g, op, op_full))
