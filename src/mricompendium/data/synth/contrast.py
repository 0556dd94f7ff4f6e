"""Images from label maps, two ways: domain randomisation and MR physics.

- Domain randomisation (SynthSeg, Billot et al., MedIA 2023; SynthStrip, Hoopes et al., NeuroImage
  2022): each label gets a random mean and standard deviation, every voxel a Gaussian draw; the
  contrast between tissues is arbitrary, so a network trained on such images cannot rely on it.
- MR physics (in the spirit of qSynth, Chalcroft et al., MICCAI 2025): each label gets T1, T2,
  PD and ADC from :mod:`mricompendium.physics.signal` (jittered per subject, with a faint smooth
  texture), and a sequence with random TR/TE/TI/flip angle turns the maps into an image.
  Named protocols (``T1``, ``T1c``, ``T2``, ``FLAIR``, ``PD``, ``DWI``, ``ADC``) sample timing
  from clinical ranges; ``"random"`` samples spin-echo, inversion-recovery or gradient-echo
  timing from the ranges of a :class:`~mricompendium.data.synth.sequences.RandomSequence`, so the
  contrast is physically plausible but otherwise arbitrary (both tables live in
  :mod:`mricompendium.data.synth.sequences`). ``T1c`` shortens T1 of
  the enhancing label with a gadolinium concentration.

Samplers (``Random*``) draw parameters from a numpy generator; the image functions are
deterministic given those parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.data.synth.fields import smooth_noise
from mricompendium.data.synth.labels import LABELS, NUM_LABELS
from mricompendium.data.synth.sequences import FLAIR_TI_JITTER, PROTOCOL_TIMING, RandomSequence
from mricompendium.physics import signal as mr

__all__ = [
    "PROTOCOLS",
    "GMMParams",
    "ImageSpec",
    "RandomGMM",
    "RandomTissue",
    "TissueMapParams",
    "gmm_image",
    "physics_image",
    "sample_image_spec",
    "tissue_maps",
]

# label value -> tissue of the physics table
_TISSUE_OF_LABEL = {
    0: "background",
    1: "csf",
    2: "gm",
    3: "wm",
    4: "csf",
    5: "skull",
    6: "scalp",
    7: "necrosis",
    8: "enhancing",
    9: "oedema",
    10: "stroke_acute",
    11: "stroke_subacute",
    12: "stroke_chronic",
}
FAT_SUPPRESSION = 0.1  # residual fat signal of a fat-suppressed sequence
PROTOCOLS = ("T1", "T1c", "T2", "FLAIR", "PD", "DWI", "ADC", "random")


@dataclass(frozen=True)
class GMMParams:
    """Per-label mean and standard deviation of a domain-randomised image, and the noise seed."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    seed: int


@dataclass(frozen=True)
class RandomGMM:
    """Sampler of :class:`GMMParams`: means ~ U(mean), stds ~ U(std), per label."""

    mean: tuple[float, float] = (0.0, 1.0)
    std: tuple[float, float] = (0.0, 0.08)

    def sample(self, rng: np.random.Generator) -> GMMParams:
        return GMMParams(
            means=tuple(float(v) for v in rng.uniform(*self.mean, NUM_LABELS)),
            stds=tuple(float(v) for v in rng.uniform(*self.std, NUM_LABELS)),
            seed=int(rng.integers(2**31)),
        )


def gmm_image(labels: torch.Tensor, params: GMMParams) -> torch.Tensor:
    """A domain-randomised image: ``mean[label] + std[label] * N(0, 1)`` per voxel (float32)."""
    dev = labels.device
    means = torch.tensor(params.means, dtype=torch.float32, device=dev)
    stds = torch.tensor(params.stds, dtype=torch.float32, device=dev)
    gen = torch.Generator().manual_seed(params.seed)
    noise = torch.randn(labels.shape, generator=gen).to(dev)
    return means[labels] + stds[labels] * noise


@dataclass(frozen=True)
class TissueMapParams:
    """Subject-level tissue properties.

    Attributes:
        field_t: field strength (1.5 or 3.0 T) selecting the table.
        factors: per label, multiplicative factors of (T1, T2, PD, ADC), ``(NUM_LABELS, 4)``.
        texture: relative amplitude of a smooth within-tissue variation.
        seed: seed of the texture fields.
    """

    field_t: float
    factors: tuple[tuple[float, float, float, float], ...]
    texture: float
    seed: int


@dataclass(frozen=True)
class RandomTissue:
    """Sampler of :class:`TissueMapParams` (log-normal per-subject jitter of each parameter)."""

    fields_t: tuple[float, ...] = (1.5, 3.0)
    jitter: float = 0.04
    texture: tuple[float, float] = (0.0, 0.06)

    def sample(self, rng: np.random.Generator) -> TissueMapParams:
        factors = np.exp(rng.normal(0.0, self.jitter, (NUM_LABELS, 4)))
        return TissueMapParams(
            field_t=float(self.fields_t[rng.integers(len(self.fields_t))]),
            factors=tuple(tuple(float(v) for v in row) for row in factors),
            texture=float(rng.uniform(*self.texture)),
            seed=int(rng.integers(2**31)),
        )


