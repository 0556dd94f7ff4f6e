"""Loaders for Natural Scenes Dataset (NSD)-style single-trial betas and their stimulus tables.

NSD releases one file of single-trial GLMsingle betas per session and subject, either as NIfTI
(``betas_sessionXX.nii.gz``, ``(X, Y, Z, trials)``) or HDF5 (``betas_sessionXX.hdf5``,
dataset ``betas`` stored ``(trials, Z, Y, X)``), as int16 percent signal change times 300; the
``nsdgeneral`` ROI (a NIfTI mask, 1 inside) selects the visual voxels; ``nsd_expdesign.mat``
maps each trial to an image (``masterordering`` indexes ``subjectim``, whose entries are 1-based
ids among the 73,000 images in ``nsd_stimuli.hdf5``, dataset ``imgBrick``
``(73000, 425, 425, 3)`` uint8).

Everything here reads exactly those layouts (and a plain CSV stimulus table with columns
``trial, image``), and fails with :class:`~mricompendium.data.errors.DataError` naming the file
and the problem, or :class:`FileNotFoundError` naming the missing path.

Which files a ``data_path`` holds (NSD's own download tree or a flat copy) is found by
:mod:`mricompendium.data.fmri.nsd_tree`; :func:`load_subject` reads one subject's.

Orientation: the ROI mask and NIfTI betas are compared on their RAS+ grids
(:mod:`mricompendium.data.orientation`; refused, naming both files, when they differ) and the
mask is brought into the betas' stored voxel order before voxels are selected. HDF5 betas carry
no affine: they are NSD's NIfTI voxel order transposed, so the mask is used as stored and only
its shape is checked.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.fmri.nsd_tree import (
    NSD_TRIALS_PER_SESSION,
    SubjectFiles,
    find_layout,
    session_files,
)
from mricompendium.data.loaders import load_nifti, open_h5
from mricompendium.data.orientation import Grid, check_same_grid, header_grid, load_ras

__all__ = [
    "NSD_BETA_SCALE",
    "NSDSubject",
    "describe_nsd_folder",
    "inspect_betas",
    "load_betas",
    "load_mask",
    "load_nsd_images",
    "load_nsd_subject",
    "load_stimulus_table",
    "load_subject",
    "nsd_trial_images",
    "subject_trial_images",
]

NSD_BETA_SCALE = 300.0  # NSD stores int16 betas as percent signal change * 300
PathLike = str | os.PathLike[str]


def _exists(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    return p


def load_mask(path: PathLike) -> np.ndarray:
    """A NIfTI ROI ``(X, Y, Z)`` as a boolean mask (``> 0`` inside; NSD marks outside with -1)."""
    data, _ = load_nifti(_exists(path), dtype=np.float32, ndim=(3,))
    mask = data > 0
    if not mask.any():
        raise DataError(path, "mask holds no voxel > 0")
    return mask


def _mask_for(betas: Path, mask_file: Path) -> np.ndarray:
    """The ROI as a boolean mask in the voxel order of ``betas`` (see the module docstring)."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, ornt_transform

    if betas.name.lower().endswith((".hdf5", ".h5")):
        return load_mask(mask_file)
    data, grid = load_ras(mask_file, dtype=np.float32)
    target = header_grid(betas, ndim=(4,))
    check_same_grid(grid, target, what=f"betas vs the ROI {mask_file.name}")
    to_stored = ornt_transform(axcodes2ornt("RAS"), target.ornt)
    mask = apply_orientation(data, to_stored) > 0
    if not mask.any():
        raise DataError(mask_file, "mask holds no voxel > 0")
    return np.ascontiguousarray(mask)


