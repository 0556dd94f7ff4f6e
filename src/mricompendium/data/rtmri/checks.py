"""Checks of the speech notebooks' real data before a kernel starts (``mricompendium.run``).

* :func:`check_recordings` (``mri2speech``): a folder of rtMRI recordings in either layout of
  :mod:`mricompendium.data.rtmri.usc`; every recording's frame count and shape (HDF5 dataset
  shape, ``.npy`` header, PNG count) and audio length (WAV header) are read, their durations
  compared at the given frame rate, every phone alignment read (the notebook scores phones and
  vowels from them, in its phone inventory), and the speaker split counted as the notebook
  makes it.
* :func:`check_contours` (``tongue_model``): an ``.npz`` of traced contours, its arrays' shapes
  and the ranks the cross-validation can fit with the notebook's parameters.

Nothing here decodes video or audio samples; each problem is one
:class:`~mricompendium.data.errors.DataError` naming the file or the parameter.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.rtmri.usc_tree import RecordingFiles, find_recordings, speaker_roles

__all__ = ["check_contours", "check_recordings", "pose_rank_limit"]

MAX_MISMATCH_S = 0.5  # as mricompendium.data.rtmri.usc.load_recording


def _frames_shape(f: RecordingFiles) -> tuple[int, int, int]:
    import h5py

    p = f.frames
    if p.is_dir():
        pngs = sorted(p.glob("*.png"))
        if not pngs:
            raise DataError(p, "folder holds no PNG frames")
        from PIL import Image

        with Image.open(pngs[0]) as im:
            w, h = im.size
        return len(pngs), h, w
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            shape = np.load(p, mmap_mode="r", allow_pickle=False).shape
        except ValueError as err:
            raise DataError(p, f"not a readable .npy array ({err})") from err
    elif suffix in (".h5", ".hdf5"):
        try:
            with h5py.File(p, "r") as h:
                names = [f.dataset] if f.dataset else []
                if not names:  # the first 3D dataset, as read_frames
                    h.visititems(
                        lambda n, o: names.append(n) if getattr(o, "ndim", 0) == 3 else None
                    )
                if not names or names[0] not in h:
                    raise DataError(p, f"no 3D dataset {f.dataset or '(T, H, W)'} in the file")
                shape = tuple(h[names[0]].shape)
        except OSError as err:
            raise DataError(p, f"not a readable HDF5 file ({err})") from err
    else:
        raise DataError(p, "videos are decoded only by the notebook; convert them to PNG frames")
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(p, f"frames must be (T, H, W), got shape {shape}")
    t, h, w = shape
    return (t, w, h) if f.transpose else (t, h, w)


def _audio_seconds(path: Path) -> float:
    import soundfile as sf

    try:
        info = sf.info(os.fspath(path))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(path, f"not a readable audio file ({err})") from err
    if info.frames == 0:
        raise DataError(path, "audio file holds no samples")
    return info.frames / info.samplerate


def check_recordings(path: str | os.PathLike[str], *, frame_rate_hz: float) -> str:
    """Check an ``mri2speech`` ``data_path`` as the notebook reads it; describe it.

    The notebook holds out the last quarter of the speakers (by name) as unseen, and the last
    fifth of each seen speaker's recordings as seen test; of the rest, each speaker's last one
    validates. So it needs two speakers, a training and a validation recording.

    Raises:
        DataError: as :func:`mricompendium.data.rtmri.usc.load_folder` would (frames and audio
            lasting differently at ``frame_rate_hz``, unreadable files), or a split that leaves
            no unseen speaker, no training or no validation recording.
    """
    root = Path(path)
    files, skipped = find_recordings(root)
    sizes = set()
    for f in files:
        t, h, w = _frames_shape(f)
        sizes.add((h, w))
        video_s, audio_s = t / frame_rate_hz, _audio_seconds(f.audio)
        if abs(video_s - audio_s) > MAX_MISMATCH_S:
            raise DataError(
                f.frames,
                f"video lasts {video_s:.2f} s at data_frame_rate={frame_rate_hz} frames/s but "
                f"{f.audio.name} lasts {audio_s:.2f} s (wrong frame rate or mismatched files?)",
            )
    _check_alignments(files)
    counts: dict[str, int] = {}
    for f in files:
        counts[f.speaker] = counts.get(f.speaker, 0) + 1
    roles = speaker_roles(counts)
    train = [sum(r == "train" for r in rs) for rs in roles.values()]
    unseen = sum(rs[0] == "unseen" for rs in roles.values())
    if unseen == 0 or sum(train) < 1 or sum(n > 1 for n in train) < 1:
        raise DataError(
            root,
            f"{len(counts)} speaker(s) with {sorted(counts.values())} recordings: the split needs "
            "two speakers (one unseen) and a seen speaker with 3 or more recordings (one held "
            "out, one validating, one training)",
        )
    extra = f"; {len(skipped)} reconstructions without audio skipped" if skipped else ""
    shapes = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
    return (
        f"{len(files)} rtMRI recordings of {len(counts)} speakers ({unseen} unseen), frames "
        f"{shapes} at {frame_rate_hz:g} frames/s, audio lengths matching{extra}"
    )


def _check_alignments(files: list[RecordingFiles]) -> None:
    """Every recording needs a phone alignment holding a vowel of the notebook's inventory: its
    phone error rate, vowel classifier and formant scores are computed from those segments."""
    from mricompendium.data.rtmri.usc import read_alignment
    from mricompendium.data.rtmri.utterances import CONSONANTS, VOWELS

    for f in files:
        if f.alignment is None:
            raise DataError(
                f.audio,
                "has no phone alignment (<stem>_audio.TextGrid or <stem>.lab beside it): "
                "mri2speech scores phone error rate and vowels from one, in its phone inventory "
                f"(vowels {' '.join(VOWELS)}; consonants {' '.join(CONSONANTS)})",
            )
        phones = {s.phone for s in read_alignment(f.alignment)}
        if not phones & set(VOWELS):
            raise DataError(f.alignment, f"holds no vowel of the notebook's inventory "
                            f"({' '.join(VOWELS)}); map the aligner's labels to it")  # fmt: skip


def pose_rank_limit(n_poses: int, pose_folds: int) -> int:
    """The largest pose rank the cross-validation can fit: the poses left when the largest
    block is held out (:func:`mricompendium.experiments.speech.tongue_cv.cv_errors`)."""
    k = min(pose_folds, n_poses)
    return n_poses - len(np.array_split(np.arange(n_poses), k)[0])


def check_contours(
    path: str | os.PathLike[str],
    *,
    n_train_speakers: int,
    max_anatomy_rank: int,
    max_pose_rank: int,
    pose_folds: int,
) -> str:
    """Check a ``tongue_model`` ``data_path`` (``.npz``: ``tongue (S, P, N, 2)``, ``palate
    (S, M, 2)`` in cm, optional ``anatomy (S, k)``) against the notebook's parameters.

    Raises:
        DataError: missing or misshapen arrays, non-finite coordinates (names the file), or a
            parameter the data cannot serve (names the parameter and the largest value allowed).
    """
    from mricompendium.data.rtmri.corpus import read_npz

    p = Path(path)
    arrays = read_npz(p, ("tongue", "palate"))
    tongue, palate = arrays["tongue"], arrays["palate"]
    if tongue.ndim != 4 or tongue.shape[-1] != 2 or palate.ndim != 3 or palate.shape[-1] != 2:
        raise DataError(p, f"tongue {tongue.shape} / palate {palate.shape}: expected "
                        "(speakers, poses, points, 2) and (speakers, points, 2)")  # fmt: skip
    s, poses, points, _ = tongue.shape
    if palate.shape[0] != s or ("anatomy" in arrays and len(arrays["anatomy"]) != s):
        raise DataError(p, f"arrays disagree on the number of speakers (tongue has {s})")
    if not (np.all(np.isfinite(tongue)) and np.all(np.isfinite(palate))):
        raise DataError(p, "contours hold NaN or infinite coordinates")
    limits = {
        "n_train_speakers": (n_train_speakers, s - 1, f"{s} speakers leave one unseen"),
        "max_anatomy_rank": (max_anatomy_rank, n_train_speakers - 1,
                             f"cross-validation fits {n_train_speakers - 1} training speakers"),
        "max_pose_rank": (max_pose_rank, pose_rank_limit(poses, pose_folds),
                          f"{poses} poses in {min(pose_folds, poses)} folds leave that many"),
    }  # fmt: skip
    for key, (value, top, why) in limits.items():
        if value > top:
            raise DataError(f"{key}={value}", f"must be <= {top} for {p.name} ({why})")
    if n_train_speakers < 2:
        raise DataError(f"n_train_speakers={n_train_speakers}", "must be >= 2 (one-SE rule)")
    return (
        f"tongue contours: {s} speakers ({n_train_speakers} build the models, "
        f"{s - n_train_speakers} unseen) x {poses} poses x {points} points; pose ranks up to "
        f"{pose_rank_limit(poses, pose_folds)} fit with {pose_folds} folds"
    )