def tissue_maps(labels: torch.Tensor, params: TissueMapParams) -> dict[str, torch.Tensor]:
    """T1, T2, T2* (ms), PD and ADC (mm^2/s) maps, float32, same shape as ``labels``."""
    table = mr.tissue_table(params.field_t)
    rows = [table[_TISSUE_OF_LABEL[i]] for i in range(NUM_LABELS)]
    base = torch.tensor(
        [[r.t1_ms, r.t2_ms, r.pd, r.adc, r.t2s_ms] for r in rows], dtype=torch.float32
    )
    f = torch.tensor(params.factors, dtype=torch.float32)
    base[:, :4] *= f
    base[:, 4] *= f[:, 1]  # T2* follows T2
    lut = base.to(labels.device)[labels]  # (*spatial, 5)
    if params.texture > 0:
        tex = smooth_noise(labels.shape, control=12, seed=params.seed, channels=2)
        tex = (1.0 + params.texture * tex).clamp_min(0.5).to(labels.device)
        lut[..., 0] *= tex[0]
        lut[..., 2] *= tex[1]
    names = ("t1", "t2", "pd", "adc", "t2s")
    return {n: lut[..., i] for i, n in enumerate(names)}


@dataclass(frozen=True)
class ImageSpec:
    """How one physics image is made: its sequence and the gadolinium in the enhancing label.

    Attributes:
        name: the protocol it was drawn for (``"T1"``, ``"random"``...).
        sequence: the acquisition.
        gd_mm: gadolinium concentration (mM) in enhancing tumour (0 without contrast agent).
        adc_map: the image is the ADC map itself (``"ADC"``), not a signal.
    """

    name: str
    sequence: mr.Sequence
    gd_mm: float = 0.0
    adc_map: bool = False


def _u(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(*r))


def _t1_sequence(rng: np.random.Generator) -> mr.Sequence:
    t = PROTOCOL_TIMING["T1"]
    if rng.random() < 0.5:
        return mr.Sequence("se", tr=_u(rng, t["se"]["tr"]), te=_u(rng, t["se"]["te"]))
    g = t["gre"]
    return mr.Sequence("gre", tr=_u(rng, g["tr"]), te=_u(rng, g["te"]), flip_deg=_u(rng, g["flip"]))


def sample_image_spec(
    name: str,
    rng: np.random.Generator,
    field_t: float,
    random_sequence: RandomSequence | None = None,
) -> ImageSpec:
    """Draw the sequence of protocol ``name`` (one of :data:`PROTOCOLS`).

    Named protocols draw from :data:`~mricompendium.data.synth.sequences.PROTOCOL_TIMING`;
    ``"random"`` from ``random_sequence`` (default: :class:`RandomSequence` ()).
    """
    if name in ("T1", "T1c"):
        gd = _u(rng, (0.15, 0.5)) if name == "T1c" else 0.0
        return ImageSpec(name, _t1_sequence(rng), gd_mm=gd)
    if name in ("T2", "PD"):
        t = PROTOCOL_TIMING[name]["se"]
        return ImageSpec(name, mr.Sequence("se", tr=_u(rng, t["tr"]), te=_u(rng, t["te"])))
    if name == "FLAIR":
        t = PROTOCOL_TIMING["FLAIR"]["ir"]
        tr = _u(rng, t["tr"])
        ti = mr.flair_null_ti(mr.tissue_table(field_t)["csf"].t1_ms, tr) * _u(rng, FLAIR_TI_JITTER)
        return ImageSpec(name, mr.Sequence("ir", tr=tr, te=_u(rng, t["te"]), ti=ti))
    if name in ("DWI", "ADC"):
        t = PROTOCOL_TIMING["DWI"]["dwi"]
        seq = mr.Sequence("dwi", tr=_u(rng, t["tr"]), te=_u(rng, t["te"]), b=_u(rng, t["b"]))
        return ImageSpec(name, seq, adc_map=name == "ADC")
    if name == "random":
        return ImageSpec(name, (random_sequence or RandomSequence()).sample(rng))
    raise ValueError(f"unknown protocol {name!r}; expected one of {PROTOCOLS} or 'gmm'")


def physics_image(
    labels: torch.Tensor, tissue: TissueMapParams | dict[str, torch.Tensor], spec: ImageSpec
) -> torch.Tensor:
    """The noise-free magnitude image (float32, PD units; ADC in 1e-3 mm^2/s) of ``spec``.

    Args:
        labels: int64 label map (2D or 3D).
        tissue: the subject's tissue parameters, or the maps :func:`tissue_maps` made from them
            (pass the maps to share them between the contrasts of one subject).
        spec: the protocol.
    """
    maps = tissue if isinstance(tissue, dict) else tissue_maps(labels, tissue)
    if spec.adc_map:
        return maps["adc"] * 1e3 * (labels != LABELS["background"])
    t1 = maps["t1"]
    if spec.gd_mm > 0:
        enhancing = (labels == LABELS["enhancing"]).float()
        t1 = mr.t1_with_contrast_agent(t1, spec.gd_mm * enhancing)
    pd = maps["pd"]
    if spec.sequence.kind == "dwi":  # diffusion EPI is fat-suppressed: the scalp goes dark
        pd = pd * torch.where(labels == LABELS["scalp"], FAT_SUPPRESSION, 1.0)
    return mr.signal(spec.sequence, pd=pd, t1=t1, t2=maps["t2"], t2s=maps["t2s"], adc=maps["adc"])
