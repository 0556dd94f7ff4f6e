"""Invertible Recurrent Inference Machine (i-RIM) and its invertible coupling layer."""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import check_positive
from mricompendium.models.reconstruction.recurrent import check_kspace_and_mask, resolve_maps
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import SenseOp

__all__ = ["IRIM", "InvertibleCoupling"]


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
        check_positive(hidden=hidden, dilation=dilation, n_reflections=n_reflections)
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
        check_positive(time_steps=time_steps, hidden=hidden)
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
