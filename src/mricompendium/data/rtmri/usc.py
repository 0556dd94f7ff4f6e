"""Real-time MRI of speech from disk, as USC-TIMIT and the USC 75-speaker set distribute it.

A recording is a video of midsagittal frames, the audio recorded with it, and optionally a time
alignment of phones. What is read:

* frames: an HDF5 file (the first 3D dataset, or ``dataset=``; ``(T, H, W)``), a ``.npy`` array
  ``(T, H, W)``, a folder of PNG frames (sorted by name), or an ``.avi``/``.mp4`` video when
  imageio has a video backend (``imageio-ffmpeg`` or ``av``, not installed here: convert videos
  with ``ffmpeg -i clip.mp4 frames/%05d.png`` otherwise);
* audio: a WAV/FLAC file (soundfile), mixed down to mono;
* alignment: a Praat ``.TextGrid`` (long text format; the tier named ``phones``/``phone``, else the
  first interval tier) or a label file with one ``start end label`` line per phone, in seconds, or
  in HTK units of 100 ns (recognised when the times are integers beyond 10 000).

Layouts of a data folder read by :func:`load_folder` (:func:`find_recordings` says which files):

* the USC 75-speaker set as distributed (Lim et al. 2021, figshare 13725546), one folder per
  speaker: ``sub001/2drt/recon/sub001_2drt_01_vcv1_r1_recon.h5`` (dataset ``/recon``) with
  ``sub001/2drt/audio/sub001_2drt_01_vcv1_r1_audio.wav`` (``2drt/raw``, ``video`` and ``3d`` are
  not read; the set ships no phone alignment: add ``2drt/audio/<stem>_audio.TextGrid``, e.g. from
  a forced aligner). The reconstructions were written by MATLAB, so h5py sees each frame transposed;
  frames are transposed back to the orientation of the data set's own figures (``imagesc`` of
  ``h5read(...)(:, :, t)`` in usc-mrel/usc_speech_mri). A reconstruction without its audio is
  skipped and counted (the set has a few);
* a flat folder: one subfolder per speaker, holding for each utterance ``<stem>`` a frames source
  and ``<stem>.wav``, and optionally ``<stem>.TextGrid`` or ``<stem>.lab``.

The frame rate is not stored in these files: USC-TIMIT videos run at 23.18 frames/s, the
75-speaker set's at 83.28 (1000 / (2 x 6.004 ms), ``frame_rate_hz``). Every unusable input raises
:class:`~mricompendium.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from mricompendium.data.errors import DataError
from mricompendium.data.rtmri.corpus import Utterance
from mricompendium.data.rtmri.usc_tree import (
    VIDEO,
    RecordingFiles,
    find_recordings,
    speaker_roles,
)
from mricompendium.data.rtmri.utterances import Segment

__all__ = [
    "Recording",
    "RecordingFiles",
    "find_recordings",
    "load_folder",
    "load_recording",
    "read_alignment",
    "read_audio",
    "read_frames",
    "resample_frames",
    "speaker_roles",
    "to_utterances",
]

_VIDEO = VIDEO


@dataclasses.dataclass
class Recording:
    """One rtMRI recording: frames ``(T, H, W)`` float32, mono audio, phone segments."""

    id: str
    speaker: str
    frames: np.ndarray
    frame_rate_hz: float
    audio: np.ndarray
    audio_rate_hz: int
    segments: list[Segment]
    source: str

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.frame_rate_hz


def _check_frames(arr: np.ndarray, source: Path) -> np.ndarray:
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise DataError(source, f"frames must be (T, H, W), got shape {arr.shape}")
    out = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise DataError(source, "frames hold NaN or infinite values")
    return out


def _read_h5(p: Path, dataset: str | None) -> np.ndarray:
    import h5py

    from mricompendium.data.loaders import open_h5

    with open_h5(p) as f:
        if dataset is None:
            names: list[str] = []
            f.visititems(
                lambda n, o: (
                    names.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None
                )
            )
            if not names:
                raise DataError(p, "no 3D dataset (T, H, W) in the HDF5 file")
            dataset = names[0]
        if dataset not in f:
            raise DataError(p, f"no dataset {dataset!r} (has {sorted(f.keys())})")
        return np.asarray(f[dataset])


def read_frames(
    path: str | os.PathLike[str], *, dataset: str | None = None, transpose: bool = False
) -> np.ndarray:
    """Frames ``(T, H, W)`` float32 from an HDF5, ``.npy``, PNG folder or video file.

    ``transpose`` swaps each frame's axes (HDF5 written by MATLAB, as the USC 75-speaker set).
    """
    frames = _read_frames(Path(path), dataset)
    return np.ascontiguousarray(frames.transpose(0, 2, 1)) if transpose else frames


def _read_frames(path: Path, dataset: str | None) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise DataError(p, "frames not found")
    if p.is_dir():
        files = sorted(p.glob("*.png"))
        if not files:
            raise DataError(p, "folder holds no PNG frames")
        from PIL import Image, UnidentifiedImageError

        try:
            imgs = [np.asarray(Image.open(f).convert("L")) for f in files]
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(p, f"unreadable PNG frame ({err})") from err
        if len({im.shape for im in imgs}) != 1:
            raise DataError(p, "PNG frames differ in size")
        return _check_frames(np.stack(imgs), p)
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        frames = _read_h5(p, dataset)
        return _check_frames(np.abs(frames) if np.iscomplexobj(frames) else frames, p)
    if suffix == ".npy":
        return _check_frames(_load_npy(p), p)
    if suffix in (".avi", ".mp4"):
        return _check_frames(_read_video(p), p)
    raise DataError(p, f"unknown frames format {suffix!r} (use {', '.join(_VIDEO)} or PNGs)")


def _load_npy(p: Path) -> np.ndarray:
    """A ``.npy`` array whose header accounts for exactly the bytes stored (no pickles)."""
    try:
        with p.open("rb") as f:
            fmt = np.lib.format
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
            need = f.tell() + math.prod(shape) * dtype.itemsize
        if need != p.stat().st_size:
            raise DataError(p, f"header declares {shape} {dtype} ({need} bytes), the file "
                               f"holds {p.stat().st_size}")  # fmt: skip
        return np.load(p, allow_pickle=False)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt header: ValueError, SyntaxError ...
        raise DataError(p, f"not a readable .npy array ({type(err).__name__}: {err})") from err


def _read_video(p: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        vid = np.asarray(iio.imread(p))
    except Exception as err:  # imageio raises many types when no backend can read the file
        raise DataError(
            p,
            "cannot decode the video (install imageio-ffmpeg or av, or convert it to PNG frames "
            f"with ffmpeg): {err}",
        ) from err
    return vid.mean(axis=-1) if vid.ndim == 4 else vid


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Mono float32 audio and its sampling rate (Hz)."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise DataError(p, "audio file not found")
    _check_riff_size(p)
    try:
        audio, rate = sf.read(p, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(p, f"not a readable audio file ({err})") from err
    if audio.size == 0:
        raise DataError(p, "audio file holds no samples")
    mono = audio.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise DataError(p, "audio holds NaN or infinite samples")
    return mono, int(rate)


def _check_riff_size(p: Path) -> None:
    """A WAV file's header must agree with itself and with the file's length.

    WAV carries no checksum; without these checks a truncated file reads short, and a damaged
    channel count or sampling rate reinterprets the samples, both silently. The RIFF and data
    chunk sizes must fit in the file, and in the ``fmt`` chunk the byte rate must equal rate x
    block align and the block align channels x bytes per sample.
    """
    data = p.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return  # not WAV (FLAC ...): soundfile checks it
    if int.from_bytes(data[4:8], "little") + 8 > len(data):
        raise DataError(p, f"WAV header declares {int.from_bytes(data[4:8], 'little') + 8} "
                        f"bytes, the file holds {len(data)} (truncated?)")  # fmt: skip
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + size]
        if len(body) < size:
            raise DataError(p, f"WAV chunk {chunk!r} declares {size} bytes, {len(body)} remain")
        if chunk == b"fmt " and size >= 16:
            _check_wav_format(p, body)
        pos += 8 + size + (size % 2)


def _check_wav_format(p: Path, body: bytes) -> None:
    def u(a: int, b: int) -> int:
        return int.from_bytes(body[a:b], "little")

    channels, rate, byte_rate, align, bits = u(2, 4), u(4, 8), u(8, 12), u(12, 14), u(14, 16)
    if align != channels * ((bits + 7) // 8) or byte_rate != rate * align:
        raise DataError(
            p,
            f"inconsistent WAV format chunk ({channels} channels, {rate} Hz, {bits} bits, "
            f"block {align}, {byte_rate} bytes/s)",
        )


def _textgrid(p: Path, text: str) -> list[Segment]:
    tiers = re.split(r"item \[\d+\]:", text)[1:]
    if not tiers:
        raise DataError(p, "no tiers in the TextGrid (only the long text format is read)")
    parsed = []
    for t in tiers:
        name = re.search(r'name = "([^"]*)"', t)
        ivs = re.findall(r'xmin = ([\d.eE+-]+)\s*xmax = ([\d.eE+-]+)\s*text = "([^"]*)"', t)
        if 'class = "IntervalTier"' in t and ivs:
            parsed.append(((name.group(1) if name else "").lower(), ivs))
    if not parsed:
        raise DataError(p, "no interval tier with intervals in the TextGrid")
    chosen = next((iv for n, iv in parsed if n in ("phones", "phone")), parsed[0][1])
    return [Segment(lab.strip(), float(a), float(b)) for a, b, lab in chosen]


def _label_file(p: Path, text: str) -> list[Segment]:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise DataError(p, f"line {i}: expected 'start end label', got {line!r}")
        try:
            rows.append((float(parts[0]), float(parts[1]), " ".join(parts[2:])))
        except ValueError as err:
            raise DataError(p, f"line {i}: start and end must be numbers ({line!r})") from err
    if not rows:
        raise DataError(p, "label file holds no segments")
    htk = all(a.is_integer() and b.is_integer() for a, b, _ in rows) and rows[-1][1] > 1e4
    scale = 1e-7 if htk else 1.0
    return [Segment(lab, a * scale, b * scale) for a, b, lab in rows]


def read_alignment(path: str | os.PathLike[str]) -> list[Segment]:
    """Phone segments from a Praat TextGrid or a ``start end label`` file (seconds or HTK)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "alignment file not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = p.read_text(encoding="utf-16")
        except UnicodeError as err:
            raise DataError(p, f"neither UTF-8 nor UTF-16 text ({err})") from err
    segs = _textgrid(p, text) if "ooTextFile" in text[:200] else _label_file(p, text)
    for s in segs:
        if not (s.end_s >= s.start_s >= 0):
            raise DataError(p, f"segment {s.phone!r} has start {s.start_s} > end {s.end_s}")
    return segs