def inspect_betas(path: PathLike, mask_file: Path | None = None) -> int:
    """The number of trials of one session file, from its header (NIfTI) or dataset shape
    (HDF5), checked against the ROI's grid; no beta is read.

    Raises:
        DataError: not 4-D, no ``betas`` dataset, a grid or shape that differs from the ROI's.
    """

    p = _exists(path)
    if p.name.lower().endswith((".hdf5", ".h5")):
        with open_h5(p) as f:
            if "betas" not in f:
                raise DataError(p, f"has no dataset 'betas' (datasets: {sorted(f.keys())})")
            shape = tuple(f["betas"].shape)
        if len(shape) != 4:
            raise DataError(p, f"dataset 'betas' has shape {shape}; expected (trials, Z, Y, X)")
        if mask_file is not None:
            m = header_grid(mask_file)
            stored = tuple(int(m.shape[int(a)]) for a in m.ornt[:, 0])  # the file's own order
            if stored != shape[:0:-1]:
                raise DataError(
                    p, f"volume {shape[:0:-1]} does not match {mask_file.name} {stored}"
                )
        return int(shape[0])
    grid: Grid = header_grid(p, ndim=(4,))
    if mask_file is not None:
        check_same_grid(header_grid(mask_file), grid, what=f"betas vs the ROI {mask_file.name}")
    return int(grid.shape[3])


def _read_hdf5_betas(p: Path) -> np.ndarray:
    with open_h5(p) as f:
        if "betas" not in f:
            raise DataError(p, f"has no dataset 'betas' (datasets: {sorted(f.keys())})")
        data = f["betas"][()]
    if data.ndim != 4:
        raise DataError(p, f"dataset 'betas' has shape {data.shape}; expected (trials, Z, Y, X)")
    return np.transpose(data, (3, 2, 1, 0))  # -> (X, Y, Z, trials), the NIfTI layout


def load_betas(
    path: PathLike, *, mask: np.ndarray | None = None, scale: float | None = None
) -> np.ndarray:
    """Single-trial betas of one session as ``(trials, voxels)`` float32.

    Args:
        path: ``.nii``/``.nii.gz`` ``(X, Y, Z, trials)`` or ``.hdf5``/``.h5`` (dataset ``betas``,
            ``(trials, Z, Y, X)``).
        mask: boolean ``(X, Y, Z)``; voxels inside are kept, in C order (default: all).
        scale: divide the stored values by this; default :data:`NSD_BETA_SCALE` for integer
            data (NSD's int16 convention) and 1 for floating-point data.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: unreadable file, wrong layout, mask shape mismatch, or non-finite values.
    """
    p = _exists(path)
    name = p.name.lower()
    if name.endswith((".hdf5", ".h5")):
        raw = _read_hdf5_betas(p)
    elif name.endswith((".nii", ".nii.gz")):
        raw, _ = load_nifti(p, dtype=None, ndim=(4,))
    else:
        raise DataError(p, "unknown betas format; expected .nii, .nii.gz, .hdf5 or .h5")
    if mask is not None:
        if mask.shape != raw.shape[:3]:
            raise DataError(p, f"volume {raw.shape[:3]} does not match the mask {mask.shape}")
        raw = raw[mask]  # (V, trials)
    else:
        raw = raw.reshape(-1, raw.shape[-1])
    if scale is None:
        scale = NSD_BETA_SCALE if np.issubdtype(raw.dtype, np.integer) else 1.0
    betas = (raw.astype(np.float32) / np.float32(scale)).T
    if not np.isfinite(betas).all():
        raise DataError(p, f"holds {int((~np.isfinite(betas)).sum())} non-finite beta values")
    return np.ascontiguousarray(betas)


def load_stimulus_table(path: PathLike) -> dict[str, np.ndarray]:
    """A CSV stimulus-index table: one row per trial, columns ``trial`` and ``image`` (0-based).

    Extra columns (``session``, ``run``, ``category``, ``caption``...) are kept, as strings or
    integers. Rows are returned in trial order.
    """
    import pandas as pd

    p = _exists(path)
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(p, f"not a readable CSV table ({err})") from err
    missing = [c for c in ("trial", "image") if c not in df.columns]
    if missing:
        raise DataError(p, f"missing columns {missing} (has {list(df.columns)})")
    if df.isna().to_numpy().any():  # a cut line, or a field left empty
        row = int(df.isna().any(axis=1).to_numpy().argmax())
        raise DataError(p, f"row {row + 1} has empty fields (a truncated or damaged file?)")
    for col in ("trial", "image"):
        if not pd.api.types.is_integer_dtype(df[col]) or (df[col] < 0).any():
            raise DataError(p, f"column {col!r} must hold non-negative integers")
    if df["trial"].duplicated().any():
        raise DataError(p, "column 'trial' has duplicate values")
    df = df.sort_values("trial")
    return {c: df[c].to_numpy() for c in df.columns}


