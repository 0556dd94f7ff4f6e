"""The fMRI-decoding family's experiment layer (MindEye2 S56, BrainCLIP S81).

* :mod:`.study`: which subjects see which images, simulated into betas (:class:`Study`);
* :mod:`.common`: the ridge baseline and the per-case rows of the claims format;
* :mod:`.mindeye2`: registry, shared-subject pretraining, fine-tuning, evaluation;
* :mod:`.brainclip`: registry, visual-only vs visual+text training, zero-shot evaluation.
"""

from mricompendium.experiments.fmri.common import Ridge, fit_ridge, rows_from_metrics
from mricompendium.experiments.fmri.study import (
    Study,
    SubjectSet,
    brainclip_study,
    mindeye2_study,
    nsd_mindeye2_study,
)

__all__ = [
    "Ridge",
    "Study",
    "SubjectSet",
    "brainclip_study",
    "fit_ridge",
    "mindeye2_study",
    "nsd_mindeye2_study",
    "rows_from_metrics",
]
