"""Pieces every registration network shares: the output, the flow head, padding, layer choice."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.physics.deform import VecInt, warp

__all__ = ["FlowHead", "RegistrationOutput", "check_pair", "conv_nd", "pad_to_multiple"]


class RegistrationOutput(NamedTuple):
    """What a registration network returns.

    Attributes:
        warped: ``(B, 1, *S)`` the moving image pulled back onto the fixed grid.
        disp: ``(B, n, *S)`` displacement in voxels with ``warp(moving, disp) ~ fixed``.
        velocity: ``(B, n, *S)`` the stationary velocity field when the network integrates one
            (``disp = exp(velocity)``), else the same tensor as ``disp``.
    """

    warped: torch.Tensor
    disp: torch.Tensor
    velocity: torch.Tensor


def conv_nd(ndim: int) -> type[nn.Module]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    return nn.Conv2d if ndim == 2 else nn.Conv3d


def check_pair(moving: torch.Tensor, fixed: torch.Tensor, ndim: int) -> None:
    """Both ``(B, 1, *S)`` with ``len(S) == ndim`` and equal shapes."""
    if moving.shape != fixed.shape or moving.ndim != ndim + 2 or moving.shape[1] != 1:
        raise ValueError(
            f"moving and fixed must both be (B, 1, *S) with {ndim} spatial dims; "
            f"got {tuple(moving.shape)} and {tuple(fixed.shape)}"
        )


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, list[int]]:
    """Zero-pad the spatial dims of ``x`` at the end to multiples of ``multiple``."""
    extra = [(-s) % multiple for s in x.shape[2:]]
    pad = []
    for e in reversed(extra):
        pad += [0, e]
    return (F.pad(x, pad) if any(extra) else x), extra


class FlowHead(nn.Module):
    """Features -> displacement (optionally via an SVF) -> warped moving image.

    The last convolution starts near zero (normal, sd 1e-5) so that an untrained network is the
    identity, as in VoxelMorph.

    Args:
        in_channels: feature channels.
        ndim: 2 or 3.
        integration_steps: 0 -> the output is the displacement; > 0 -> it is a stationary
            velocity field integrated by that many squarings (diffeomorphic).
    """

    def __init__(self, in_channels: int, ndim: int, integration_steps: int = 0) -> None:
        super().__init__()
        self.conv = conv_nd(ndim)(in_channels, ndim, 3, padding=1)
        nn.init.normal_(self.conv.weight, 0.0, 1e-5)
        nn.init.zeros_(self.conv.bias)
        self.integrate = VecInt(integration_steps) if integration_steps > 0 else None

    def forward(self, features: torch.Tensor, moving: torch.Tensor) -> RegistrationOutput:
        field = self.conv(features)
        disp = self.integrate(field) if self.integrate is not None else field
        return RegistrationOutput(warp(moving, disp), disp, field)
