"""Reconstruction data: the k-space simulator, real k-space sets, batches and test cases.

- :mod:`.batches`: :class:`ReconBatch` (what every model and baseline gets), per-case seeding,
  the training batch stream :func:`batch_fn`.
- :mod:`.simulate`: :class:`KspaceSimulator`, the one simulator (single- and multi-coil,
  Cartesian and radial, one SNR definition).
- :mod:`.real`: :class:`RealKspaceSet`, fastMRI / Calgary-Campinas raw data, undersampled
  retrospectively.
- :mod:`.cases`: :class:`CaseSet`, test slices with their units of independence and groups.
"""

from __future__ import annotations

from mricompendium.data.recon.batches import KspaceSource, ReconBatch, batch_fn, case_seed
from mricompendium.data.recon.cases import (
    TEST_OFFSETS,
    CaseSet,
    embedded_real_cases,
    slice_set_cases,
    template_cases,
    template_tissue,
    training_distance_mm,
)
from mricompendium.data.recon.real import FORMATS, RealKspaceSet, load_kspace_source
from mricompendium.data.recon.simulate import KspaceSimulator, radial_operator

__all__ = [
    "FORMATS",
    "TEST_OFFSETS",
    "CaseSet",
    "KspaceSimulator",
    "KspaceSource",
    "RealKspaceSet",
    "ReconBatch",
    "batch_fn",
    "case_seed",
    "embedded_real_cases",
    "load_kspace_source",
    "radial_operator",
    "slice_set_cases",
    "template_cases",
    "template_tissue",
    "training_distance_mm",
]
