"""A visual-fMRI simulator grounded in real fMRI noise, and NSD-style loaders.

No visual-stimulus fMRI ships offline (the Natural Scenes Dataset needs an access form and 100+
GB), so the fMRI-decoding family runs on a simulation:

* :mod:`.stimuli` / :mod:`.render`: procedural scenes with categories and captions;
* :mod:`.embedding`: a joint image-text embedding trained contrastively on them (CLIP's stand-in),
  the decoders' target, trained apart and never read by the simulator;
* :mod:`.bank`: every image a study shows with its embeddings (the decoders' targets);
* :mod:`.objects`: shape space, object layout and pRF coverage (the object pathway's inputs);
* :mod:`.voxels`: visual areas with pRFs, low-level (image) and object (attribute) tuning;
* :mod:`.noise`: noise amplitude and autocorrelation fitted on the real fMRI that ships offline;
* :mod:`.glm`: HRFs, NSD-like designs and single-trial GLM betas;
* :mod:`.simulate`: what the subject sees (:class:`Stimuli`) -> z-scored single-trial betas;
* :mod:`.encoding`: a pRF encoding model fitted on betas (a check of the simulation);
* :mod:`.nsd`: loaders for real NSD-style betas, masks, design files and images.
"""

from mricompendium.data.fmri.bank import StimulusBank
from mricompendium.data.fmri.embedding import EmbeddingConfig, JointEmbedding, load_embedding
from mricompendium.data.fmri.noise import NoiseModel, fit_noise_model
from mricompendium.data.fmri.simulate import (
    SimConfig,
    Stimuli,
    average_repeats,
    make_subjects,
    simulate_trials,
)
from mricompendium.data.fmri.stimuli import (
    CAPTION_TEMPLATES,
    CATEGORIES,
    PROMPT_TEMPLATES,
    Scenes,
    category_prompt,
    sample_scenes,
)
from mricompendium.data.fmri.voxels import SubjectModel

__all__ = [
    "CAPTION_TEMPLATES",
    "CATEGORIES",
    "EmbeddingConfig",
    "JointEmbedding",
    "NoiseModel",
    "PROMPT_TEMPLATES",
    "Scenes",
    "SimConfig",
    "Stimuli",
    "StimulusBank",
    "SubjectModel",
    "average_repeats",
    "category_prompt",
    "fit_noise_model",
    "load_embedding",
    "make_subjects",
    "sample_scenes",
    "simulate_trials",
]
