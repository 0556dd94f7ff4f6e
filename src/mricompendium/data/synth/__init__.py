"""A label-map MR image synthesiser with lesions (tumours with sub-regions, strokes).

No tumour or stroke labels ship offline and one template is not a training set, so the
segmentation family synthesises its data, as SynthSeg/SynthStrip and qSynth do: label maps of a
whole head from the MNI template (:mod:`.labels`), lesions drawn into them (:mod:`.lesions`),
images made from the labels by domain randomisation or MR physics (:mod:`.contrast`), and a
random deformation and acquisition artefacts (:mod:`.augment`). :func:`synthesise` runs the
whole chain for one seed (3D, or one 2D slice). Everything is deterministic for a seed: a
``Random*`` sampler draws the parameters, then a deterministic function renders them.

Example:
    >>> from mricompendium.data import synth
    >>> cfg = synth.SynthConfig(spacing_mm=3.0, contrasts=("T1", "T1c", "T2", "FLAIR"),
    ...                         p_tumour=1.0)
    >>> case = synth.synthesise(cfg, seed=0)
    >>> case.stack().shape, synth.tumour_regions(case.labels).shape  # doctest: +SKIP
    (torch.Size([4, 66, 78, 63]), torch.Size([3, 66, 78, 63]))
"""

from __future__ import annotations

from mricompendium.data.synth.augment import (
    ArtefactParams,
    DeformParams,
    RandomArtefacts,
    RandomDeformation,
    corrupt,
    deform,
    normalise,
)
from mricompendium.data.synth.contrast import (
    PROTOCOLS,
    GMMParams,
    ImageSpec,
    RandomGMM,
    RandomTissue,
    TissueMapParams,
    gmm_image,
    physics_image,
    sample_image_spec,
    tissue_maps,
)
from mricompendium.data.synth.labels import (
    BRAIN_LABELS,
    LABELS,
    LESION_LABELS,
    NUM_LABELS,
    STROKE_LABELS,
    HeadParams,
    LabelMap,
    RandomHead,
    add_head_layers,
    brain_mask,
    head_labels,
    in_labels,
    outside_distance,
    template_labels,
    tissue_classes,
    tumour_regions,
)
from mricompendium.data.synth.lesions import (
    TERRITORIES,
    RandomStroke,
    RandomTumour,
    StrokeParams,
    TumourParams,
    insert_stroke,
    insert_tumour,
    stroke_region,
)
from mricompendium.data.synth.pipeline import (
    PLANES,
    Case,
    CaseParams,
    SynthConfig,
    render,
    sample_case,
    synthesise,
)
from mricompendium.data.synth.sequences import (
    PROTOCOL_TIMING,
    RandomSequence,
    Timing,
    contains,
    overlaps,
    protocol_timing,
)

__all__ = [
    "BRAIN_LABELS",
    "LABELS",
    "LESION_LABELS",
    "NUM_LABELS",
    "STROKE_LABELS",
    "PLANES",
    "PROTOCOLS",
    "PROTOCOL_TIMING",
    "TERRITORIES",
    "ArtefactParams",
    "Case",
    "CaseParams",
    "DeformParams",
    "GMMParams",
    "HeadParams",
    "ImageSpec",
    "LabelMap",
    "RandomArtefacts",
    "RandomDeformation",
    "RandomGMM",
    "RandomHead",
    "RandomSequence",
    "RandomStroke",
    "RandomTissue",
    "RandomTumour",
    "StrokeParams",
    "SynthConfig",
    "Timing",
    "TissueMapParams",
    "TumourParams",
    "add_head_layers",
    "brain_mask",
    "contains",
    "corrupt",
    "deform",
    "gmm_image",
    "head_labels",
    "in_labels",
    "insert_stroke",
    "insert_tumour",
    "normalise",
    "outside_distance",
    "overlaps",
    "physics_image",
    "protocol_timing",
    "render",
    "sample_case",
    "sample_image_spec",
    "stroke_region",
    "synthesise",
    "template_labels",
    "tissue_classes",
    "tissue_maps",
    "tumour_regions",
]
