"""Recurrent units shared by the RIM family and RecurrentVarNet, and their input checks.

* :class:`ConvGRUCell` and :class:`IndRNNCell`: convolutional recurrent cells.
* :class:`ConvRNNStack`: the RIM cell (convolutions interleaved with recurrent cells).
* :func:`check_kspace_and_mask`, :func:`resolve_maps`: validation of the shared model inputs.

Shared contract of the reconstruction models in this package::

    forward(kspace, mask, maps=None) -> image
    kspace: complex (B, C, H, W), already masked;  mask: real 0/1 (B or 1, 1, 1 or H, W)
    maps:   complex (B, C, H, W) coil sensitivities; may be None only for single-coil (C = 1),
            where it means maps = 1
    image:  complex (B, H, W)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.reconstruction.blocks import check_positive

__all__ = [
    "ConvGRUCell",
    "ConvRNNStack",
    "IndRNNCell",
    "check_choice",
    "check_kspace_and_mask",
    "resolve_maps",
]


def check_kspace_and_mask(kspace: torch.Tensor, mask: torch.Tensor, name: str) -> None:
    """Validate k-space ``(B, C, H, W)`` complex and a real mask ``(B|1, 1, 1|H, W)``."""
    if not isinstance(kspace, torch.Tensor) or not torch.is_complex(kspace):
        raise TypeError(f"{name}: kspace must be a complex tensor, got {type(kspace).__name__}")
    if kspace.dim() != 4:
        raise ValueError(f"{name}: kspace must be (B, C, H, W), got shape {tuple(kspace.shape)}")
    if not isinstance(mask, torch.Tensor) or torch.is_complex(mask):
        raise TypeError(f"{name}: mask must be a real tensor")
    b, _, h, w = kspace.shape
    mb, mc, mh, mw = mask.shape if mask.dim() == 4 else (0, 0, 0, 0)
    if mask.dim() != 4 or mb not in (1, b) or mc != 1 or mh not in (1, h) or mw != w:
        raise ValueError(
            f"{name}: mask must be ({b} or 1, 1, 1 or {h}, {w}), got shape {tuple(mask.shape)}"
        )


def resolve_maps(kspace: torch.Tensor, maps: torch.Tensor | None, name: str) -> torch.Tensor:
    """Return ``maps`` after checking it matches ``kspace``; ``None`` means ones for C = 1."""
    if maps is None:
        if kspace.shape[1] != 1:
            raise ValueError(f"{name} needs coil maps for multi-coil k-space (C={kspace.shape[1]})")
        return torch.ones_like(kspace)
    if not torch.is_complex(maps):
        raise TypeError(f"{name}: coil maps must be complex, got {maps.dtype}")
    if maps.shape != kspace.shape:
        raise ValueError(
            f"{name}: maps shape {tuple(maps.shape)} != kspace shape {tuple(kspace.shape)}"
        )
    return maps


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell with 1x1 gate convolutions (Cho et al., 2014; as in the RIM).

    Input ``(B, in_chans, H, W)``, state ``(B, hidden, H, W)`` -> new state ``(B, hidden, H, W)``.
    """

    def __init__(self, in_chans: int, hidden: int) -> None:
        super().__init__()
        self.gates = nn.Conv2d(in_chans + hidden, 2 * hidden, kernel_size=1)
        self.candidate = nn.Conv2d(in_chans + hidden, hidden, kernel_size=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        reset, update = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * h], dim=1)))
        return (1 - update) * h + update * candidate


class IndRNNCell(nn.Module):
    """Independently recurrent cell (Li et al., CVPR 2018): ``h' = relu(W * x + u . h + b)``.

    The recurrence is element-wise (one weight ``u`` per channel), the input map a 1x1 convolution.
    """

    def __init__(self, in_chans: int, hidden: int) -> None:
        super().__init__()
        self.input = nn.Conv2d(in_chans, hidden, kernel_size=1)
        self.recurrent = nn.Parameter(torch.empty(1, hidden, 1, 1).uniform_(0.0, 1.0))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.relu(self.input(x) + self.recurrent * h)


class ConvRNNStack(nn.Module):
    """The RIM cell: ``num_layers`` x (conv + ReLU -> recurrent cell), then an output conv.

    With ``num_layers=2`` this is conv 5x5 -> RNN -> conv 3x3 (dilation 2) -> RNN -> conv 3x3 of
    Lønning et al. (2019); further layers use 3x3 convolutions. Convolutions pad by replication.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        hidden: channels of the convolutions and recurrent states.
        num_layers: number of (conv, recurrent cell) pairs.
        cell: ``"gru"`` (:class:`ConvGRUCell`) or ``"indrnn"`` (:class:`IndRNNCell`).
    """

    def __init__(
        self, *, in_chans: int, out_chans: int, hidden: int, num_layers: int = 2, cell: str = "gru"
    ) -> None:
        super().__init__()
        check_positive(in_chans=in_chans, out_chans=out_chans, hidden=hidden, num_layers=num_layers)
        check_choice("cell", cell, ("gru", "indrnn"))
        cell_cls = ConvGRUCell if cell == "gru" else IndRNNCell
        self.hidden, self.num_layers = hidden, num_layers
        self.convs, self.cells = nn.ModuleList(), nn.ModuleList()
        for i in range(num_layers):
            k, d = (5, 1) if i == 0 else (3, 2 if i == 1 else 1)
            self.convs.append(
                nn.Conv2d(
                    in_chans if i == 0 else hidden,
                    hidden,
                    kernel_size=k,
                    dilation=d,
                    padding=d * (k - 1) // 2,
                    padding_mode="replicate",
                )
            )
            self.cells.append(cell_cls(hidden, hidden))
        self.head = nn.Conv2d(hidden, out_chans, kernel_size=3, padding=1, padding_mode="replicate")

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Real ``(B, in_chans, H, W)`` and per-layer states ``(B, hidden, H, W)`` (zeros if None)
        -> output ``(B, out_chans, H, W)`` and the new states."""
        if state is None:
            b, _, h, w = x.shape
            state = [x.new_zeros(b, self.hidden, h, w) for _ in range(self.num_layers)]
        new_state = []
        for conv, cell, h_prev in zip(self.convs, self.cells, state, strict=True):
            x = cell(F.relu(conv(x)), h_prev)
            new_state.append(x)
        return self.head(x), new_state
