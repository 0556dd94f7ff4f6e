"""The synthesiser end to end: seed -> parameters -> label map -> images, in 3D or on 2D slices.

``synthesise(config, seed)`` first draws every random parameter of the case from the seed
(:func:`sample_case`, torchio style), then renders them deterministically (:func:`render`):

1. brain labels of the MNI template, with an optional tumour (with mass effect) and/or stroke
   lesion drawn in template space;
2. non-brain layers (CSF rim, skull, scalp) of random thickness grown around the brain;
3. a random affine + smooth deformation of the label map (nearest neighbour);
4. one image per requested contrast from the deformed labels: ``"gmm"`` (domain randomisation)
   or a physics protocol (``"T1"``, ``"T1c"``, ``"T2"``, ``"FLAIR"``, ``"PD"``, ``"DWI"``,
   ``"ADC"``, ``"random"``), sharing the subject's tissue parameters;
5. per-image artefacts (blur, thick slices, bias, Rician noise, gamma) and normalisation to [0, 1].

With ``plane`` set (:func:`synthesise` ``(..., plane="axial")``) steps 2-5 run on one 2D slice of
the 3D label map (fast; the slice goes through the lesion when there is one, with probability
``config.p_slice_through_lesion``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from mricompendium.data.synth import contrast as ct
from mricompendium.data.synth.augment import (
    ArtefactParams,
    DeformParams,
    RandomArtefacts,
    RandomDeformation,
    corrupt,
    deform,
)
from mricompendium.data.synth.labels import (
    LESION_LABELS,
    HeadParams,
    LabelMap,
    RandomHead,
    add_head_layers,
    brain_mask,
    in_labels,
    outside_distance,
    template_labels,
)
from mricompendium.data.synth.lesions import (
    RandomStroke,
    RandomTumour,
    StrokeParams,
    TumourParams,
    insert_stroke,
    insert_tumour,
)
from mricompendium.data.synth.sequences import RandomSequence

__all__ = ["Case", "CaseParams", "SynthConfig", "render", "sample_case", "synthesise"]

PLANES = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise (every range lives in the samplers).

    Attributes:
        spacing_mm: isotropic voxel size of the template grid (>= 1 mm).
        shape: output ``(X, Y, Z)``, centre-cropped/padded from the template grid; ``None`` keeps
            it (197 x 233 x 189 mm field of view).
        contrasts: the images to make, e.g. ``("T1", "T1c", "T2", "FLAIR")`` or ``("gmm",)``.
        p_tumour: probability that a case has a tumour.
        p_stroke: probability that a case has an infarct.
        p_slice_through_lesion: for 2D cases with a lesion, probability that the slice cuts it.
        slice_range: for other 2D cases, the range of the slice position as a fraction of the
            brain's extent along the plane's axis.
        head, tumour, stroke, deformation, artefacts, gmm, tissue: the samplers.
        sequences: the timing ranges of the ``"random"`` protocol.
    """

    spacing_mm: float = 2.0
    shape: tuple[int, int, int] | None = None
    contrasts: tuple[str, ...] = ("T1", "T1c", "T2", "FLAIR")
    p_tumour: float = 0.0
    p_stroke: float = 0.0
    p_slice_through_lesion: float = 0.9
    slice_range: tuple[float, float] = (0.3, 0.75)
    head: RandomHead = field(default_factory=RandomHead)
    tumour: RandomTumour = field(default_factory=RandomTumour)
    stroke: RandomStroke = field(default_factory=RandomStroke)
    deformation: RandomDeformation = field(default_factory=RandomDeformation)
    artefacts: RandomArtefacts = field(default_factory=RandomArtefacts)
    gmm: ct.RandomGMM = field(default_factory=ct.RandomGMM)
    tissue: ct.RandomTissue = field(default_factory=ct.RandomTissue)
    sequences: RandomSequence = field(default_factory=RandomSequence)

    def __post_init__(self) -> None:
        if not self.contrasts:
            raise ValueError("contrasts must name at least one image")
        for name in self.contrasts:
            if name != "gmm" and name not in ct.PROTOCOLS:
                raise ValueError(f"unknown contrast {name!r}; expected 'gmm' or {ct.PROTOCOLS}")
        if len(set(self.contrasts)) != len(self.contrasts):
            raise ValueError(f"contrasts must be distinct, got {self.contrasts}")
        for p in ("p_tumour", "p_stroke", "p_slice_through_lesion"):
            if not 0.0 <= getattr(self, p) <= 1.0:
                raise ValueError(f"{p} must lie in [0, 1], got {getattr(self, p)}")


@dataclass(frozen=True)
class CaseParams:
    """Every random choice of one case (render it with :func:`render`)."""

    seed: int
    head: HeadParams
    tumour: TumourParams | None
    stroke: StrokeParams | None
    plane: str | None
    slice_pos: float
    deformation: DeformParams
    tissue: ct.TissueMapParams
    images: dict[str, ct.ImageSpec | ct.GMMParams]
    artefacts: dict[str, ArtefactParams]


