"""Experiments on synthesised slices: data sets from the synthesiser, and one trained method's run.

Shared by the scSE, SynthStrip and synthetic-stroke notebooks. Each case is a 2D slice of its own
synthesised head (its own seed: layer thicknesses, lesion, deformation, contrast, artefacts), so
each case is its own unit of independence. Training, prediction and per-case rows come from
:mod:`mricompendium.experiments.segmentation.common`; this module adds the data sets, the
seeds of independent splits, and :func:`run_method` (train with validation history, score the
test sets at half and full budget).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium import training
from mricompendium.data import synth
from mricompendium.experiments.segmentation import common, floors

__all__ = [
    "SPLITS",
    "MethodRun",
    "SliceSet",
    "TestSet",
    "case_seeds",
    "floor_rows",
    "run_method",
    "synth_slices",
    "user_slices",
]

SPLITS = {"train": 1, "val": 2, "test": 3}


def case_seeds(seed: int, split: str, n: int) -> list[int]:
    """``n`` case seeds of ``split``, disjoint between splits and reproducible from ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    state = np.random.SeedSequence([int(seed), SPLITS[split]]).generate_state(max(n, 1), np.uint64)
    return [int(s >> np.uint64(2)) for s in state[:n]]


@dataclasses.dataclass(frozen=True)
class SliceSet:
    """Synthesised slices.

    Attributes:
        images: float32 ``(N, C, H, W)`` in [0, 1], channels in ``contrasts`` order.
        labels: int64 ``(N, H, W)`` synthesiser labels (:data:`mricompendium.data.synth.LABELS`).
        contrasts: the channel names.
        seeds: the case seeds (a case is reproduced by ``synth.synthesise(config, seed, ...)``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    contrasts: tuple[str, ...]
    seeds: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.seeds)


def synth_slices(
    config: synth.SynthConfig,
    seeds: Sequence[int],
    *,
    plane: str = "axial",
    contrasts: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    slice_pos: tuple[float, float] = (0.0, 1.0),
) -> SliceSet:
    """Synthesise one 2D slice per seed (on ``device``, returned on the CPU).

    ``slice_pos`` narrows each case's drawn slice position to that part of its range: with
    ``config.p_slice_through_lesion = 1``, ``(0.25, 0.75)`` keeps slices in the central half of
    the lesion's extent (no grazing slices).
    """
    names = tuple(contrasts) if contrasts is not None else tuple(config.contrasts)
    lo, hi = slice_pos
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"slice_pos must be a range in [0, 1], got {slice_pos}")
    xs, ys = [], []
    for s in seeds:
        params = synth.sample_case(config, int(s), plane=plane)
        params = dataclasses.replace(params, slice_pos=lo + (hi - lo) * params.slice_pos)
        case = synth.render(config, params, device=device)
        xs.append(case.stack(names).cpu())
        ys.append(case.labels.cpu())
    if not xs:
        raise ValueError("seeds is empty")
    return SliceSet(torch.stack(xs), torch.stack(ys), names, tuple(int(s) for s in seeds))


@dataclasses.dataclass(frozen=True)
class TestSet:
    """A test set scored into result rows.

    Attributes:
        x: images ``(N, C, H, W)``.
        target: label map ``(N, H, W)`` of the scored classes (values ``labels``).
        setting: the rows' ``setting``.
        group: the rows' ``group`` (one per set, or one per case).
        cases: case ids (unique within the setting).
        units: units of independence, one per case.
        spacing: voxel size in mm (for surface distances).
    """

    x: torch.Tensor
    target: torch.Tensor
    setting: str
    group: str | Sequence[str]
    cases: Sequence[str]
    units: Sequence[str]
    spacing: float | Sequence[float] | None = None


@dataclasses.dataclass
class MethodRun:
    """What :func:`run_method` returns: the model, its history and its result rows."""

    model: nn.Module
    history: training.History
    rows: list[dict[str, Any]]


def _score(
    model: nn.Module, tests: Sequence[TestSet], *, method: str, seed: int, budget: int, **kw
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for t in tests:
        rows += common.evaluate(
            model, t.x, t.target, multilabel=False, setting=t.setting, method=method, seed=seed,
            budget=budget, cases=list(t.cases), units=list(t.units), groups=t.group,
            spacing=t.spacing, **kw,
        )  # fmt: skip
    return rows


def run_method(
    method: str,
    build: Callable[[], nn.Module],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    tests: Sequence[TestSet],
    *,
    names: Sequence[str],
    steps: int,
    seed: int,
    batch_size: int,
    lr: float = 1e-3,
    device: str | torch.device = "auto",
    val_every: int | None = None,
    half_budget: bool = True,
    metrics: Sequence[str] = ("dice", "hd95"),
    labels: Sequence[int] | None = None,
    scheduler: str | None = "cosine",
    patch_size: Sequence[int] | None = None,
    p_foreground: float = 0.0,
) -> MethodRun:
    """Train one method (one seed) on ``train`` and score every test set.

    Args:
        method: the method's name (rows' ``method``).
        build: makes the untrained network (called after seeding torch with ``seed``).
        train: ``(x (N, C, H, W), y (N, H, W) int64)``; batches are random cases with flips.
        val: the validation set, scored by mean Dice every ``val_every`` steps (the curve).
        tests: the test sets scored at the end (and at ``steps // 2`` if ``half_budget``).
        names: class names of the scored labels (``labels``, default ``1 .. len(names)``; the
            validation Dice always scores ``1 .. len(names)``).
        steps, seed, batch_size, lr, device: training.
        metrics: row metrics (``"dice"``, ``"hd95"``, ``"msd"``).
        patch_size, p_foreground: train on random patches of this size, a share
            ``p_foreground`` of them placed to contain the target (nnU-Net's foreground
            oversampling, :func:`common.sampler`); default whole images.
        scheduler: learning-rate schedule of :func:`mricompendium.training.fit` (``"cosine"``
            anneals to 0 over ``steps``, so the last quarter of the curve shows convergence).

    Returns:
        A :class:`MethodRun` whose rows hold the full budget (``budget = steps``) and, with
        ``half_budget``, ``steps // 2``.
    """
    training.seed_everything(seed)
    model = build()
    x, y = train
    batch_fn = common.sampler(
        x, y[:, None], batch_size=batch_size, patch_size=patch_size, foreground_p=p_foreground
    )
    lab = list(labels) if labels is not None else list(range(1, len(names) + 1))
    kw = dict(names=list(names), labels=lab, metrics=tuple(metrics))
    on_step = {}
    if half_budget and steps >= 2:
        on_step[steps // 2] = lambda m: _score(m, tests, method=method, seed=seed,
                                               budget=steps // 2, **kw)  # fmt: skip
    xv, yv = val
    val_fn = common.mean_dice_fn(xv, yv, multilabel=False, n_classes=len(names))
    hist = common.train_segmenter(
        model, batch_fn, steps=steps, lr=lr, seed=seed, device=device, val_fn=val_fn,
        val_every=val_every, on_step=on_step or None, scheduler=scheduler,
    )  # fmt: skip
    rows = _score(model, tests, method=method, seed=seed, budget=steps, **kw)
    for snap in hist.snapshots.values():
        rows += snap
    return MethodRun(model, hist, rows)


def floor_rows(
    kind: str,
    tests: Sequence[TestSet],
    *,
    names: Sequence[str],
    metrics: Sequence[str] = ("dice", "hd95"),
    train_target: torch.Tensor | None = None,
) -> list[dict[str, Any]]:
    """Rows of a trivial answer (:mod:`.floors`: ``"empty mask"`` or ``"majority map"`` of
    ``train_target``) on every test set, scored like :func:`run_method` scores a model."""
    rows: list[dict[str, Any]] = []
    for t in tests:
        rows += floors.floor_rows(
            kind, t.target, names=names, train_target=train_target, setting=t.setting,
            cases=list(t.cases), units=list(t.units), groups=t.group, spacing=t.spacing,
            metrics=tuple(metrics),
        )  # fmt: skip
    return rows


def user_slices(
    path: str,
    *,
    spacing_mm: float,
    shape: tuple[int, int, int],
    n_per_volume: int,
    image_suffix: str,
    label_suffix: str,
    label_map: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Axial test slices of a user's image + label NIfTI pairs, on the synthesiser's grid.

    Args:
        path: the folder (see :mod:`mricompendium.data.segmentation.pairs`).
        spacing_mm, shape: the grid the models were trained on.
        n_per_volume: slices per volume (evenly spaced in the central half of the labels).
        image_suffix, label_suffix: file name endings of a pair.
        label_map: maps the file's label values to the scored classes (default: as stored).

    Returns:
        ``(x (N, 1, H, W), y (N, H, W) int64, cases, units)``; slices of one volume share its
        unit (the volume's name).
    """
    from mricompendium.data.segmentation.pairs import find_pairs, load_pair, middle_slices

    xs, ys, cases, units = [], [], [], []
    for pair in find_pairs(path, image_suffix=image_suffix, label_suffix=label_suffix):
        img, lab = load_pair(pair.image, pair.labels, spacing_mm=spacing_mm, shape=shape)
        lab = label_map(lab) if label_map is not None else lab
        for k in middle_slices(lab, n_per_volume):
            xs.append(torch.from_numpy(img[:, :, k].copy())[None])
            ys.append(torch.from_numpy(np.asarray(lab[:, :, k], dtype=np.int64)))
            cases.append(f"{pair.name}:z{k}")
            units.append(pair.name)
    return torch.stack(xs), torch.stack(ys), cases, units
