"""The representation-analysis family's experiment layer (topological RSA, S26).

* :mod:`.rsa`: RDMs, rsatoolbox's geo-topological and geodesic transforms, RDM comparison and
  identification;
* :mod:`.identification`: query and candidate RDM sets, thresholds chosen on held-out owners,
  per-case rows;
* :mod:`.areas`: visual areas of simulated fMRI subjects at several noise levels;
* :mod:`.layers`: network instances trained from different seeds and their layers' responses.
"""

from mricompendium.experiments.representation.areas import (
    AREA_NAMES,
    AreaStudy,
    simulate_area_study,
)
from mricompendium.experiments.representation.identification import (
    IDENTITY,
    RDMSet,
    Selection,
    case_names,
    choose,
    result_rows,
    score,
)

__all__ = [
    "AREA_NAMES",
    "IDENTITY",
    "AreaStudy",
    "RDMSet",
    "Selection",
    "case_names",
    "choose",
    "result_rows",
    "score",
    "simulate_area_study",
]