@dataclass(frozen=True)
class Case:
    """One synthesised case.

    Attributes:
        labels: int64 ``(X, Y, Z)`` (or ``(H, W)`` for a slice) of
            :data:`~mricompendium.data.synth.labels.LABELS`.
        images: contrast name -> float32 image in [0, 1], same shape as ``labels``.
        params: the parameters it was rendered from.
        spacing_mm: voxel size.
        slice_index: index of the slice along the plane's axis (2D cases), else ``None``.
    """

    labels: torch.Tensor
    images: dict[str, torch.Tensor]
    params: CaseParams
    spacing_mm: float
    slice_index: int | None = None

    @property
    def brain_mask(self) -> torch.Tensor:
        return brain_mask(self.labels)

    def stack(self, contrasts: tuple[str, ...] | None = None) -> torch.Tensor:
        """float32 ``(C, *spatial)``: the images of ``contrasts`` (default: all, in order)."""
        names = tuple(self.images) if contrasts is None else contrasts
        return torch.stack([self.images[n] for n in names])


def _rng(seed: int, stream: int = 0) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return np.random.default_rng(np.random.SeedSequence([int(seed) % 2**63, stream]))


def sample_case(config: SynthConfig, seed: int, *, plane: str | None = None) -> CaseParams:
    """Draw every random parameter of case ``seed`` (tumours are placed in the parenchyma)."""
    if plane is not None and plane not in PLANES:
        raise ValueError(f"plane must be one of {sorted(PLANES)} or None, got {plane!r}")
    rng = _rng(seed)
    head = config.head.sample(rng)
    base = template_labels(config.spacing_mm, config.shape)
    tumour = config.tumour.sample(rng, base) if rng.random() < config.p_tumour else None
    stroke = config.stroke.sample(rng) if rng.random() < config.p_stroke else None
    nd = 2 if plane else 3
    deformation = config.deformation.sample(rng, ndim=nd, spacing_mm=config.spacing_mm)
    tissue = config.tissue.sample(rng)
    images: dict[str, ct.ImageSpec | ct.GMMParams] = {}
    artefacts: dict[str, ArtefactParams] = {}
    for name in config.contrasts:
        if name == "gmm":
            images[name] = config.gmm.sample(rng)
        else:
            images[name] = ct.sample_image_spec(name, rng, tissue.field_t, config.sequences)
        artefacts[name] = config.artefacts.sample(rng, ndim=nd)
    return CaseParams(
        seed=int(seed),
        head=head,
        tumour=tumour,
        stroke=stroke,
        plane=plane,
        slice_pos=float(rng.random()),
        deformation=deformation,
        tissue=tissue,
        images=images,
        artefacts=artefacts,
    )


@functools.cache
def _brain_extent(spacing_mm: float, shape: tuple[int, ...] | None, axis: int) -> tuple[int, int]:
    """First and last index along ``axis`` where the template has brain (lesions stay inside)."""
    brain = template_labels(spacing_mm, shape).labels > 0
    others = tuple(a for a in range(3) if a != axis)
    occupied = torch.nonzero(brain.any(dim=others)).flatten()
    return int(occupied.min()), int(occupied.max())


def _slice_index(labels: torch.Tensor, axis: int, params: CaseParams, cfg: SynthConfig) -> int:
    u, p = params.slice_pos, cfg.p_slice_through_lesion
    if params.tumour is not None or params.stroke is not None:
        others = tuple(a for a in range(3) if a != axis)
        has = in_labels(labels, LESION_LABELS).any(dim=others)
        if bool(has.any()):
            if u < p:  # through the lesion
                idx = torch.nonzero(has).flatten()
                return int(idx[min(len(idx) - 1, int(u / p * len(idx)))])
            u = (u - p) / max(1e-9, 1.0 - p)
    lo, hi = _brain_extent(cfg.spacing_mm, cfg.shape, axis)
    a, b = cfg.slice_range
    return int(round(lo + (a + (b - a) * u) * (hi - lo)))


def render(config: SynthConfig, params: CaseParams, *, device: torch.device | str = "cpu") -> Case:
    """Render ``params`` deterministically (same parameters -> same tensors on a device)."""
    base = template_labels(config.spacing_mm, config.shape)
    lm = LabelMap(base.labels.to(device), base.affine, base.spacing_mm)
    if params.tumour is not None:
        lm = insert_tumour(lm, params.tumour)
    if params.stroke is not None:
        lm = insert_stroke(lm, params.stroke)
    labels, index = lm.labels, None
    outside = outside_distance(config.spacing_mm, config.shape).to(device)
    if params.plane is not None:
        axis = PLANES[params.plane]
        index = _slice_index(labels, axis, params, config)
        labels, outside = labels.select(axis, index), outside.select(axis, index)
    labels = deform(add_head_layers(labels, outside, params.head), params.deformation)
    maps = None
    images = {}
    for name, spec in params.images.items():
        if isinstance(spec, ct.GMMParams):
            clean = ct.gmm_image(labels, spec)
        else:
            maps = maps if maps is not None else ct.tissue_maps(labels, params.tissue)
            clean = ct.physics_image(labels, maps, spec)
        images[name] = corrupt(clean, params.artefacts[name])
    return Case(labels, images, params, config.spacing_mm, index)


def synthesise(
    config: SynthConfig,
    seed: int,
    *,
    plane: str | None = None,
    device: torch.device | str = "cpu",
) -> Case:
    """Synthesise case ``seed``: a 3D volume, or one 2D slice in ``plane`` (``"axial"``...)."""
    return render(config, sample_case(config, seed, plane=plane), device=device)
