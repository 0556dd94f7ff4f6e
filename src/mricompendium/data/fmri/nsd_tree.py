"""Where a MindEye2 ``data_path`` keeps each NSD file: NSD's own download tree, or a flat copy.

NSD's download tree (the layout of its S3 bucket, ``s3://natural-scenes-dataset/``), read as it
is::

    <root>/nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/
        betas_session01.nii.gz | betas_session01.hdf5 ...     one file per session, 750 trials
    <root>/nsddata/ppdata/subj01/func1pt8mm/roi/nsdgeneral.nii.gz   optional ROI (1 inside)
    <root>/nsddata/experiments/nsd/nsd_expdesign.mat          trial -> image (masterordering,
                                                              subjectim, 1-based 73k ids)
    <root>/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5       imgBrick (73000, 425, 425, 3)

``func1mm`` is read where ``func1pt8mm`` is absent, and ``betas_fithrf`` / ``betas_assumehrf``
where ``betas_fithrf_GLMdenoise_RR`` is. Sessions are numbered by their file names; trial ``t``
of session ``s`` is NSD's trial ``750 (s - 1) + t``, so a subset of sessions maps correctly.

A flat copy (the earlier layout, still read)::

    <root>/subjNN/betas_sessionXX.nii.gz | .hdf5, optional nsdgeneral.nii.gz, and
        stimulus_table.csv (trial, image: 0-based ids, the loaded sessions' trials in order)
    <root>/nsd_expdesign.mat (instead of the tables), <root>/nsd_stimuli.hdf5

:func:`find_layout` says which files a run reads; :func:`check_layout` checks them (headers,
grids, trial counts, the split the notebook needs) without loading betas.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import open_h5

__all__ = [
    "BETA_VERSIONS",
    "NSD_TRIALS_PER_SESSION",
    "SPACES",
    "NSDLayout",
    "SubjectFiles",
    "check_layout",
    "find_layout",
    "image_name",
    "session_files",
]

PathLike = str | os.PathLike[str]
NSD_TRIALS_PER_SESSION = 750
SPACES = ("func1pt8mm", "func1mm")
BETA_VERSIONS = ("betas_fithrf_GLMdenoise_RR", "betas_fithrf", "betas_assumehrf")
_SESSION = re.compile(r"^betas_session(\d+)\.(nii|nii\.gz|hdf5|h5)$")
_SUBJECT = re.compile(r"^subj(\d+)$")


@dataclass(frozen=True)
class SubjectFiles:
    """One subject's files: betas per session (numbers from the names), ROI, trial -> image."""

    name: str
    number: int | None
    sessions: tuple[int, ...]
    betas: tuple[Path, ...]
    mask: Path | None
    table: Path | None
    design: Path | None


@dataclass(frozen=True)
class NSDLayout:
    """The files of a ``data_path``: subjects in name order, the stimuli, the layout in words."""

    root: Path
    subjects: tuple[SubjectFiles, ...]
    stimuli: Path
    description: str


def image_name(image_id: int) -> str:
    """An image's name from its 0-based index into ``imgBrick``: ``nsd`` + NSD's 1-based 73k id
    in five digits (``nsd02951``, as NSD names its shared images ``shared0001_nsd02951.png``)."""
    return f"nsd{int(image_id) + 1:05d}"


def session_files(folder: Path) -> tuple[tuple[int, ...], tuple[Path, ...]]:
    """Session numbers and files ``betas_sessionXX.(nii|nii.gz|hdf5|h5)`` of a folder, in order.

    Raises:
        FileNotFoundError: none in ``folder`` (named).
        DataError: a session number found twice (e.g. both ``.nii.gz`` and ``.hdf5``).
    """
    found: dict[int, Path] = {}
    for f in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = _SESSION.match(f.name)
        if not m:
            continue
        s = int(m.group(1))
        if s in found:
            raise DataError(f, f"session {s} also in {found[s].name}: keep one format per session")
        found[s] = f
    if not found:
        raise FileNotFoundError(f"{folder}: no betas_sessionXX.nii.gz or .hdf5 files")
    order = sorted(found)
    return tuple(order), tuple(found[s] for s in order)


def _number(name: str) -> int | None:
    m = _SUBJECT.match(name)
    return int(m.group(1)) if m else None


def _official(root: Path) -> NSDLayout:
    base = root / "nsddata_betas" / "ppdata"
    subjects, used = [], set()
    for d in sorted(p for p in base.iterdir() if p.is_dir() and _SUBJECT.match(p.name)):
        folder = next(
            (d / sp / v for sp in SPACES for v in BETA_VERSIONS if (d / sp / v).is_dir()), None
        )
        if folder is None:
            continue
        sessions, betas = session_files(folder)
        space, version = folder.parent.name, folder.name
        used.add(f"{space}/{version}")
        mask = root / "nsddata" / "ppdata" / d.name / space / "roi" / "nsdgeneral.nii.gz"
        design = root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat"
        if not design.is_file():
            raise FileNotFoundError(f"{design}: NSD's design file (trial -> image) is missing")
        subjects.append(
            SubjectFiles(
                d.name,
                _number(d.name),
                sessions,
                betas,
                mask if mask.is_file() else None,
                None,
                design,
            )  # fmt: skip
        )
    if not subjects:
        raise DataError(
            base, "holds no subjNN/<func1pt8mm|func1mm>/<betas version>/betas_sessionXX files"
        )
    stimuli = root / "nsddata_stimuli" / "stimuli" / "nsd" / "nsd_stimuli.hdf5"
    what = f"NSD download tree ({', '.join(sorted(used))})"
    return NSDLayout(root, tuple(subjects), stimuli, what)