def nsd_trial_images(
    path: PathLike,
    subject: int,
    n_trials: int | None = None,
    *,
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """0-based NSD image ids (among 73,000) of one subject's trials, from ``nsd_expdesign.mat``.

    Args:
        path: NSD's ``nsd_expdesign.mat`` (``masterordering`` 1 x 30000, ``subjectim`` 8 x 10000).
        subject: 1-8.
        n_trials: keep the first trials only (e.g. 750 per session loaded).
        trials: 0-based trial numbers to map instead (e.g. those of sessions 3 and 7).
    """
    from scipy.io import loadmat

    p = _exists(path)
    try:
        mat = loadmat(p)
    except (ValueError, OSError, TypeError) as err:
        raise DataError(p, f"not a readable MATLAB file ({err})") from err
    for key in ("masterordering", "subjectim"):
        if key not in mat:
            raise DataError(p, f"has no variable {key!r}")
    order = np.asarray(mat["masterordering"]).ravel().astype(np.int64)
    subjectim = np.asarray(mat["subjectim"]).astype(np.int64)
    if not 1 <= subject <= subjectim.shape[0]:
        raise DataError(p, f"subject {subject} out of range 1..{subjectim.shape[0]}")
    if order.min() < 1 or order.max() > subjectim.shape[1]:
        raise DataError(p, "masterordering indexes outside subjectim")
    ids = subjectim[subject - 1, order - 1] - 1
    if trials is not None:
        trials = np.asarray(trials, dtype=np.int64)
        if trials.size and (trials.min() < 0 or trials.max() >= ids.size):
            raise DataError(
                p, f"masterordering lists {ids.size} trials, trial {trials.max()} asked"
            )
        return ids[trials]
    return ids[:n_trials] if n_trials is not None else ids


def load_nsd_images(path: PathLike, ids: np.ndarray, size: int) -> np.ndarray:
    """Images ``ids`` from ``nsd_stimuli.hdf5`` (``imgBrick``), resized: ``(N, 3, size, size)``."""
    import torch
    import torch.nn.functional as F

    p = _exists(path)
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids)
    with open_h5(p) as f:
        if "imgBrick" not in f:
            raise DataError(p, f"has no dataset 'imgBrick' (datasets: {sorted(f.keys())})")
        brick = f["imgBrick"]
        if brick.ndim != 4 or brick.shape[-1] != 3 or ids.max(initial=0) >= brick.shape[0]:
            raise DataError(p, f"imgBrick {brick.shape} cannot serve ids up to {ids.max()}")
        uniq, inv = np.unique(ids[order], return_inverse=True)
        raw = brick[uniq.tolist()]
    x = torch.from_numpy(raw[inv]).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="area")
    out = np.empty((ids.size, 3, size, size), np.float32)
    out[order] = x.numpy()
    return out


def subject_trial_images(files: SubjectFiles, counts: list[int]) -> np.ndarray:
    """0-based image ids of the trials of ``files.betas[:len(counts)]`` (``counts`` trials each).

    With NSD's design file, session ``s`` holds NSD's trials ``750 (s - 1) ...``; with a
    ``stimulus_table.csv``, rows are the loaded sessions' trials in order.

    Raises:
        DataError: a session with more than 750 trials, or a table listing too few trials.
        ValueError: the design file without a subject number (a folder not named ``subjNN``).
    """
    if files.table is not None:
        image = load_stimulus_table(files.table)["image"]
        if len(image) < sum(counts):
            raise DataError(files.table, f"lists {len(image)} trials, the betas hold {sum(counts)}")
        return image[: sum(counts)]
    assert files.design is not None
    if files.number is None:
        raise ValueError(f"{files.name}: not named subjNN, so {files.design} cannot be read for it")
    parts = []
    for s, n, f in zip(files.sessions, counts, files.betas, strict=False):
        if n > NSD_TRIALS_PER_SESSION:
            raise DataError(f, f"holds {n} trials; an NSD session has {NSD_TRIALS_PER_SESSION}")
        parts.append(NSD_TRIALS_PER_SESSION * (s - 1) + np.arange(n))
    return nsd_trial_images(files.design, files.number, trials=np.concatenate(parts))


