"""Whole, uncropped volumes with exclusive class labels, for the self-configuring pipeline (S88).

Two tasks:

* ``"anatomy"`` (the default, a multi-structure task in the spirit of AMOS's 15 organs): classes
  1 CSF (ventricles, sulci and the CSF rim), 2 GM, 3 WM, 4 skull, 5 scalp, on synthetic heads;
* ``"tumour"``: classes 1 NCR, 2 ED, 3 ET (the BraTS 2023 values), on synthetic heads with a
  tumour or on BraTS cases (:func:`brats_volumes`, any release's labels mapped to these values).

Synthetic volumes (:func:`synth_volumes`) come from the label-map synthesiser, one seed per case
(its own unit), acquired with thick axial slices so that the data fingerprint is anisotropic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mricompendium.data import synth
from mricompendium.data.segmentation import brats

__all__ = ["CLASSES", "CONTRASTS", "Volume", "brats_volumes", "synth_volumes"]

CONTRASTS = ("T1", "T1c", "T2", "FLAIR")
CLASSES = {
    "anatomy": {"CSF": ("csf", "csf_rim"), "GM": ("gm",), "WM": ("wm",), "skull": ("skull",),
                "scalp": ("scalp",)},
    "tumour": {"NCR": ("necrosis",), "ED": ("oedema",), "ET": ("enhancing",)},
}  # fmt: skip


@dataclass
class Volume:
    """One whole case.

    Attributes:
        image: float32 ``(4, X, Y, Z)`` T1, T1c, T2, FLAIR as acquired (not normalised).
        labels: int64 ``(X, Y, Z)``: 0 background, then the task's classes 1, 2, ...
        spacing_mm: voxel size per axis.
        case: case id (its own unit).
    """

    image: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float, float]
    case: str


def _thick_slices(x: np.ndarray, factor: int, axis: int) -> np.ndarray:
    """Average ``factor`` consecutive slices along ``axis`` (a thick-slice acquisition)."""
    n = x.shape[axis] // factor * factor
    x = np.take(x, np.arange(n), axis=axis)
    shape = list(x.shape)
    shape[axis : axis + 1] = [n // factor, factor]
    return x.reshape(shape).mean(axis=axis + 1)


def _lookup(task: str) -> np.ndarray:
    lut = np.zeros(synth.NUM_LABELS, np.int64)
    for k, names in enumerate(CLASSES[task].values(), start=1):
        for name in names:
            lut[synth.LABELS[name]] = k
    return lut


def synth_volumes(
    n: int,
    *,
    first_seed: int,
    task: str = "anatomy",
    spacing_mm: float = 4.0,
    grid: int = 48,
    slice_factor: int = 2,
    p_tumour: float | None = None,
) -> list[Volume]:
    """Whole synthetic head volumes acquired with thick axial slices.

    Each case is synthesised at ``spacing_mm`` isotropic on a ``grid``-voxel cube, then every
    ``slice_factor`` axial slices are averaged (partial volume), giving voxels of
    ``spacing_mm x spacing_mm x slice_factor * spacing_mm``; labels take the middle slice of each
    group, mapped to the task's classes (:data:`CLASSES`; tumour voxels are background in the
    anatomy task). ``p_tumour`` defaults to 1 for the tumour task and 0 for anatomy.
    """
    if task not in CLASSES:
        raise ValueError(f"task must be one of {sorted(CLASSES)}, got {task!r}")
    if n < 1 or slice_factor < 1:
        raise ValueError(f"need n >= 1 and slice_factor >= 1, got {n}, {slice_factor}")
    p = (1.0 if task == "tumour" else 0.0) if p_tumour is None else p_tumour
    cfg = synth.SynthConfig(spacing_mm=spacing_mm, shape=(grid,) * 3, contrasts=CONTRASTS,
                            p_tumour=p)  # fmt: skip
    lut = _lookup(task)
    out = []
    for seed in range(first_seed, first_seed + n):
        case = synth.synthesise(cfg, seed)
        img = _thick_slices(case.stack(CONTRASTS).numpy(), slice_factor, axis=3)
        lab = lut[case.labels.numpy()][..., slice_factor // 2 :: slice_factor][..., : img.shape[-1]]
        sp = (spacing_mm, spacing_mm, spacing_mm * slice_factor)
        out.append(Volume(img.astype(np.float32), lab, sp, f"synth-{seed}"))
    return out


def brats_volumes(
    root: str, *, max_cases: int | None, skip: int = 0, convention: str = "auto"
) -> list[Volume]:
    """Whole BraTS cases as :class:`Volume` (tumour task: NCR 1, ED 2, ET 3 in any release),
    RAS+; ``convention``: the folder's label convention (``auto``, ``brats2021``, ``brats2023``)."""
    every = brats.find_cases(root)
    conv = brats.resolve_convention(every, convention)
    folders = every[skip:]
    folders = folders[:max_cases] if max_cases else folders
    out = []
    for folder in folders:
        case = brats.load_case(folder, convention=conv)
        if case.labels is None:
            raise ValueError(f"{folder}: no label file; training and testing need labels")
        values = brats.CONVENTIONS[case.convention]
        lab = np.zeros(case.labels.shape, np.int64)
        for k, name in enumerate(("NCR", "ED", "ET"), start=1):
            lab[case.labels == values[name]] = k
        out.append(Volume(case.image, lab, case.spacing_mm, case.case_id))
    return out
