"""Registration data: synthetic brain pairs, a real inter-subject pair, a beating heart, loaders.

- :mod:`.anatomy`: MNI template slices/volumes with CSF, WM and grey-matter Voronoi parcels.
- :mod:`.pairs`: :class:`PairGenerator`, moving/fixed pairs under random deformations (two
  families: integrated velocity fields, Gaussian-smoothed displacements) with a known
  ground-truth displacement (on-the-fly batches for training).
- :mod:`.contrast`: :class:`ContrastModel` (T1-like, mono-modal) and :class:`TissueContrast`
  (another contrast rendered from tissue maps, diffusion-b0-like by default).
- :mod:`.real`: :func:`real_pair`, the MNI coronal slice -> dipy's real T1 coronal slice.
- :mod:`.cardiac`: an analytic, near-incompressible beating left ventricle (short-axis cine).
- :mod:`.prostate`: biparametric prostate MRI: a T2-weighted slice and an ADC map misaligned by
  motion, rectal filling and echo-planar susceptibility distortion, with paired lesion labels.
- :mod:`.breathing`: a breathing abdomen with organs sliding along a static wall, high- and
  low-resolution (k-space truncated) exhale and inhale frames.
- :mod:`.render`: splatting, cell-centred resampling, k-space truncation, Rician noise.
- :mod:`.loaders`: Learn2Reg/OASIS NIfTI pairs and ACDC patients; :mod:`.picai`: PI-CAI cases.
"""

from __future__ import annotations

from mricompendium.data.registration.anatomy import (
    Anatomies,
    brain_slices,
    brain_volume,
    label_names,
    voronoi_parcels,
)
from mricompendium.data.registration.breathing import (
    ORGANS,
    Abdomen,
    BreathingSimulator,
    random_abdomen,
)
from mricompendium.data.registration.cardiac import (
    BLOOD,
    MYO,
    CardiacGenerator,
    CardiacSequence,
    Heart,
    random_heart,
)
from mricompendium.data.registration.contrast import ContrastModel, TissueContrast
from mricompendium.data.registration.loaders import (
    VolumePair,
    load_acdc_patient,
    load_learn2reg_pairs,
    slice_pairs_2d,
)
from mricompendium.data.registration.pairs import (
    DEFORMATIONS,
    PairGenerator,
    random_svf,
    smooth_displacement,
)
from mricompendium.data.registration.prostate import (
    LESION,
    Misalignment,
    ProstateSimulator,
    ProstateSubject,
    random_subject,
)
from mricompendium.data.registration.real import real_pair, tissue_classes

__all__ = [
    "BLOOD",
    "DEFORMATIONS",
    "LESION",
    "MYO",
    "ORGANS",
    "Abdomen",
    "Anatomies",
    "BreathingSimulator",
    "CardiacGenerator",
    "CardiacSequence",
    "ContrastModel",
    "Heart",
    "Misalignment",
    "PairGenerator",
    "ProstateSimulator",
    "ProstateSubject",
    "TissueContrast",
    "VolumePair",
    "brain_slices",
    "brain_volume",
    "label_names",
    "load_acdc_patient",
    "load_learn2reg_pairs",
    "random_abdomen",
    "random_heart",
    "random_subject",
    "random_svf",
    "real_pair",
    "slice_pairs_2d",
    "smooth_displacement",
    "tissue_classes",
    "voronoi_parcels",
]
