"""Throughput of the rtMRI speech simulator: seconds of speech per second of CPU.

Times one process (one core) simulating ``--utterances`` random utterances of one speaker: JD3's
tract sequence, audio synthesis (VocalTractLab), and the MR-like frames (50 frames/s, 84x84), each
part separately, as CPU time (``time.process_time``) so that other load on the machine does not
count. The corpus builder runs one such process per core.

Run: ``python benchmarks/speech.py [--utterances 4]``. Prints a dict; :func:`rows` gives the rows
of ``benchmarks/run.py``'s table (the lead calls it from there). Needs ``vocaltractlab-cython``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from mricompendium.data.rtmri import raster, simulate, vtl
from mricompendium.data.rtmri.speakers import REFERENCE_ANATOMY, adapt_articulation, sample_speakers
from mricompendium.data.rtmri.utterances import random_utterance


def measure(n_utterances: int = 4, seed: int = 0) -> dict[str, float]:
    """CPU seconds per second of speech for each stage, and the overall throughput."""
    rng = np.random.default_rng(seed)
    segs = [random_utterance(rng) for _ in range(n_utterances)]
    neutral = vtl.shape(simulate.NEUTRAL_SHAPE)  # before any anatomy change in this process
    t = time.process_time()
    arts = simulate.articulate(segs)
    t_art = time.process_time() - t
    spk = sample_speakers(1, "train", seed)[0]
    sim = simulate.SimConfig()
    scene = simulate.speaker_scene(spk, neutral, sim, seed)
    t_audio = t_frames = speech_s = 0.0
    ref = np.array(REFERENCE_ANATOMY)
    for art in arts:
        tract = adapt_articulation(art.tract, ref, spk.anatomy)
        t = time.process_time()
        audio = vtl.synthesise(tract, art.glottis)
        t_audio += time.process_time() - t
        speech_s += len(audio) / vtl.AUDIO_RATE
        n_frames = int(len(audio) / vtl.AUDIO_RATE * sim.frame_rate_hz)
        times = (np.arange(n_frames) + 0.5) / sim.frame_rate_hz
        states = np.minimum(
            (times * vtl.AUDIO_RATE / vtl.SAMPLES_PER_STATE).astype(int), len(tract) - 1
        )
        t = time.process_time()
        for j in states:
            raster.render_frame(vtl.outlines(tract[j]), scene, rng)
        t_frames += time.process_time() - t
    total = t_art + t_audio + t_frames
    return {
        "speech_s": speech_s,
        "articulation_cpu_s_per_s": t_art / speech_s,
        "audio_cpu_s_per_s": t_audio / speech_s,
        "frames_cpu_s_per_s": t_frames / speech_s,
        "speech_s_per_cpu_s": speech_s / total,
    }


def rows(n_utterances: int = 4) -> list[dict]:
    """Rows for ``benchmarks/run.py``: name, value, unit, note."""
    m = measure(n_utterances)
    note = f"{m['speech_s']:.1f} s of speech, one core, CPU time"
    return [
        {
            "name": "rtMRI speech simulator: speech per CPU second",
            "unit": "s/s",
            "note": note,
            "value": m["speech_s_per_cpu_s"],
        },
        {
            "name": "rtMRI simulator: audio synthesis CPU per speech second",
            "unit": "s/s",
            "note": note,
            "value": m["audio_cpu_s_per_s"],
        },
        {
            "name": "rtMRI simulator: 50 frames/s rendering CPU per speech second",
            "unit": "s/s",
            "note": note,
            "value": m["frames_cpu_s_per_s"],
        },
    ]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--utterances", type=int, default=4)
    a = p.parse_args()
    print(json.dumps({k: round(v, 3) for k, v in measure(a.utterances).items()}, indent=1))
