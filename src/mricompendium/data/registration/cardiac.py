"""Re-export: the analytic beating left ventricle lives in :mod:`mricompendium.data.cardiac`.

It moved there (shared by the registration family and the dynamic reconstruction simulator,
:mod:`mricompendium.data.recon.cine`); this module keeps the registration family's imports
working.
"""

from __future__ import annotations

from mricompendium.data.cardiac import (
    BLOOD,
    MYO,
    CardiacGenerator,
    CardiacSequence,
    Heart,
    contraction,
    random_heart,
)

__all__ = [
    "BLOOD",
    "MYO",
    "CardiacGenerator",
    "CardiacSequence",
    "Heart",
    "contraction",
    "random_heart",
]