def _flat(root: Path) -> NSDLayout:
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("subj"))
    design = root / "nsd_expdesign.mat"
    subjects = []
    for d in dirs:
        sessions, betas = session_files(d)
        table = d / "stimulus_table.csv"
        if not table.is_file() and not design.is_file():
            raise DataError(d, "has no stimulus_table.csv and the folder no nsd_expdesign.mat")
        mask = d / "nsdgeneral.nii.gz"
        subjects.append(
            SubjectFiles(
                d.name,
                _number(d.name),
                sessions,
                betas,
                mask if mask.is_file() else None,
                table if table.is_file() else None,
                None if table.is_file() else design,
            )  # fmt: skip
        )
    return NSDLayout(root, tuple(subjects), root / "nsd_stimuli.hdf5", "flat NSD-style folders")


def find_layout(root: PathLike) -> NSDLayout:
    """The files a MindEye2 run reads under ``root`` (see the module docstring).

    Raises:
        FileNotFoundError: ``root``, a subject's betas or the design file missing (named).
        DataError: fewer than two subjects, or an ambiguous session (named).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    official = (root / "nsddata_betas" / "ppdata").is_dir()
    layout = _official(root) if official else _flat(root)
    if len(layout.subjects) < 2:
        where = "nsddata_betas/ppdata/" if official else ""
        raise DataError(
            root, f"needs >= 2 subject folders {where}subjNN/, found {len(layout.subjects)}"
        )
    return layout


def check_layout(
    root: PathLike,
    *,
    target_sessions: int,
    pretrain_sessions: int | None,
    n_val: int,
    n_test: int,
) -> str:
    """Check what :func:`~mricompendium.experiments.fmri.study.nsd_mindeye2_study` reads, from
    headers and the trial tables (no betas loaded); describe it.

    The first subject is the new one: it needs ``target_sessions`` sessions and more than
    ``n_val + 1`` training trials (trials showing no image every subject saw); every other
    subject pretrains on its first ``pretrain_sessions`` sessions (``None`` or more than it has:
    all it has); at least two images must have been seen by every subject (the shared test
    images, at most ``n_test`` used).

    Raises:
        FileNotFoundError, DataError: naming the file or the parameter at fault.
    """
    from mricompendium.data.fmri.nsd import inspect_betas, subject_trial_images

    layout = find_layout(root)
    images, parts, first_counts = [], [], []
    for i, s in enumerate(layout.subjects):
        if i == 0 and len(s.betas) < target_sessions:
            raise DataError(s.betas[0].parent, f"{s.name} (the new subject) has {len(s.betas)} "
                            f"sessions, fewer than target_sessions={target_sessions}")  # fmt: skip
        counts = [inspect_betas(f, s.mask) for f in s.betas]
        first_counts = first_counts or counts
        images.append(subject_trial_images(s, counts))
        limit = target_sessions if i == 0 else (pretrain_sessions or len(s.betas))
        used = min(len(s.betas), limit)
        parts.append(f"{s.name} {len(s.betas)} sessions ({used} trained on), {sum(counts)} trials")
    shared = set.intersection(*(set(im.tolist()) for im in images))
    if len(shared) < 2:
        raise DataError(layout.root, "fewer than 2 images were seen by every subject: no test set")
    first = layout.subjects[0]
    n_first = sum(first_counts[:target_sessions])
    train = int(np.sum(~np.isin(images[0][:n_first], list(shared))))
    if train <= n_val + 1:
        raise DataError(
            first.betas[0].parent,
            f"{first.name}: {train} training trials in its first {target_sessions} session(s) "
            f"(target_sessions), need more than n_val + 1 = {n_val + 1}",
        )
    brick = _stimuli_shape(layout.stimuli)
    top = max(int(im.max()) for im in images)
    if top >= brick[0]:
        raise DataError(layout.stimuli, f"imgBrick holds {brick[0]} images, trials show id {top}")
    return (
        f"{layout.description}: {len(layout.subjects)} subjects ({'; '.join(parts)}); "
        f"{min(len(shared), n_test)} shared test images of {len(shared)}; "
        f"nsd_stimuli.hdf5 imgBrick {brick}"
    )


def _stimuli_shape(path: Path) -> tuple[int, ...]:

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open_h5(path) as f:
        if "imgBrick" not in f:
            raise DataError(path, "has no dataset 'imgBrick'")
        shape = tuple(f["imgBrick"].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise DataError(path, f"imgBrick {shape} is not (N, H, W, 3) images")
    return shape
