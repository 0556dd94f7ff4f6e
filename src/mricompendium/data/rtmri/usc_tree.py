"""Which files of a speech rtMRI folder form recordings: the USC 75-speaker tree or a flat copy.

The two layouts are described in :mod:`mricompendium.data.rtmri.usc`; :func:`find_recordings`
lists the files of every recording (without reading them) and :func:`speaker_roles` gives the
split :func:`~mricompendium.data.rtmri.usc.to_utterances` makes, so that a check can count it
before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from mricompendium.data.errors import DataError

__all__ = ["VIDEO", "RecordingFiles", "find_recordings", "speaker_roles"]

VIDEO = (".h5", ".hdf5", ".npy", ".avi", ".mp4")


@dataclasses.dataclass(frozen=True)
class RecordingFiles:
    """The files of one recording: frames source, audio, optional alignment, how to read them."""

    speaker: str
    stem: str
    frames: Path
    audio: Path
    alignment: Path | None = None
    dataset: str | None = None
    transpose: bool = False


def _frames_source(folder: Path, stem: str) -> Path | None:
    for ext in VIDEO:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return folder / stem if (folder / stem).is_dir() else None


def _official(spk_dir: Path, skipped: list[Path]) -> list[RecordingFiles]:
    """A USC 75-speaker speaker folder: ``2drt/recon/<stem>_recon.h5`` + ``2drt/audio``; a phone
    alignment (not distributed with the set) is looked for as ``<stem>_audio.TextGrid`` (a forced
    aligner's name for the WAV's alignment), ``<stem>.TextGrid`` or ``.lab``, in ``2drt/audio/`` or
    ``2drt/align/``."""
    out = []
    rt = spk_dir / "2drt"
    for recon in sorted((rt / "recon").glob("*_recon.h5")):
        stem = recon.name.removesuffix("_recon.h5")
        audio = next(
            (p for p in (rt / "audio" / f"{stem}_audio.wav", rt / "wav" / f"{stem}_audio.wav",
                         rt / "wav" / f"{stem}.wav") if p.is_file()), None,
        )  # fmt: skip
        if audio is None:
            skipped.append(recon)
            continue
        ali = next(
            (p for d in (rt / "audio", rt / "align") for n in (f"{stem}_audio", stem)
             for p in (d / f"{n}.TextGrid", d / f"{n}.lab") if p.is_file()), None,
        )  # fmt: skip
        out.append(RecordingFiles(spk_dir.name, stem, recon, audio, ali, "recon", True))
    return out


def _flat(spk_dir: Path, dataset: str | None) -> list[RecordingFiles]:
    out = []
    for wav in sorted(spk_dir.glob("*.wav")):
        src = _frames_source(spk_dir, wav.stem)
        if src is None:
            raise DataError(wav, "no frames for this audio (same stem, .h5/.npy/.avi/.mp4/dir)")
        ali = next(
            (spk_dir / f"{wav.stem}{e}" for e in (".TextGrid", ".lab")
             if (spk_dir / f"{wav.stem}{e}").is_file()), None,
        )  # fmt: skip
        out.append(RecordingFiles(spk_dir.name, wav.stem, src, wav, ali, dataset))
    return out


def find_recordings(
    root: str | os.PathLike[str], *, dataset: str | None = None
) -> tuple[list[RecordingFiles], list[Path]]:
    """Every recording under ``root/<speaker>/`` (either layout of the module docstring), and
    the USC 75-speaker reconstructions skipped for want of audio.

    Raises:
        DataError: ``root`` is not a folder, holds no recording, or a flat folder's audio has no
            frames (named).
    """
    base = Path(root)
    if not base.is_dir():
        raise DataError(base, "data folder not found")
    found: list[RecordingFiles] = []
    skipped: list[Path] = []
    for spk_dir in sorted(d for d in base.iterdir() if d.is_dir()):
        if (spk_dir / "2drt" / "recon").is_dir():
            found += _official(spk_dir, skipped)
        else:
            found += _flat(spk_dir, dataset)
    if not found:
        raise DataError(
            base,
            "no recordings found (expected <speaker>/2drt/recon/<stem>_recon.h5 with "
            "2drt/audio/<stem>_audio.wav, or <speaker>/<stem>.wav + frames)",
        )
    return found, skipped


def speaker_roles(
    counts: dict[str, int], *, unseen_fraction: float = 0.25, test_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Per speaker (sorted by name), each recording's role in :func:`to_utterances`:
    ``"unseen"`` (an unseen test speaker), ``"test"`` (held out of a seen speaker) or
    ``"train"``; ``counts`` gives each speaker's number of recordings."""
    spks = sorted(counts)
    n_unseen = max(1, int(round(unseen_fraction * len(spks)))) if len(spks) > 1 else 0
    unseen = set(spks[len(spks) - n_unseen :])
    roles = {}
    for spk in spks:
        n = counts[spk]
        n_test = max(1, int(round(test_fraction * n)))
        roles[spk] = ["unseen" if spk in unseen else ("test" if k >= n - n_test else "train")
                      for k in range(n)]  # fmt: skip
    return roles
