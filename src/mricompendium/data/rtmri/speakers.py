"""Simulated speakers: anatomical variants of VocalTractLab's JD3 speaker.

A speaker is the JD3 anatomy (an adult male German speaker, the 13 values of ``REFERENCE_ANATOMY``)
rescaled by five factors drawn from a seeded generator, plus a voice pitch:

=========================  =============================================  ================
factor                     parameters it scales                           range (uniform)
=========================  =============================================  ================
``pharynx_scale``          pharynx length, larynx length (vertical        0.85 - 1.05
                           vocal-tract length)
``palate_length_scale``    hard and soft palate length (horizontal        0.90 - 1.05
                           oral-cavity length)
``palate_height_scale``    palate height (a high or a flat vault)         0.80 - 1.20
``palate_depth_scale``     palate depth (width between the molars)        0.90 - 1.10
``angle_offset_deg``       oral-pharyngeal angle                          -4 - +4 degrees
=========================  =============================================  ================

Adult vocal tracts measure about 14 to 17.5 cm in women and 16 to 19 cm in men (Fitch & Giedd 1999,
J Acoust Soc Am 106:1511); women's pharynges are about 20 % shorter than men's relative to the oral
cavity, hence the wider range on the pharynx. F0 follows the pharynx scale (shorter tracts speak
higher, from about 86 Hz to 165 Hz) with a +-5 % individual jitter. VocalTractLab clips every
parameter to its own range. Training speakers and unseen test speakers come from the same
distribution with disjoint seeds, so "unseen" means new individuals, not a new population.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "REFERENCE_ANATOMY",
    "SCALE_RANGES",
    "Speaker",
    "adapt_articulation",
    "reference_speaker",
    "sample_speakers",
]

#: JD3's anatomy as VocalTractLab reports it (``vtl.ANATOMY_NAMES`` order; cm, last in degrees).
REFERENCE_ANATOMY: tuple[float, ...] = (
    1.3,
    1.5,
    0.5,
    0.5,
    1.6,
    3.6,
    4.7,
    2.372,
    6.35,
    3.2,
    3.3,
    1.2,
    -98.0,
)
#: Uniform ranges of the speaker factors (see the module docstring).
SCALE_RANGES: dict[str, tuple[float, float]] = {
    "pharynx_scale": (0.85, 1.05),
    "palate_length_scale": (0.90, 1.05),
    "palate_height_scale": (0.80, 1.20),
    "palate_depth_scale": (0.90, 1.10),
    "angle_offset_deg": (-4.0, 4.0),
}
_REFERENCE_F0 = 100.0  # Hz at pharynx_scale 1


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One simulated speaker.

    Attributes:
        id: e.g. ``"train03"`` or ``"test01"``.
        split: ``"train"`` (seen in training) or ``"test"`` (unseen speaker).
        factors: the five anatomy factors (``SCALE_RANGES`` keys).
        f0_hz: mean voice pitch.
    """

    id: str
    split: str
    factors: dict[str, float]
    f0_hz: float

    @property
    def anatomy(self) -> np.ndarray:
        """The 13 VocalTractLab anatomy parameters of this speaker (before VTL's clipping)."""
        a = np.array(REFERENCE_ANATOMY, dtype=np.float64)
        f = self.factors
        a[8] *= f["pharynx_scale"]  # pharynx length
        a[9] *= f["pharynx_scale"]  # larynx length
        a[6] *= f["palate_length_scale"]  # hard palate length
        a[7] *= f["palate_length_scale"]  # soft palate length
        a[4] *= f["palate_height_scale"]
        a[5] *= f["palate_depth_scale"]
        a[12] = float(np.clip(a[12] + f["angle_offset_deg"], -105.0, -90.0))
        return a

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": self.split,
            "factors": dict(self.factors),
            "f0_hz": self.f0_hz,
            "anatomy": self.anatomy.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Speaker:
        return cls(str(d["id"]), str(d["split"]), dict(d["factors"]), float(d["f0_hz"]))


def reference_speaker() -> Speaker:
    """JD3 itself: every factor neutral, F0 100 Hz."""
    neutral = {k: (0.0 if k.endswith("deg") else 1.0) for k in SCALE_RANGES}
    return Speaker("reference", "train", neutral, _REFERENCE_F0)


