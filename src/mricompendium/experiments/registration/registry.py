"""The registration family's model registry: a small CPU configuration and the paper's, cited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from mricompendium.models.registration import NestedMorph, VoxelMorph

__all__ = ["REGISTRY", "ModelSpec", "build_model", "count_parameters"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes:
        cls: the network class (keyword-only constructor).
        small: keyword arguments of the CPU configuration used at notebook scale (2D).
        paper: keyword arguments of the paper's configuration (3D, a GPU profile).
        citation: the paper.
    """

    cls: type[nn.Module]
    small: dict[str, Any]
    paper: dict[str, Any]
    citation: str


REGISTRY: dict[str, ModelSpec] = {
    "VoxelMorph": ModelSpec(
        cls=VoxelMorph,
        small={
            "ndim": 2,
            "enc_channels": (8, 16, 16, 16),
            "dec_channels": (16, 16, 16, 16),
            "final_channels": (16, 8),
        },
        paper={
            "ndim": 3,
            "enc_channels": (16, 32, 32, 32),
            "dec_channels": (32, 32, 32, 32),
            "final_channels": (32, 16, 16),
        },
        citation=(
            "Balakrishnan et al., VoxelMorph: a learning framework for deformable medical image "
            "registration, IEEE TMI 38(8), 2019"
        ),
    ),
    "NestedMorph": ModelSpec(
        cls=NestedMorph,
        small={"ndim": 2, "dims": (16, 32, 48, 64), "layers": (1, 1, 1, 1), "head_channels": 8},
        paper={"ndim": 3, "dims": (48, 96, 192, 384), "layers": (1, 1, 1, 1), "head_channels": 16},
        citation=(
            "Marthi Krishna Kumar, Mendola, Shmuel, NestedMorph: enhancing deformable medical "
            "image registration with nested attention mechanisms, WACV 2025"
        ),
    ),
}


def build_model(name: str, scale: str = "small", **overrides: Any) -> nn.Module:
    """Build a registered network at ``scale`` (``"small"`` or ``"paper"``) with overrides."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(REGISTRY)}")
    if scale not in ("small", "paper"):
        raise ValueError(f"scale must be 'small' or 'paper', got {scale!r}")
    spec = REGISTRY[name]
    return spec.cls(**{**getattr(spec, scale), **overrides})


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