def load_recording(
    frames: str | os.PathLike[str],
    audio: str | os.PathLike[str],
    *,
    alignment: str | os.PathLike[str] | None = None,
    frame_rate_hz: float = 83.28,
    speaker: str = "",
    dataset: str | None = None,
    max_mismatch_s: float = 0.5,
    transpose: bool = False,
    stem: str | None = None,
) -> Recording:
    """One recording; its audio and video must last the same within ``max_mismatch_s``."""
    if frame_rate_hz <= 0:
        raise ValueError(f"frame_rate_hz must be > 0, got {frame_rate_hz}")
    fr = read_frames(frames, dataset=dataset, transpose=transpose)
    au, rate = read_audio(audio)
    video_s, audio_s = len(fr) / frame_rate_hz, len(au) / rate
    if abs(video_s - audio_s) > max_mismatch_s:
        raise DataError(
            frames,
            f"video lasts {video_s:.2f} s at {frame_rate_hz} frames/s but {audio} lasts "
            f"{audio_s:.2f} s (wrong frame rate or mismatched files?)",
        )
    segs = read_alignment(alignment) if alignment is not None else []
    stem = stem or Path(frames).stem
    return Recording(stem, speaker, fr, float(frame_rate_hz), au, rate, segs, os.fspath(frames))


