"""Registration networks and losses (2D and 3D).

- :class:`VoxelMorph`: the VoxelMorph U-Net (displacement or stationary velocity field).
- :class:`NestedMorph`: nested-attention registration network (WACV 2025), our reading.
- :mod:`.losses`: NCC / MSE similarity, soft Dice, L2 gradient smoothness, incompressibility,
  linear elastic strain energy, uncertainty (learned log-variance) loss weighting.

Every network's ``forward(moving, fixed)`` returns a :class:`RegistrationOutput`
``(warped, disp, velocity)`` with ``warp(moving, disp) ~ fixed``.
"""

from __future__ import annotations

from mricompendium.models.registration.common import RegistrationOutput
from mricompendium.models.registration.losses import (
    MSE,
    NCC,
    Grad,
    Incompressibility,
    LinearElastic,
    SoftDice,
    UncertaintyWeighting,
)
from mricompendium.models.registration.nestedmorph import NestedMorph
from mricompendium.models.registration.voxelmorph import VoxelMorph

__all__ = [
    "MSE",
    "NCC",
    "Grad",
    "Incompressibility",
    "LinearElastic",
    "NestedMorph",
    "RegistrationOutput",
    "SoftDice",
    "UncertaintyWeighting",
    "VoxelMorph",
]
