"""Sequence timing: the clinical ranges of the named protocols and the random-sequence sampler.

A protocol's timing is a box of uniform ranges per sequence kind (``"se"``, ``"ir"``, ``"gre"``,
``"dwi"``): repetition time ``tr``, echo time ``te``, inversion time ``ti`` (ms), flip angle
``flip`` (degrees), diffusion weighting ``b`` (s/mm^2). :func:`protocol_timing` gives the boxes
a named protocol draws from (:func:`mricompendium.data.synth.contrast.sample_image_spec` draws
from the same table), :class:`RandomSequence` the boxes of the ``"random"`` protocol, and
:func:`overlaps` says whether two sets of boxes share any sequence, so that a notebook can assert
that a test protocol lies outside what a network was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mricompendium.physics import signal as mr

__all__ = [
    "PROTOCOL_TIMING",
    "RandomSequence",
    "Timing",
    "contains",
    "overlaps",
    "protocol_timing",
]

Range = tuple[float, float]
Timing = dict[str, dict[str, Range]]  # kind -> parameter -> (lo, hi)

# Named protocols -> their boxes (FLAIR's TI is the CSF null, see protocol_timing).
PROTOCOL_TIMING: dict[str, Timing] = {
    "T1": {"se": {"tr": (400.0, 600.0), "te": (8.0, 15.0)},
           "gre": {"tr": (15.0, 30.0), "te": (3.0, 6.0), "flip": (20.0, 40.0)}},
    "T2": {"se": {"tr": (3000.0, 6000.0), "te": (80.0, 120.0)}},
    "PD": {"se": {"tr": (2500.0, 5000.0), "te": (8.0, 20.0)}},
    "FLAIR": {"ir": {"tr": (8000.0, 11000.0), "te": (90.0, 140.0)}},
    "DWI": {"dwi": {"tr": (4000.0, 8000.0), "te": (60.0, 100.0), "b": (800.0, 1200.0)}},
}  # fmt: skip
PROTOCOL_TIMING["T1c"] = PROTOCOL_TIMING["T1"]
PROTOCOL_TIMING["ADC"] = PROTOCOL_TIMING["DWI"]
FLAIR_TI_JITTER = (0.97, 1.03)  # FLAIR's TI: the CSF null times this factor


def protocol_timing(name: str, field_t: float) -> Timing:
    """The boxes protocol ``name`` samples its sequence from at ``field_t`` tesla."""
    if name not in PROTOCOL_TIMING:
        raise ValueError(f"no timing table for protocol {name!r}; known: {sorted(PROTOCOL_TIMING)}")
    timing = {k: dict(v) for k, v in PROTOCOL_TIMING[name].items()}
    if name == "FLAIR":
        csf = mr.tissue_table(field_t)["csf"].t1_ms
        lo, hi = timing["ir"]["tr"]
        timing["ir"]["ti"] = (mr.flair_null_ti(csf, lo) * FLAIR_TI_JITTER[0],
                              mr.flair_null_ti(csf, hi) * FLAIR_TI_JITTER[1])  # fmt: skip
    return timing


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(*r))


@dataclass(frozen=True)
class RandomSequence:
    """Sampler of the ``"random"`` protocol: a kind, then uniform timing within its ranges.

    The defaults span any spin-echo, inversion-recovery or spoiled gradient-echo weighting;
    narrower ranges keep whole families of contrast (long-TE T2 weighting, fluid-nulling
    inversion) out of a training set. The inversion time is also capped at ``ti_max_tr * TR``.

    Attributes:
        kinds: sequence kinds drawn with equal probability (of ``"se"``, ``"ir"``, ``"gre"``).
        se_tr, se_te: spin-echo TR and TE (ms).
        ir_tr, ir_te, ir_ti: inversion-recovery TR, TE and TI (ms).
        gre_tr, gre_te, gre_flip: gradient-echo TR, TE (ms) and flip angle (degrees).
        ti_max_tr: the largest TI as a fraction of TR.
    """

    kinds: tuple[str, ...] = ("se", "ir", "gre")
    se_tr: Range = (300.0, 8000.0)
    se_te: Range = (5.0, 150.0)
    ir_tr: Range = (2000.0, 12000.0)
    ir_te: Range = (5.0, 150.0)
    ir_ti: Range = (50.0, math.inf)
    gre_tr: Range = (5.0, 1000.0)
    gre_te: Range = (2.0, 30.0)
    gre_flip: Range = (3.0, 90.0)
    ti_max_tr: float = 0.5

    def __post_init__(self) -> None:
        bad = set(self.kinds) - {"se", "ir", "gre"}
        if not self.kinds or bad:
            raise ValueError(f"kinds must be some of se, ir, gre, got {self.kinds}")
        for name in ("se_tr", "se_te", "ir_tr", "ir_te", "ir_ti", "gre_tr", "gre_te", "gre_flip"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < lo <= hi, got {(lo, hi)}")
        if self.ir_ti[0] >= self.ti_max_tr * self.ir_tr[0]:
            raise ValueError("ir_ti must start below ti_max_tr * the shortest inversion TR")

    def timing(self) -> Timing:
        """The boxes this sampler draws from (TI's upper end capped by ``ti_max_tr`` TR)."""
        boxes: Timing = {
            "se": {"tr": self.se_tr, "te": self.se_te},
            "ir": {"tr": self.ir_tr, "te": self.ir_te,
                   "ti": (self.ir_ti[0], min(self.ir_ti[1], self.ti_max_tr * self.ir_tr[1]))},
            "gre": {"tr": self.gre_tr, "te": self.gre_te, "flip": self.gre_flip},
        }  # fmt: skip
        return {k: boxes[k] for k in self.kinds}

    def sample(self, rng: np.random.Generator) -> mr.Sequence:
        """Draw one sequence."""
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        if kind == "se":
            return mr.Sequence("se", tr=_u(rng, self.se_tr), te=_u(rng, self.se_te))
        if kind == "gre":
            return mr.Sequence("gre", tr=_u(rng, self.gre_tr), te=_u(rng, self.gre_te),
                               flip_deg=_u(rng, self.gre_flip))  # fmt: skip
        tr = _u(rng, self.ir_tr)
        ti = (self.ir_ti[0], min(self.ir_ti[1], self.ti_max_tr * tr))
        return mr.Sequence("ir", tr=tr, te=_u(rng, self.ir_te), ti=_u(rng, ti))


_FIELDS = {"tr": "tr", "te": "te", "ti": "ti", "flip": "flip_deg", "b": "b"}


def contains(timing: Timing, seq: mr.Sequence) -> bool:
    """Whether sequence ``seq`` lies inside one of the boxes of ``timing``."""
    box = timing.get(seq.kind)
    if box is None:
        return False
    return all(lo <= getattr(seq, _FIELDS[p]) <= hi for p, (lo, hi) in box.items())


def overlaps(a: Timing, b: Timing) -> bool:
    """Whether two sets of boxes share a sequence: a common kind whose ranges all intersect
    (a parameter only one side constrains does not separate them)."""
    for kind in set(a) & set(b):
        common = set(a[kind]) & set(b[kind])
        if all(a[kind][p][0] <= b[kind][p][1] and b[kind][p][0] <= a[kind][p][1] for p in common):
            return True
    return False
