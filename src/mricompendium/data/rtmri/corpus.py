"""The simulated rtMRI speech corpus on disk, and reading it back.

Layout of a corpus folder (written by :mod:`.build`)::

    manifest.json          configuration, speakers, utterances (phones and times), sha256 of files
    utterances/<id>.npz    frames (T, H, W) uint8, audio (N,) float32, frame_times_s,
                           lip_aperture_cm, tract (T, 19)
    shapes.npz             tongue (S, P, n, 2), palate (S, m, 2) in cm, anatomy (S, 13)

``.npz`` files are written with fixed zip timestamps, so the same build gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium import paths
from mricompendium.data.errors import DataError
from mricompendium.data.rtmri.speakers import Speaker
from mricompendium.data.rtmri.utterances import VOWELS, Segment
from mricompendium.io import atomic_open

__all__ = ["Corpus", "Utterance", "default_path", "load_corpus", "read_npz", "write_npz"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_UTTERANCE_KEYS = ("frames", "audio", "frame_times_s", "lip_aperture_cm", "tract")


def default_path(preset: str) -> Path:
    """``<root>/data/rtmri/<preset>`` (``MRICOMPENDIUM_RTMRI`` overrides ``<root>/data/rtmri``)."""
    env = os.environ.get("MRICOMPENDIUM_RTMRI")
    base = Path(env).resolve() if env else paths.ROOT / "data" / "rtmri"
    return base / preset


def write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> str:
    """Write arrays as a compressed ``.npz`` with fixed timestamps; return its sha256."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            item = io.BytesIO()
            np.save(item, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, item.getvalue())
    data = buf.getvalue()
    with atomic_open(path) as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def read_npz(path: str | os.PathLike[str], keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Read an ``.npz``; a missing, corrupt or incomplete file is a :class:`DataError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(p, f"not a readable .npz file ({err})") from err
    missing = [k for k in keys if k not in out]
    if missing:
        raise DataError(p, f"missing arrays {missing}")
    return out


@dataclasses.dataclass
class Utterance:
    """One utterance of one speaker.

    Attributes:
        id: e.g. ``"train03_u005"``.
        speaker: the speaker's id.
        speaker_split: ``"train"`` (a seen speaker) or ``"test"`` (an unseen one).
        role: ``"train"`` or ``"test"`` (held out even for seen speakers).
        segments: phones with start/end times (s), pauses labelled ``""``.
        frames: ``(T, H, W)`` uint8 rtMRI frames at ``frame_rate_hz``.
        audio: ``(T * audio_rate_hz / frame_rate_hz,)`` float32 at ``audio_rate_hz``.
        lip_aperture_cm: ``(T,)`` smallest distance between the lips in each frame.
    """

    id: str
    speaker: str
    speaker_split: str
    role: str
    segments: list[Segment]
    frames: np.ndarray
    audio: np.ndarray
    frame_rate_hz: float
    audio_rate_hz: int
    lip_aperture_cm: np.ndarray

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.frame_rate_hz

    def vowels(self) -> list[Segment]:
        """The vowel segments, in order."""
        return [s for s in self.segments if s.phone in VOWELS]


@dataclasses.dataclass
class Corpus:
    """A loaded corpus: its manifest, speakers, utterances and tongue shapes."""

    root: Path
    manifest: dict[str, Any]
    speakers: list[Speaker]
    utterances: list[Utterance]
    shapes: dict[str, np.ndarray]

    @property
    def frame_rate_hz(self) -> float:
        return float(self.manifest["sim"]["frame_rate_hz"])

    @property
    def audio_rate_hz(self) -> int:
        return int(self.manifest["sim"]["audio_rate_hz"])

    @property
    def pose_names(self) -> list[str]:
        return list(self.manifest["shapes"]["poses"])

    def select(
        self, *, speaker_split: str | None = None, role: str | None = None
    ) -> list[Utterance]:
        """Utterances of one speaker split and/or role, in manifest order."""
        return [
            u
            for u in self.utterances
            if (speaker_split is None or u.speaker_split == speaker_split)
            and (role is None or u.role == role)
        ]

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def describe(self) -> str:
        """One sentence about the corpus, generated from its manifest."""
        m = self.manifest
        tr = [s for s in self.speakers if s.split == "train"]
        te = [s for s in self.speakers if s.split == "test"]
        total = sum(u.duration_s for u in self.utterances)
        g = m["sim"]["geometry"]
        return (
            f"{len(self.utterances)} simulated utterances ({total:.0f} s) from "
            f"{len(tr)} training and {len(te)} unseen speakers (VocalTractLab JD3 anatomical "
            f"variants): rtMRI frames {g['size']}x{g['size']} at {g['pixel_mm']} mm, "
            f"{self.frame_rate_hz:g} frames/s, rasterised from the articulatory model (not MRI), "
            f"audio {self.audio_rate_hz} Hz; corpus preset '{m['preset']}', seed {m['seed']}"
        )


def _segments(raw: list[list[Any]]) -> list[Segment]:
    return [Segment(str(p), float(a), float(b)) for p, a, b in raw]


def load_corpus(path: str | os.PathLike[str], *, verify: bool = False) -> Corpus:
    """Read a corpus folder written by :mod:`.build`.

    Args:
        path: the corpus folder (``data/rtmri/<preset>``).
        verify: also check every file's sha256 against the manifest.

    Raises:
        DataError: missing folder or manifest, a manifest of another format, a missing or corrupt
            file (the message names it), or a checksum mismatch.
    """
    root = Path(path)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise DataError(
            mpath,
            "corpus manifest not found (build it: python -m "
            "mricompendium.data.rtmri.build --preset ci)",
        )
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as err:
        raise DataError(mpath, f"not valid JSON ({err})") from err
    if manifest.get("format") != FORMAT_VERSION:
        raise DataError(
            mpath, f"corpus format {manifest.get('format')!r}, expected {FORMAT_VERSION}"
        )
    if verify:
        for rel, digest in manifest["files"].items():
            f = root / rel
            if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
                raise DataError(f, "missing or changed since the corpus was built (sha256)")
    sim = manifest["sim"]
    utts = []
    for u in manifest["utterances"]:
        arr = read_npz(root / u["file"], _UTTERANCE_KEYS)
        utts.append(
            Utterance(
                u["id"],
                u["speaker"],
                u["speaker_split"],
                u["role"],
                _segments(u["segments"]),
                arr["frames"],
                arr["audio"],
                float(sim["frame_rate_hz"]),
                int(sim["audio_rate_hz"]),
                arr["lip_aperture_cm"],
            )
        )
    shapes = read_npz(root / "shapes.npz", ("tongue", "palate", "anatomy"))
    speakers = [Speaker.from_dict(s) for s in manifest["speakers"]]
    return Corpus(root, manifest, speakers, utts, shapes)
