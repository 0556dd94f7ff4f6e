"""Build the simulated rtMRI speech corpus once (a DVC data stage), deterministically.

Usage::

    python -m mricompendium.data.rtmri.build --preset ci   --out data/rtmri/ci   [--workers 2]
    python -m mricompendium.data.rtmri.build --preset full --out data/rtmri/full [--if-changed]

The main process computes JD3's tract sequences (cheap) and hands one task per speaker to a pool of
fresh worker processes (``spawn``), each of which sets its speaker's anatomy, synthesises the audio
and renders the frames. Every random draw comes from a stream named by (seed, speaker, utterance),
so the bytes written do not depend on the number of workers or their scheduling. Needs
``vocaltractlab-cython`` (GPL-3.0): corpora built with it are covered by its licence terms.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium import paths
from mricompendium.data.rtmri import vtl
from mricompendium.data.rtmri.corpus import FORMAT_VERSION, MANIFEST, default_path, write_npz
from mricompendium.data.rtmri.simulate import (
    NEUTRAL_SHAPE,
    Articulation,
    SimConfig,
    articulate,
    simulate_utterance,
    speaker_scene,
    stream_seed,
    tongue_shapes,
)
from mricompendium.data.rtmri.speakers import Speaker, sample_speakers
from mricompendium.data.rtmri.utterances import phone_times, random_utterance
from mricompendium.io import atomic_write_text

__all__ = ["PRESETS", "BuildConfig", "build", "main", "tongue_poses"]

log = logging.getLogger("mricompendium.data.rtmri.build")


@dataclasses.dataclass(frozen=True)
class BuildConfig:
    """What a corpus holds.

    Attributes:
        n_train_speakers / n_test_speakers: seen and unseen speakers.
        train_utterances: training utterances per seen speaker.
        seen_test_utterances: held-out utterances per seen speaker.
        unseen_test_utterances: utterances per unseen speaker.
        n_syllables: CV syllables per utterance.
        n_shape_speakers: speakers of the tongue-shape set (own stream, all poses).
        seed: the corpus seed.
    """

    n_train_speakers: int = 3
    n_test_speakers: int = 2
    train_utterances: int = 6
    seen_test_utterances: int = 2
    unseen_test_utterances: int = 3
    n_syllables: int = 3
    n_shape_speakers: int = 8
    seed: int = 0


PRESETS: dict[str, BuildConfig] = {
    # CI (`make test`): about 28 s of speech, built in about 40 s on two cores.
    "ci": BuildConfig(),
    # `dvc repro`: about 150 s of speech.
    "full": BuildConfig(
        n_train_speakers=8,
        n_test_speakers=6,
        train_utterances=12,
        seen_test_utterances=2,
        unseen_test_utterances=4,
        n_shape_speakers=16,
    ),
}


def tongue_poses(names: Sequence[str]) -> list[str]:
    """The tract shapes of the speaker file used as tongue poses: vowels and tongue consonants.

    Left out: the ``-raw`` duplicates of the vowels and the lip-only consonant targets (``ll-``),
    whose tongue is that of their vowel context.
    """
    return [n for n in names if not n.endswith("-raw") and not n.startswith("ll-")]


def _plan(cfg: BuildConfig) -> tuple[list[Speaker], list[dict[str, Any]]]:
    speakers = sample_speakers(cfg.n_train_speakers, "train", cfg.seed)
    speakers += sample_speakers(cfg.n_test_speakers, "test", cfg.seed)
    utts = []
    for spk in speakers:
        if spk.split == "train":
            roles = ["train"] * cfg.train_utterances + ["test"] * cfg.seen_test_utterances
        else:
            roles = ["test"] * cfg.unseen_test_utterances
        for i, role in enumerate(roles):
            rng = np.random.default_rng(stream_seed(cfg.seed, "utterance", spk.id, i))
            segs = random_utterance(rng, n_syllables=cfg.n_syllables)
            utts.append(
                {
                    "id": f"{spk.id}_u{i:03d}",
                    "speaker": spk.id,
                    "speaker_split": spk.split,
                    "role": role,
                    "segments_in": segs,
                }
            )
    return speakers, utts


def _speaker_task(args: tuple) -> list[dict[str, Any]]:
    """Worker: one speaker's utterances -> npz files; returns their manifest records."""
    spk, items, neutral, sim, seed, out = args
    scene = speaker_scene(spk, neutral, sim, seed)
    records = []
    for meta, art in items:
        rng = np.random.default_rng(stream_seed(seed, "frames", meta["id"]))
        arrays = simulate_utterance(spk, art, scene, sim, rng)
        rel = f"utterances/{meta['id']}.npz"
        digest = write_npz(Path(out) / rel, arrays)
        segs = [[s.phone, s.start_s, s.end_s] for s in phone_times(meta["segments_in"])]
        records.append(
            {
                **{k: meta[k] for k in ("id", "speaker", "speaker_split", "role")},
                "segments": segs,
                "n_frames": int(len(arrays["frames"])),
                "file": rel,
                "sha256": digest,
            }
        )
    return records