def load_folder(
    root: str | os.PathLike[str], *, frame_rate_hz: float = 83.28, dataset: str | None = None
) -> list[Recording]:
    """Every recording under ``root`` (:func:`find_recordings`), loaded."""
    files, _ = find_recordings(root, dataset=dataset)
    return [
        load_recording(f.frames, f.audio, alignment=f.alignment, frame_rate_hz=frame_rate_hz,
                       speaker=f.speaker, dataset=f.dataset, transpose=f.transpose, stem=f.stem)
        for f in files
    ]  # fmt: skip


def resample_frames(frames: np.ndarray, src_hz: float, dst_hz: float) -> np.ndarray:
    """Frames resampled in time by linear interpolation: frame ``k`` of the output shows time
    ``(k + 0.5) / dst_hz``, as the input's frame ``j`` shows ``(j + 0.5) / src_hz``."""
    t = len(frames)
    n = int(t / src_hz * dst_hz)
    pos = np.clip((np.arange(n) + 0.5) / dst_hz * src_hz - 0.5, 0, t - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None, None].astype(np.float32)
    return (1 - w) * frames[lo] + w * frames[hi]


def to_utterances(
    recordings: Sequence[Recording],
    *,
    frame_rate_hz: float = 50.0,
    audio_rate_hz: int = 16000,
    unseen_fraction: float = 0.25,
    test_fraction: float = 0.2,
) -> list[Utterance]:
    """Real recordings (:func:`load_folder`) as corpus utterances, for the speech experiments.

    Frames are resampled in time to ``frame_rate_hz`` and scaled to 0..255, audio to
    ``audio_rate_hz`` and cut to the video's length. The last ``unseen_fraction`` of the speakers
    (sorted by name) are the unseen test speakers; of the others, the last ``test_fraction`` of each
    speaker's utterances are held out.
    """
    by_speaker: dict[str, list[Recording]] = {}
    for r in recordings:
        by_speaker.setdefault(r.speaker, []).append(r)
    roles = speaker_roles({k: len(v) for k, v in by_speaker.items()},
                          unseen_fraction=unseen_fraction, test_fraction=test_fraction)  # fmt: skip
    out = []
    for spk, role_list in roles.items():
        for r, role in zip(by_speaker[spk], role_list, strict=True):
            fr = resample_frames(r.frames, r.frame_rate_hz, frame_rate_hz)
            lo, hi = float(fr.min()), float(fr.max())
            fr = np.round(255 * (fr - lo) / max(hi - lo, 1e-6)).astype(np.uint8)
            g = np.gcd(int(audio_rate_hz), int(r.audio_rate_hz))
            au = resample_poly(r.audio, audio_rate_hz // g, r.audio_rate_hz // g)
            n = int(round(len(fr) * audio_rate_hz / frame_rate_hz))
            au = np.pad(au, (0, max(0, n - len(au))))[:n].astype(np.float32)
            out.append(
                Utterance(
                    r.id,
                    spk,
                    "test" if role == "unseen" else "train",
                    "train" if role == "train" else "test",
                    list(r.segments),
                    fr,
                    au,
                    frame_rate_hz,
                    audio_rate_hz,
                    np.zeros(len(fr), np.float32),
                )
            )
    return out
