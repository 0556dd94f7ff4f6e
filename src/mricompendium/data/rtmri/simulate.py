"""Simulate one speaker's utterance: audio (16 kHz) and aligned MR-like rtMRI frames.

The pipeline for an utterance of a speaker:

1. phone segments -> JD3 tract sequence (:func:`articulate`, in a process whose VocalTractLab
   anatomy is untouched; 19 tract + 11 glottis parameters every 110 samples at 44.1 kHz);
2. the tract parameters carried to the speaker's anatomy (``adapt_articulation``), F0 scaled to the
   speaker's pitch;
3. audio synthesised at 44.1 kHz and resampled to ``audio_rate_hz`` (polyphase, scipy);
4. frame ``k`` shows the tract state at the centre of its window, ``(k + 0.5) / frame_rate_hz``
   seconds (a snapshot: no motion blur within the frame), rasterised by :mod:`.raster`.

Audio is cut to exactly ``n_frames * audio_rate_hz / frame_rate_hz`` samples, so audio sample ``n``
and frame ``n * frame_rate_hz // audio_rate_hz`` cover the same instant.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from mricompendium.data.rtmri import vtl
from mricompendium.data.rtmri.raster import (
    Appearance,
    FrameGeometry,
    SpeakerScene,
    lip_aperture_cm,
    render_frame,
)
from mricompendium.data.rtmri.speakers import REFERENCE_ANATOMY, Speaker, adapt_articulation

__all__ = [
    "Articulation",
    "SimConfig",
    "articulate",
    "resample_curve",
    "simulate_utterance",
    "speaker_scene",
    "tongue_shapes",
]

NEUTRAL_SHAPE = "@"  # schwa: the speaker's rest posture for the static image layers
_REFERENCE_F0 = 100.0


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Rates, image grid and appearance of the simulated rtMRI.

    Attributes:
        frame_rate_hz: video frames per second (50 here; the USC 75-speaker set: 83.28).
        audio_rate_hz: audio sampling rate after resampling (16 kHz).
        geometry: the image grid (84 x 84 pixels of 2.4 mm by default).
        appearance: intensities, blur, coil shading, noise.
    """

    frame_rate_hz: float = 50.0
    audio_rate_hz: int = 16000
    geometry: FrameGeometry = FrameGeometry()
    appearance: Appearance = Appearance()

    def __post_init__(self) -> None:
        spf = self.audio_rate_hz / self.frame_rate_hz
        if self.frame_rate_hz <= 0 or abs(spf - round(spf)) > 1e-9:
            raise ValueError(
                f"audio_rate_hz / frame_rate_hz must be a whole number, got {spf} "
                f"({self.audio_rate_hz} / {self.frame_rate_hz})"
            )

    @property
    def samples_per_frame(self) -> int:
        return int(round(self.audio_rate_hz / self.frame_rate_hz))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimConfig:
        geom = FrameGeometry(**{**d["geometry"], "center_cm": tuple(d["geometry"]["center_cm"])})
        return cls(
            float(d["frame_rate_hz"]), int(d["audio_rate_hz"]), geom, Appearance(**d["appearance"])
        )


@dataclasses.dataclass(frozen=True)
class Articulation:
    """JD3's tract sequence for an utterance (speaker-independent, before adaptation)."""

    segments: tuple[tuple[str, float], ...]
    tract: np.ndarray  # (n_states, 19)
    glottis: np.ndarray  # (n_states, 11); column 0 is F0 in Hz


def articulate(utterances: Sequence[Sequence[tuple[str, float]]]) -> list[Articulation]:
    """JD3 tract sequences of many utterances (runs in a fresh process if needed)."""
    out = vtl.segments_to_states_many(utterances)
    return [Articulation(tuple(u), t, g) for u, (t, g, _) in zip(utterances, out, strict=True)]


def stream_seed(*keys: int | str) -> np.random.SeedSequence:
    """A seed sequence from integers and names (names hashed with CRC-32: stable across runs)."""
    ints = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.SeedSequence(ints)


def speaker_scene(
    speaker: Speaker, neutral_tract: np.ndarray, config: SimConfig, seed: int
) -> SpeakerScene:
    """The static image layers of ``speaker`` (sets its anatomy in VocalTractLab)."""
    vtl.set_anatomy(speaker.anatomy)
    neutral = adapt_articulation(neutral_tract, np.array(REFERENCE_ANATOMY), speaker.anatomy)
    rng = np.random.default_rng(stream_seed(seed, "scene", speaker.id))
    return SpeakerScene(vtl.outlines(neutral), config.geometry, config.appearance, rng)


