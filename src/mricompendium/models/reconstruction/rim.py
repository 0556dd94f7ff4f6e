"""Recurrent inference machines for MRI reconstruction: RIM and CIRIM (i-RIM: :mod:`.irim`).

Both refine an image estimate ``x`` with a learned recurrent update that sees the gradient of the
data log-likelihood, ``grad = A^H (A x - y)``, where ``A = M F S`` is the masked SENSE operator
(:class:`~mricompendium.physics.sense.SenseOp`). Data consistency enters only through this gradient
unless stated otherwise. The recurrent cells are in :mod:`.recurrent`.
"""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import check_positive, soft_dc
from mricompendium.models.reconstruction.recurrent import (
    ConvRNNStack,
    check_choice,
    check_kspace_and_mask,
    resolve_maps,
)
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import SenseOp, sens_expand, sens_reduce

__all__ = ["CIRIM", "RIM", "grad_input"]


def grad_input(op: SenseOp, x: torch.Tensor, aty: torch.Tensor) -> torch.Tensor:
    """RIM input ``[x, A^H(A x - y)]`` as real channels ``(B, 4, H, W)``."""
    grad = op.normal(x) - aty
    return torch.cat([complex_to_channels(x), complex_to_channels(grad)], dim=1)


class RIM(nn.Module):
    """Recurrent Inference Machine (Putzky & Welling, arXiv 1706.04008, 2017), applied to MRI by
    Lønning et al., "Recurrent inference machines for reconstructing heterogeneous MRI data",
    Med. Image Anal. 2019.

    From the zero-filled SENSE image ``x_0 = A^H y``, each of ``time_steps`` steps feeds
    ``[x_t, A^H(A x_t - y)]`` to one :class:`ConvRNNStack` with GRU cells (weights shared over time,
    hidden state carried) and updates ``x_{t+1} = x_t + delta_t``.

    Paper scale (Lønning et al.): 8 time steps, 64 features in every convolution and GRU.
    The defaults are a small CPU version for 64x64 images.

    Args:
        time_steps: number of recurrent updates ``T``.
        hidden: channels of the convolutions and GRU states.
        num_layers: (conv, GRU) pairs in the cell.
    """

    def __init__(self, *, time_steps: int = 4, hidden: int = 16, num_layers: int = 2) -> None:
        super().__init__()
        check_positive(time_steps=time_steps)
        self.time_steps = time_steps
        self.cell = ConvRNNStack(
            in_chans=4, out_chans=2, hidden=hidden, num_layers=num_layers, cell="gru"
        )

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
        *,
        return_all: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Masked k-space ``(B, C, H, W)`` -> image ``(B, H, W)`` (complex).

        With ``return_all=True`` returns the ``T`` estimates ``[x_1, ..., x_T]`` for a loss over
        all steps (the RIM training loss); the last one is the reconstruction.
        """
        check_kspace_and_mask(kspace, mask, "RIM")
        op = SenseOp(resolve_maps(kspace, maps, "RIM"), mask)
        aty = op.A_adjoint(kspace)
        x, state, estimates = aty, None, []
        for _ in range(self.time_steps):
            delta, state = self.cell(grad_input(op, x, aty), state)
            x = x + channels_to_complex(delta.to(x.real.dtype))
            estimates.append(x)
        return estimates if return_all else estimates[-1]


class CIRIM(nn.Module):
    """Cascades of Independently Recurrent Inference Machines (Karkalousos et al., "Assessment of
    data consistency through cascades of independently recurrent inference machines for fast and
    robust accelerated MRI reconstruction", Phys. Med. Biol. 2022, arXiv 2111.15498).

    ``num_cascades`` RIM blocks, each with its own weights and :class:`IndRNNCell` recurrences
    (:class:`ConvRNNStack` with ``cell="indrnn"``). Each cascade starts from the previous
    cascade's final estimate with a fresh (zero) hidden state and runs ``time_steps`` updates
    ``x <- x + cell([x, A^H(A x - y)])``.

    ``dc="implicit"`` (the paper's preferred variant): data consistency only through the gradient
    term. ``dc="explicit"``: additionally every estimate passes a soft k-space DC step as in
    E2E-VarNet, ``k = F S x``, ``k <- k - lambda_c M (k - y)``, ``x <- S^H F^H k``, with one learned
    ``lambda_c`` per cascade (initialised to 1; ``num_cascades`` extra parameters). With
    ``lambda_c = 1`` and single-coil data the output then matches the sampled k-space exactly.

    Paper scale (ATOMMIC/mridc reference configuration): 8 cascades x 8 time steps, convolutions
    with 64 filters (kernels 5, 3, 3; dilations 1, 2, 1), IndRNN states of 64 channels, implicit DC.

    Args:
        num_cascades: number of RIM blocks.
        time_steps: updates per cascade.
        hidden: channels of the convolutions and IndRNN states.
        num_layers: (conv, IndRNN) pairs per cell.
        dc: ``"implicit"`` or ``"explicit"``.
    """

    def __init__(
        self,
        *,
        num_cascades: int = 2,
        time_steps: int = 4,
        hidden: int = 16,
        num_layers: int = 2,
        dc: str = "implicit",
    ) -> None:
        super().__init__()
        check_positive(num_cascades=num_cascades, time_steps=time_steps)
        check_choice("dc", dc, ("implicit", "explicit"))
        self.time_steps, self.dc = time_steps, dc
        self.cascades = nn.ModuleList(
            ConvRNNStack(
                in_chans=4, out_chans=2, hidden=hidden, num_layers=num_layers, cell="indrnn"
            )
            for _ in range(num_cascades)
        )
        self.dc_weights = nn.Parameter(torch.ones(num_cascades)) if dc == "explicit" else None

    def _explicit_dc(
        self, x: torch.Tensor, c: int, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor
    ) -> torch.Tensor:
        k = sens_expand(x, maps)
        return sens_reduce(k - soft_dc(k, kspace, mask, self.dc_weights[c]), maps)

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
        *,
        return_all: bool = False,
    ) -> torch.Tensor | list[list[torch.Tensor]]:
        """Masked k-space ``(B, C, H, W)`` -> image ``(B, H, W)``.

        With ``return_all=True`` returns ``estimates[cascade][time_step]`` (after explicit DC when
        ``dc="explicit"``) for the paper's loss over all cascades and time steps.
        """
        check_kspace_and_mask(kspace, mask, "CIRIM")
        maps = resolve_maps(kspace, maps, "CIRIM")
        op = SenseOp(maps, mask)
        aty = op.A_adjoint(kspace)
        x, estimates = aty, []
        for c, cell in enumerate(self.cascades):
            state, steps = None, []
            for _ in range(self.time_steps):
                delta, state = cell(grad_input(op, x, aty), state)
                x = x + channels_to_complex(delta.to(x.real.dtype))
                steps.append(
                    x if self.dc == "implicit" else self._explicit_dc(x, c, kspace, mask, maps)
                )
            x = steps[-1]
            estimates.append(steps)
        return estimates if return_all else x