def sample_speakers(n: int, split: str, seed: int) -> list[Speaker]:
    """``n`` speakers of one split, reproducible from ``seed`` (train and test use other streams).

    Args:
        n: number of speakers.
        split: ``"train"`` or ``"test"``.
        seed: the corpus seed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    stream = 0 if split == "train" else 1
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7001, stream]))
    out = []
    for i in range(n):
        factors = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in SCALE_RANGES.items()}
        jitter = float(rng.uniform(0.95, 1.05))
        f0 = _REFERENCE_F0 * factors["pharynx_scale"] ** -3.0 * jitter
        out.append(Speaker(f"{split}{i:02d}", split, factors, round(f0, 2)))
    return out


# Indices of VocalTractLab's 19 tract parameters (HX HY JX JA LP LD VS VO TCX TCY TTX TTY TBX TBY
# TRX TRY TS1 TS2 TS3) and of the anatomy parameters used by the adaptation below.
_XY_PAIRS = ((8, 9), (10, 11), (12, 13), (14, 15))  # tongue centre, tip, blade, root (x, y)
_A_MANDIBLE, _A_LOWER_MOLARS, _A_UPPER_MOLARS, _A_PALATE_H, _A_DEPTH = 1, 2, 3, 4, 5
_A_HARD, _A_SOFT, _A_PHARYNX = 6, 7, 8


def adapt_articulation(
    tract: np.ndarray, old_anatomy: np.ndarray, new_anatomy: np.ndarray
) -> np.ndarray:
    """Carry tract parameters from one anatomy to another (VocalTractLab's scaling rules).

    Horizontal positions scale with the soft-palate length behind the origin and the hard-palate
    length in front of it; vertical positions scale about the palate height with the pharynx length
    at the back and the front (palate + teeth + mandible) height at the front, blended linearly
    along the palate; the jaw's forward shift scales with the total palate length, the lip
    depression with the pharynx length, the tongue side elevations with the palate depth. Angles and
    relative parameters are unchanged. VocalTractLab applies these rules to the shapes of its
    reference speaker when the anatomy changes; they are needed here because its gestural model
    loses its shapes once the anatomy is set (see :mod:`.vtl`).

    Args:
        tract: ``(n, 19)`` or ``(19,)`` tract parameters for ``old_anatomy``.
        old_anatomy, new_anatomy: 13 anatomy parameters each.

    Returns:
        The parameters for ``new_anatomy``, same shape as ``tract``.
    """
    old, new = np.asarray(old_anatomy, float), np.asarray(new_anatomy, float)
    t = np.atleast_2d(np.asarray(tract, dtype=np.float64))
    if t.shape[1] != 19 or old.shape != (13,) or new.shape != (13,):
        raise ValueError("expected (n, 19) tract parameters and two sets of 13 anatomy parameters")

    def scale_x(x: np.ndarray) -> np.ndarray:
        back = new[_A_SOFT] / old[_A_SOFT]
        front = new[_A_HARD] / old[_A_HARD]
        return np.where(x < 0.0, x * back, x * front)

    def scale_y(x: np.ndarray | float, y: np.ndarray) -> np.ndarray:
        span = old[_A_SOFT] + old[_A_HARD]
        w = np.clip((np.asarray(x) + old[_A_SOFT]) / span, 0.0, 1.0)
        front_old = old[[_A_PALATE_H, _A_UPPER_MOLARS, _A_LOWER_MOLARS, _A_MANDIBLE]].sum()
        front_new = new[[_A_PALATE_H, _A_UPPER_MOLARS, _A_LOWER_MOLARS, _A_MANDIBLE]].sum()
        dy = y - old[_A_PALATE_H]
        back = new[_A_PALATE_H] + dy * new[_A_PHARYNX] / old[_A_PHARYNX]
        front = new[_A_PALATE_H] + dy * front_new / front_old
        return (1.0 - w) * back + w * front

    out = t.copy()
    out[:, 1] = scale_y(0.0, t[:, 1])  # hyoid height
    out[:, 2] = t[:, 2] * (new[_A_HARD] + new[_A_SOFT]) / (old[_A_HARD] + old[_A_SOFT])
    out[:, 5] = t[:, 5] * new[_A_PHARYNX] / old[_A_PHARYNX]  # lip depression
    for ix, iy in _XY_PAIRS:
        out[:, ix] = scale_x(t[:, ix])
        out[:, iy] = scale_y(t[:, ix], t[:, iy])
    out[:, 16:19] = t[:, 16:19] * new[_A_DEPTH] / old[_A_DEPTH]
    return out.reshape(np.shape(tract))