@dataclasses.dataclass
class NSDSubject:
    """One subject's real betas: ``betas (trials, V)`` z-scored per session, ``session (trials,)``
    (0-based position among the sessions read), ``image (trials,)`` 0-based ids into
    ``imgBrick``, and the files read (for the record's fingerprint)."""

    name: str
    betas: np.ndarray
    session: np.ndarray
    image: np.ndarray
    files: list[Path]


def load_subject(files: SubjectFiles, *, max_sessions: int | None = None) -> NSDSubject:
    """Load one subject (:class:`~mricompendium.data.fmri.nsd_tree.SubjectFiles`); betas are
    z-scored per session, the ROI (if any) selects the voxels."""
    betas_files = list(files.betas[:max_sessions])
    parts, sessions = [], []
    for s, f in enumerate(betas_files):
        mask = _mask_for(f, files.mask) if files.mask is not None else None
        b = load_betas(f, mask=mask)
        parts.append((b - b.mean(0)) / (b.std(0) + 1e-6))
        sessions.append(np.full(len(b), s))
    betas, session = np.concatenate(parts), np.concatenate(sessions)
    image = subject_trial_images(files, [len(p) for p in parts])
    used = [p for p in (files.table, files.design, files.mask) if p is not None]
    return NSDSubject(files.name, betas.astype(np.float32), session, image, betas_files + used)


def load_nsd_subject(
    folder: PathLike, *, subject: int | None = None, max_sessions: int | None = None
) -> NSDSubject:
    """Load a flat subject folder ``subjNN/`` (betas, optional ``nsdgeneral.nii.gz``, and
    ``stimulus_table.csv`` or ``../nsd_expdesign.mat``); betas z-scored per session.

    Args:
        folder: the subject's folder.
        subject: NSD subject number for the design file (default: from the name ``subjNN``).
        max_sessions: read the first sessions only.
    """
    folder = _exists(folder)
    sessions, betas = session_files(folder)
    table = folder / "stimulus_table.csv"
    design = folder.parent / "nsd_expdesign.mat"
    number = subject if subject is not None else (
        int(folder.name[4:]) if folder.name[4:].isdigit() else None)  # fmt: skip
    if not table.exists() and number is None:
        raise ValueError(f"{folder}: no stimulus_table.csv; pass subject= to use {design}")
    mask = folder / "nsdgeneral.nii.gz"
    files = SubjectFiles(folder.name, number, sessions, betas, mask if mask.exists() else None,
                         table if table.exists() else None,
                         None if table.exists() else design)  # fmt: skip
    return load_subject(files, max_sessions=max_sessions)


def describe_nsd_folder(folder: PathLike) -> str:
    """Check a MindEye2 ``data_path``'s layout quickly (no betas loaded) and describe it.

    Raises:
        FileNotFoundError: ``folder`` or a required file does not exist.
        DataError: fewer than two subject folders, a subject without a stimulus table or design
            file, or an ``nsd_stimuli.hdf5`` without ``imgBrick``.
    """
    from mricompendium.data.fmri.nsd_tree import _stimuli_shape

    layout = find_layout(folder)
    parts = [f"{s.name}: {len(s.betas)} sessions" for s in layout.subjects]
    shape = _stimuli_shape(layout.stimuli)
    return (
        f"{len(layout.subjects)} subjects ({', '.join(parts)}); nsd_stimuli.hdf5 imgBrick {shape}"
    )
