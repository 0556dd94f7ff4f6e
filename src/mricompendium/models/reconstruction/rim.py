"""Recurrent inference machines for MRI reconstruction: RIM, i-RIM and CIRIM.

All three refine an image estimate ``x`` with a learned recurrent update that sees the gradient of
the data log-likelihood, ``grad = A^H (A x - y)``, where ``A = M F S`` is the masked SENSE operator
(:class:`~mricompendium.physics.sense.SenseOp`). Data consistency enters only through this gradient
unless stated otherwise.

Shared contract of the reconstruction models in this package::

    forward(kspace, mask, maps=None) -> image
    kspace: complex (B, C, H, W), already masked;  mask: real 0/1 (B or 1, 1, 1 or H, W)
    maps:   complex (B, C, H, W) coil sensitivities; may be None only for single-coil (C = 1),
            where it means maps = 1
    image:  complex (B, H, W)

The recurrent cells here (:class:`ConvGRUCell`, :class:`IndRNNCell`, :class:`ConvRNNStack`) are also
used by :mod:`~mricompendium.models.reconstruction.recurrentvarnet`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.reconstruction.blocks import soft_dc
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import SenseOp, sens_expand, sens_reduce

__all__ = [
    "RIM",
    "IRIM",
    "CIRIM",
    "ConvGRUCell",
    "IndRNNCell",
    "ConvRNNStack",
    "InvertibleCoupling",
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


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_positive(**kwargs: int) -> None:
    for key, value in kwargs.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")


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
        _check_positive(
            in_chans=in_chans, out_chans=out_chans, hidden=hidden, num_layers=num_layers
        )
        _check_choice("cell", cell, ("gru", "indrnn"))
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


def _grad_input(op: SenseOp, x: torch.Tensor, aty: torch.Tensor) -> torch.Tensor:
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
        _check_positive(time_steps=time_steps)
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
            delta, state = self.cell(_grad_input(op, x, aty), state)
            x = x + channels_to_complex(delta.to(x.real.dtype))
            estimates.append(x)
        return estimates if return_all else estimates[-1]


class _Householder(nn.Module):
    """Orthogonal 1x1 convolution ``W = H_1 ... H_n`` built from Householder reflections."""

    def __init__(self, channels: int, n_reflections: int) -> None:
        super().__init__()
        self.vectors = nn.Parameter(torch.randn(min(n_reflections, channels), channels))

    def matrix(self) -> torch.Tensor:
        c = self.vectors.shape[1]
        eye = torch.eye(c, dtype=self.vectors.dtype, device=self.vectors.device)
        w = eye
        for v in self.vectors:
            w = w @ (eye - 2 * torch.outer(v, v) / (v @ v))
        return w


def _mix(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.einsum("oc,bchw->bohw", w, x)


class InvertibleCoupling(nn.Module):
    """Additive coupling layer in a learned orthogonal basis (the i-RIM's reversible block).

    ``z = W x``; ``z = [z_1, z_2 + f(z_1)]``; output ``W^T z``, with ``W`` an orthogonal product of
    Householder reflections and ``f`` a small dilated CNN. :meth:`inverse` undoes it exactly
    (subtraction instead of addition), so the layer is a bijection on ``(B, channels, H, W)``.

    Args:
        channels: channels of the state (at least 2).
        hidden: channels inside ``f``.
        dilation: dilation of the two 3x3 convolutions of ``f`` (its receptive field).
        n_reflections: Householder reflections in ``W``.
    """

    def __init__(
        self, *, channels: int, hidden: int, dilation: int = 1, n_reflections: int = 3
    ) -> None:
        super().__init__()
        _check_positive(hidden=hidden, dilation=dilation, n_reflections=n_reflections)
        if not isinstance(channels, int) or channels < 2:
            raise ValueError(f"channels must be an int >= 2, got {channels!r}")
        self.n_left = channels // 2
        self.rotation = _Householder(channels, n_reflections)
        self.f = nn.Sequential(
            nn.Conv2d(self.n_left, hidden, 3, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels - self.n_left, 3, padding=dilation, dilation=dilation),
        )

    def _couple(self, x: torch.Tensor, sign: float) -> torch.Tensor:
        w = self.rotation.matrix()
        z = _mix(x, w)
        z1, z2 = z[:, : self.n_left], z[:, self.n_left :]
        out = _mix(torch.cat([z1, z2 + sign * self.f(z1)], dim=1), w.T)
        return out.to(x.dtype)  # autocast may lower the precision of f and of the mixing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` -> ``(B, channels, H, W)``."""
        return self._couple(x, 1.0)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`forward`."""
        return self._couple(y, -1.0)


class IRIM(nn.Module):
    """Invertible Recurrent Inference Machine (Putzky & Welling, "Invert to Learn to Invert",
    NeurIPS 2019; fastMRI version: Putzky et al., arXiv 1910.08952).

    The RIM's recurrence is replaced by invertible layers acting on a state ``s`` of ``channels``
    real channels whose first two hold the image estimate. Each of ``time_steps`` steps (i) adds
    the likelihood gradient ``A^H(A x - y)`` of the image channels to channels 2-3 (invertible: it
    depends only on channels 0-1, which it leaves untouched) and (ii) applies one
    :class:`InvertibleCoupling` per entry of ``dilations``. The whole map ``s_0 -> s_T`` is a
    bijection (:meth:`propagate` / :meth:`reverse`); the memory-free backward pass that this
    permits is not implemented (ordinary autograd is used). The initial state is the zero-filled
    image padded with zeros; the output is the image channels of the final state.

    Paper scale (fastMRI i-RIM): 8 steps of invertible U-Nets (pixel-shuffle downsampling, 64 or
    more state channels, hundreds of layers) trained with the memory-free backward pass. Here the
    multi-scale U-Net is replaced by couplings with growing dilation.

    Args:
        time_steps: number of steps ``T``.
        channels: state channels (at least 4: image, gradient, and latent channels).
        hidden: channels inside each coupling's residual CNN.
        dilations: one coupling per entry, with that dilation.
        shared_weights: one set of couplings for all steps (the recurrent form) if True.
    """

    def __init__(
        self,
        *,
        time_steps: int = 4,
        channels: int = 8,
        hidden: int = 16,
        dilations: tuple[int, ...] = (1, 2),
        shared_weights: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(time_steps=time_steps, hidden=hidden)
        if not isinstance(channels, int) or channels < 4:
            raise ValueError(f"channels must be an int >= 4, got {channels!r}")
        if len(dilations) == 0:
            raise ValueError("dilations must name at least one coupling layer")
        self.time_steps, self.channels, self.shared_weights = time_steps, channels, shared_weights
        self.steps = nn.ModuleList(
            nn.ModuleList(
                InvertibleCoupling(channels=channels, hidden=hidden, dilation=d) for d in dilations
            )
            for _ in range(1 if shared_weights else time_steps)
        )

    def _layers(self, t: int) -> nn.ModuleList:
        return self.steps[0 if self.shared_weights else t]

    @staticmethod
    def _inject(state: torch.Tensor, op: SenseOp, aty: torch.Tensor, sign: float) -> torch.Tensor:
        grad = complex_to_channels(op.normal(channels_to_complex(state[:, :2])) - aty)
        return torch.cat([state[:, :2], state[:, 2:4] + sign * grad, state[:, 4:]], dim=1)

    def _setup(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None
    ) -> tuple[SenseOp, torch.Tensor]:
        check_kspace_and_mask(kspace, mask, "IRIM")
        op = SenseOp(resolve_maps(kspace, maps, "IRIM"), mask)
        return op, op.A_adjoint(kspace)

    def initial_state(self, aty: torch.Tensor) -> torch.Tensor:
        """Zero-filled image ``(B, H, W)`` -> state ``(B, channels, H, W)`` (zeros after it)."""
        x = complex_to_channels(aty)
        b, _, h, w = x.shape
        return torch.cat([x, x.new_zeros(b, self.channels - 2, h, w)], dim=1)

    def propagate(
        self,
        state: torch.Tensor,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Run the ``T`` invertible steps from ``state`` ``(B, channels, H, W)``; all states."""
        op, aty = self._setup(kspace, mask, maps)
        states = []
        for t in range(self.time_steps):
            state = self._inject(state, op, aty, 1.0)
            for layer in self._layers(t):
                state = layer(state)
            states.append(state)
        return states

    def reverse(
        self,
        state: torch.Tensor,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Exact inverse of :meth:`propagate`: final state -> initial state."""
        op, aty = self._setup(kspace, mask, maps)
        for t in reversed(range(self.time_steps)):
            for layer in reversed(self._layers(t)):
                state = layer.inverse(state)
            state = self._inject(state, op, aty, -1.0)
        return state

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
        *,
        return_all: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Masked k-space ``(B, C, H, W)`` -> image ``(B, H, W)``; all ``T`` if ``return_all``."""
        _, aty = self._setup(kspace, mask, maps)
        states = self.propagate(self.initial_state(aty), kspace, mask, maps)
        estimates = [channels_to_complex(s[:, :2]) for s in states]
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
        _check_positive(num_cascades=num_cascades, time_steps=time_steps)
        _check_choice("dc", dc, ("implicit", "explicit"))
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
                delta, state = cell(_grad_input(op, x, aty), state)
                x = x + channels_to_complex(delta.to(x.real.dtype))
                steps.append(
                    x if self.dc == "implicit" else self._explicit_dc(x, c, kspace, mask, maps)
                )
            x = steps[-1]
            estimates.append(steps)
        return estimates if return_all else x