def _shapes_task(args: tuple) -> tuple[str, list[dict[str, Any]]]:
    speakers, poses, neutral, out = args
    arrays = tongue_shapes(speakers, poses, neutral)
    return write_npz(Path(out) / "shapes.npz", arrays), [s.to_dict() for s in speakers]


_SOURCES = ("build", "corpus", "raster", "simulate", "speakers", "utterances", "vtl")


def code_fingerprint() -> str:
    """sha256 of the simulator's source files: a corpus is rebuilt when they change."""
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()


def _manifest_config(cfg: BuildConfig, sim: SimConfig, preset: str) -> dict[str, Any]:
    """The manifest's head as it reads back from JSON (tuples become lists), so that
    :func:`_up_to_date` compares like with like."""
    return json.loads(
        json.dumps(
            {
                "code": code_fingerprint(),
                "format": FORMAT_VERSION,
                "preset": preset,
                "seed": cfg.seed,
                "config": dataclasses.asdict(cfg),
                "sim": sim.to_dict(),
            }
        )
    )


def _up_to_date(out: Path, head: dict[str, Any]) -> bool:
    m = out / MANIFEST
    if not m.is_file():
        return False
    try:
        old = json.loads(m.read_text())
    except json.JSONDecodeError:
        return False
    files_ok = all((out / rel).is_file() for rel in old.get("files", {}))
    return files_ok and all(old.get(k) == v for k, v in head.items())


def build(
    out: str | Path,
    cfg: BuildConfig,
    *,
    preset: str = "custom",
    sim: SimConfig | None = None,
    workers: int = 2,
    if_changed: bool = False,
) -> Path:
    """Build a corpus into ``out``; returns the manifest path.

    Args:
        out: the corpus folder (created).
        cfg: what it holds.
        preset: the name recorded in the manifest.
        sim: rates, image grid and appearance (defaults: 84x84 at 2.4 mm, 50 frames/s, 16 kHz).
        workers: worker processes (fresh ``spawn`` processes; at least 1).
        if_changed: do nothing when ``out`` already holds a corpus of this configuration.
    """
    sim = sim or SimConfig()
    out = Path(out)
    head = _manifest_config(cfg, sim, preset)
    if if_changed and _up_to_date(out, head):
        log.info("%s is up to date", out)
        return out / MANIFEST
    t0 = time.perf_counter()
    speakers, utts = _plan(cfg)
    pose_names = tongue_poses(vtl.shape_names())
    jd3 = vtl.shapes([NEUTRAL_SHAPE, *pose_names])
    neutral, poses = jd3[NEUTRAL_SHAPE], {n: jd3[n] for n in pose_names}
    shape_spk = [
        dataclasses.replace(s, id=f"shape{i:02d}")
        for i, s in enumerate(sample_speakers(cfg.n_shape_speakers, "train", cfg.seed + 104729))
    ]
    n = max(1, int(workers))
    with multiprocessing.get_context("spawn").Pool(n) as pool:
        segs = [u["segments_in"] for u in utts]
        # Fresh workers still hold VocalTractLab's shapes: articulate there, in parallel.
        arts: list[Articulation] = [None] * len(segs)  # type: ignore[list-item]
        for k, chunk in enumerate(pool.map(articulate, [segs[k :: 2 * n] for k in range(2 * n)])):
            arts[k :: 2 * n] = chunk
        by_speaker: dict[str, list[tuple[dict[str, Any], Articulation]]] = {}
        for meta, art in zip(utts, arts, strict=True):
            by_speaker.setdefault(meta["speaker"], []).append((meta, art))
        tasks = [(s, by_speaker.get(s.id, []), neutral, sim, cfg.seed, str(out)) for s in speakers]
        shape_job = pool.apply_async(_shapes_task, ((shape_spk, poses, neutral, str(out)),))
        records = [r for recs in pool.imap(_speaker_task, tasks) for r in recs]
        shapes_sha, shape_speakers = shape_job.get()
    files = {r["file"]: r.pop("sha256") for r in records}
    files["shapes.npz"] = shapes_sha
    manifest = {
        **head,
        "vocaltractlab": vtl.describe(),
        "speakers": [s.to_dict() for s in speakers],
        "utterances": records,
        "shapes": {"poses": pose_names, "speakers": shape_speakers, "n_tongue": 40, "n_palate": 20},
        "files": dict(sorted(files.items())),
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    speech_s = sum(r["n_frames"] for r in records) / sim.frame_rate_hz
    log.info(
        "built %s: %d utterances, %.1f s of speech in %.1f s wall (%d workers)",
        out,
        len(records),
        speech_s,
        time.perf_counter() - t0,
        workers,
    )
    return out / MANIFEST


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="ci")
    p.add_argument("--out", default=None, help="corpus folder (default data/rtmri/<preset>)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--if-changed", action="store_true", help="skip when already built")
    a = p.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)  # VocalTractLab logs every file it writes at INFO on the root logger
    log.propagate = False
    out = paths.resolve(a.out) if a.out else default_path(a.preset)
    build(out, PRESETS[a.preset], preset=a.preset, workers=a.workers, if_changed=a.if_changed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
