"""Registration data: synthetic brain pairs, a real inter-subject pair, a beating heart, loaders.

- :mod:`.anatomy`: MNI template slices/volumes with CSF, WM and grey-matter Voronoi parcels.
- :mod:`.pairs`: :class:`PairGenerator`, moving/fixed pairs under random diffeomorphisms with
  contrast changes and a known ground-truth displacement (on-the-fly batches for training).
- :mod:`.real`: :func:`real_pair`, the MNI coronal slice -> dipy's real T1 coronal slice.
- :mod:`.cardiac`: an analytic, near-incompressible beating left ventricle (short-axis cine).
- :mod:`.loaders`: Learn2Reg/OASIS NIfTI pairs and ACDC patients.
"""

from __future__ import annotations

from mricompendium.data.registration.anatomy import (
    Anatomies,
    brain_slices,
    brain_volume,
    label_names,
    voronoi_parcels,
)
from mricompendium.data.registration.cardiac import (
    BLOOD,
    MYO,
    CardiacGenerator,
    CardiacSequence,
    Heart,
    random_heart,
)
from mricompendium.data.registration.loaders import (
    VolumePair,
    load_acdc_patient,
    load_learn2reg_pairs,
    slice_pairs_2d,
)
from mricompendium.data.registration.pairs import ContrastModel, PairGenerator, random_svf
from mricompendium.data.registration.real import real_pair, tissue_classes

__all__ = [
    "BLOOD",
    "MYO",
    "Anatomies",
    "CardiacGenerator",
    "CardiacSequence",
    "ContrastModel",
    "Heart",
    "PairGenerator",
    "VolumePair",
    "brain_slices",
    "brain_volume",
    "label_names",
    "load_acdc_patient",
    "load_learn2reg_pairs",
    "random_heart",
    "random_svf",
    "real_pair",
    "slice_pairs_2d",
    "tissue_classes",
    "voronoi_parcels",
]