def simulate_utterance(
    speaker: Speaker,
    art: Articulation,
    scene: SpeakerScene,
    config: SimConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Audio and frames of one utterance by ``speaker`` (whose anatomy must be set: see
    :func:`speaker_scene`).

    Returns:
        ``frames`` ``(T, H, W)`` uint8; ``audio`` ``(T * samples_per_frame,)`` float32 at
        ``audio_rate_hz``; ``frame_times_s`` ``(T,)``; ``lip_aperture_cm`` ``(T,)`` (smallest
        distance between the lip outlines); ``tract`` ``(T, 19)`` float32, the adapted tract
        parameters of each frame.
    """
    tract = adapt_articulation(art.tract, np.array(REFERENCE_ANATOMY), speaker.anatomy)
    glottis = art.glottis.copy()
    glottis[:, 0] *= speaker.f0_hz / _REFERENCE_F0
    audio_hi = vtl.synthesise(tract, glottis)
    n_frames = int(len(audio_hi) / vtl.AUDIO_RATE * config.frame_rate_hz)
    audio = resample_poly(audio_hi, config.audio_rate_hz, vtl.AUDIO_RATE)
    n_audio = n_frames * config.samples_per_frame
    audio = np.pad(audio, (0, max(0, n_audio - len(audio))))[:n_audio]
    times = (np.arange(n_frames) + 0.5) / config.frame_rate_hz
    state_rate = vtl.AUDIO_RATE / vtl.SAMPLES_PER_STATE
    states = np.minimum((times * state_rate).astype(int), len(tract) - 1)
    frames, lips = [], []
    for j in states:
        outl = vtl.outlines(tract[j])
        frames.append(render_frame(outl, scene, rng))
        lips.append(lip_aperture_cm(outl))
    return {
        "frames": np.stack(frames),
        "audio": audio.astype(np.float32),
        "frame_times_s": times,
        "lip_aperture_cm": np.asarray(lips, dtype=np.float32),
        "tract": tract[states].astype(np.float32),
    }


def resample_curve(xy: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along a polyline ``(m, 2)``."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    keep = np.concatenate([[True], seg > 1e-9])
    t = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(t, s[keep], xy[keep, 0]), np.interp(t, s[keep], xy[keep, 1])])


def tongue_shapes(
    speakers: Sequence[Speaker],
    poses: dict[str, np.ndarray],
    neutral_tract: np.ndarray,
    *,
    n_tongue: int = 40,
    n_palate: int = 20,
) -> dict[str, np.ndarray]:
    """Midsagittal tongue contours of every speaker in every pose (clean, in VocalTractLab cm).

    Args:
        speakers: the speakers (their anatomy is set in turn).
        poses: JD3 tract parameters of each pose (``vtl.shapes``), adapted to each speaker.
        neutral_tract: JD3's rest posture, whose hard palate is each speaker's alignment landmark.
        n_tongue: points per tongue contour (root to tip, equal arc length).
        n_palate: points on the hard palate and incisors (the front half of the upper outline).

    Returns:
        ``tongue`` ``(S, P, n_tongue, 2)``, ``palate`` ``(S, n_palate, 2)`` and ``anatomy``
        ``(S, 13)``.
    """
    ref = np.array(REFERENCE_ANATOMY)
    tongue = np.zeros((len(speakers), len(poses), n_tongue, 2))
    palate = np.zeros((len(speakers), n_palate, 2))
    for i, spk in enumerate(speakers):
        vtl.set_anatomy(spk.anatomy)
        up = vtl.outlines(adapt_articulation(neutral_tract, ref, spk.anatomy))["upper"]
        palate[i] = resample_curve(up[up[:, 0] > 0.0], n_palate)
        for j, params in enumerate(poses.values()):
            outl = vtl.outlines(adapt_articulation(params, ref, spk.anatomy))
            tongue[i, j] = resample_curve(outl["tongue"], n_tongue)
    anatomy = np.stack([s.anatomy for s in speakers]) if speakers else np.zeros((0, 13))
    return {"tongue": tongue, "palate": palate, "anatomy": anatomy}
