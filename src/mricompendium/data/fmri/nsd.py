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

Folder layout read by :func:`load_nsd_subject`::

    <folder>/nsdgeneral.nii.gz               mask, 1 inside (optional: all voxels otherwise)
    <folder>/betas_session01.nii.gz | .hdf5  one file per session, sessions in name order
    <folder>/stimulus_table.csv              trial, image (0-based ids) ... or
    <folder>/../nsd_expdesign.mat            with ``subject=`` (NSD's shared design file)
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import load_nifti, open_h5

__all__ = [
    "NSD_BETA_SCALE",
    "NSDSubject",
    "describe_nsd_folder",
    "load_betas",
    "load_mask",
    "load_nsd_images",
    "load_nsd_subject",
    "load_stimulus_table",
    "nsd_trial_images",
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


def nsd_trial_images(path: PathLike, subject: int, n_trials: int | None = None) -> np.ndarray:
    """0-based NSD image ids (among 73,000) of one subject's trials, from ``nsd_expdesign.mat``.

    Args:
        path: NSD's ``nsd_expdesign.mat`` (``masterordering`` 1 x 30000, ``subjectim`` 8 x 10000).
        subject: 1-8.
        n_trials: keep the first trials only (e.g. 750 per session loaded).
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


@dataclasses.dataclass
class NSDSubject:
    """One subject's real betas: ``betas (trials, V)`` z-scored per session, ``session (trials,)``,
    ``image (trials,)`` ids, and the files read (for the record's fingerprint)."""

    name: str
    betas: np.ndarray
    session: np.ndarray
    image: np.ndarray
    files: list[Path]


def _session_files(folder: Path) -> list[Path]:
    pattern = re.compile(r"betas_session(\d+)\.(nii|nii\.gz|hdf5|h5)$")
    files = sorted(
        (f for f in folder.iterdir() if pattern.search(f.name)),
        key=lambda f: int(pattern.search(f.name).group(1)),
    )
    if not files:
        raise FileNotFoundError(f"{folder}: no betas_sessionXX.(nii.gz|hdf5) files")
    return files


def load_nsd_subject(
    folder: PathLike, *, subject: int | None = None, max_sessions: int | None = None
) -> NSDSubject:
    """Load a subject folder (layout in the module docstring); betas z-scored per session.

    Args:
        folder: the subject's folder.
        subject: NSD subject number, needed only with ``nsd_expdesign.mat``.
        max_sessions: read the first sessions only.
    """
    folder = _exists(folder)
    files = _session_files(folder)[:max_sessions]
    mask_file = folder / "nsdgeneral.nii.gz"
    mask = load_mask(mask_file) if mask_file.exists() else None
    parts, sessions = [], []
    for s, f in enumerate(files):
        b = load_betas(f, mask=mask)
        parts.append((b - b.mean(0)) / (b.std(0) + 1e-6))
        sessions.append(np.full(len(b), s))
    betas, session = np.concatenate(parts), np.concatenate(sessions)
    table = folder / "stimulus_table.csv"
    if table.exists():
        image = load_stimulus_table(table)["image"]
        used = [table]
    else:
        design = folder.parent / "nsd_expdesign.mat"
        if subject is None:
            raise ValueError(f"{folder}: no stimulus_table.csv; pass subject= to use {design}")
        image, used = nsd_trial_images(design, subject), [design]
    if len(image) < len(betas):
        raise DataError(used[0], f"lists {len(image)} trials but the betas hold {len(betas)}")
    read = files + used + ([mask_file] if mask is not None else [])
    return NSDSubject(folder.name, betas.astype(np.float32), session, image[: len(betas)], read)


def describe_nsd_folder(folder: PathLike) -> str:
    """Check a MindEye2 ``data_path`` quickly (layout, headers; no betas loaded) and describe it.

    Raises:
        FileNotFoundError: ``folder`` or a required file does not exist.
        DataError: fewer than two subject folders, a subject without a stimulus table or design
            file, or an ``nsd_stimuli.hdf5`` without ``imgBrick``.
    """

    root = _exists(folder)
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("subj"))
    if len(dirs) < 2:
        raise DataError(root, f"needs >= 2 subject folders subjNN/, found {len(dirs)}")
    parts = []
    for d in dirs:
        files = _session_files(d)
        if not (d / "stimulus_table.csv").exists() and not (root / "nsd_expdesign.mat").exists():
            raise DataError(d, "has no stimulus_table.csv and the folder no nsd_expdesign.mat")
        parts.append(f"{d.name}: {len(files)} sessions")
    stim = _exists(root / "nsd_stimuli.hdf5")
    with open_h5(stim) as f:
        if "imgBrick" not in f:
            raise DataError(stim, "has no dataset 'imgBrick'")
        shape = f["imgBrick"].shape
    return f"{len(dirs)} subjects ({', '.join(parts)}); nsd_stimuli.hdf5 imgBrick {shape}"
