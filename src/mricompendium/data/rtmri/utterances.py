"""Utterances: random consonant-vowel sequences with durations, as VocalTractLab segments.

An utterance is a pause, ``n_syllables`` syllables (consonant + vowel, optionally a final
consonant), and a pause. Phones are German SAMPA as VocalTractLab's JD3 speaker knows them; the
default inventories keep five cardinal vowels (the vowel classes of the intelligibility stand-in)
and twelve consonants covering labial, alveolar and velar places, stops, nasals, fricatives and a
lateral. Durations are drawn around typical read-speech values (vowels 120-220 ms, consonants
60-100 ms; Crystal & House 1988, J Acoust Soc Am 83:1553).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["CONSONANTS", "VOWELS", "Segment", "phone_times", "random_utterance"]

VOWELS: tuple[str, ...] = ("a", "e", "i", "o", "u")
CONSONANTS: tuple[str, ...] = ("b", "d", "g", "p", "t", "k", "m", "n", "l", "s", "f", "v")
PAUSE = ""


@dataclasses.dataclass(frozen=True)
class Segment:
    """One phone of an utterance: label (``""`` = pause), start and end in seconds."""

    phone: str
    start_s: float
    end_s: float

    @property
    def is_vowel(self) -> bool:
        return self.phone in VOWELS


def random_utterance(
    rng: np.random.Generator,
    *,
    n_syllables: int = 3,
    vowels: Sequence[str] = VOWELS,
    consonants: Sequence[str] = CONSONANTS,
    pause_s: float = 0.12,
    vowel_s: tuple[float, float] = (0.12, 0.22),
    consonant_s: tuple[float, float] = (0.06, 0.10),
    final_consonant_p: float = 0.3,
) -> list[tuple[str, float]]:
    """A random CV(C) sequence as ``(phone, duration_s)`` pairs, framed by pauses.

    Args:
        rng: the generator (the only source of randomness).
        n_syllables: consonant-vowel syllables in the utterance.
        vowels: vowel inventory; consonants: consonant inventory.
        pause_s: the leading and trailing pause.
        vowel_s: uniform range of vowel durations; consonant_s: of consonant durations.
        final_consonant_p: probability that the last syllable ends in a consonant.
    """
    if n_syllables < 1:
        raise ValueError(f"n_syllables must be >= 1, got {n_syllables}")
    if not vowels or not consonants:
        raise ValueError("vowel and consonant inventories must not be empty")
    out: list[tuple[str, float]] = [(PAUSE, pause_s)]
    for _ in range(n_syllables):
        out.append((str(rng.choice(consonants)), float(rng.uniform(*consonant_s))))
        out.append((str(rng.choice(vowels)), float(rng.uniform(*vowel_s))))
    if rng.random() < final_consonant_p:
        out.append((str(rng.choice(consonants)), float(rng.uniform(*consonant_s))))
    out.append((PAUSE, pause_s))
    return [(p, round(d, 4)) for p, d in out]


def phone_times(segments: Sequence[tuple[str, float]]) -> list[Segment]:
    """Cumulative start/end times of ``(phone, duration_s)`` segments."""
    out, t = [], 0.0
    for phone, dur in segments:
        out.append(Segment(phone, round(t, 6), round(t + dur, 6)))
        t += dur
    return out
