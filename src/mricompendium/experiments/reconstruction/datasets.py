"""The data of a reconstruction notebook: simulated from the embedded slices, or a user's files.

:func:`simulated_data` and :func:`real_data` give the same :class:`ReconData` (training,
validation and test sources, each test case's unit and group, and a description generated from
the parameters actually used), so a notebook switches with ``data_path`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mricompendium import paths
from mricompendium.data import load_slices, slices_from_nifti_dir
from mricompendium.data.embedded import SIZE, resize_stack
from mricompendium.data.recon import (
    CaseSet,
    KspaceSimulator,
    embedded_real_cases,
    load_kspace_source,
    slice_set_cases,
    template_cases,
    training_distance_mm,
)
from mricompendium.data.recon.cases import TEST_OFFSETS
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.masks import Sampling
from mricompendium.physics.simulate import MIN_OVERSAMPLING

__all__ = [
    "ReconData",
    "nifti_data",
    "real_data",
    "simulated_data",
    "simulation_checks",
    "train_indices",
]


@dataclass
class ReconData:
    """Sources and cases of one notebook.

    Attributes:
        kind: ``"simulated"`` or ``"user"`` (for :func:`mricompendium.provenance.data_info`).
        train, val, test: the sources (simulators or real k-space sets).
        val_idx: the validation cases of ``val``.
        meta: ``(case, unit, group)`` per test index.
        description: one sentence generated from the parameters used.
        path: the user's data path (``None`` for simulated data).
        cases: the test slices (simulated data), to simulate them again with other coils.
        num_coils: coils of the training data.
    """

    kind: str
    train: Any
    val: Any
    val_idx: list[int]
    test: Any
    meta: list[tuple[str, str, str]]
    description: str
    path: str | None = None
    cases: CaseSet | None = None
    num_coils: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(g for _, _, g in self.meta))

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.test.image_shape


def _check_size(image_size: int) -> None:
    """Simulated k-space needs an object grid (128) at least twice finer than ``image_size``."""
    if not isinstance(image_size, int) or not 8 <= image_size <= SIZE / MIN_OVERSAMPLING:
        raise ValueError(
            f"image_size must be an int in [8, {int(SIZE / MIN_OVERSAMPLING)}] for simulated "
            f"k-space (simulated on the {SIZE}x{SIZE} grid of the slices, at least "
            f"{MIN_OVERSAMPLING:g}x finer than the reconstruction grid), got {image_size!r}"
        )


def _grid_text(image_size: int, num_coils: int) -> str:
    coils = ", coils" if num_coils > 1 else ""
    maps = ", coil maps estimated from the data" if num_coils > 1 else ""
    return (
        f"object, phase{coils} on the {SIZE}x{SIZE} grid of the slices, k-space sampled "
        f"there at the {image_size}x{image_size} reconstruction grid's positions "
        f"({SIZE / image_size:.3g}x finer; truncation included), reference = the fully "
        f"sampled noise-free acquisition on that grid{maps}"
    )


def _groups_text(meta: Sequence[tuple[str, str, str]]) -> str:
    parts = []
    for g in dict.fromkeys(x[2] for x in meta):
        n = sum(x[2] == g for x in meta)
        units = len({x[1] for x in meta if x[2] == g})
        parts.append(f"{g} {n} slices ({units} units)")
    return ", ".join(parts)


def simulated_data(
    *,
    image_size: int,
    num_coils: int,
    snr: float,
    seed: int,
    n_test_template: int,
    real_per_unit: int,
    n_val: int,
    device: Any = "cpu",
    radius_range: tuple[float, float] = (1.3, 1.8),
) -> ReconData:
    """Simulated k-space from the embedded slices: deformed template slices to train and
    validate, fresh template variants away from the training positions and the real slices to
    test (``real_per_unit`` slices per real volume; 0 leaves the real slices out)."""
    _check_size(image_size)
    train_set, train_obj = load_slices("train", size=image_size), load_slices("train")
    val_set, val_obj = load_slices("val", size=image_size), load_slices("val")
    cases = template_cases(n_test_template, size=image_size, seed=seed + 101)
    if real_per_unit > 0:
        cases = CaseSet.concat(cases, embedded_real_cases(image_size, per_unit=real_per_unit))

    def sim(objects: np.ndarray, masks: np.ndarray, offset: int) -> KspaceSimulator:
        return KspaceSimulator(objects, masks, num_coils=num_coils, snr=snr, seed=seed + offset,
                               radius_range=radius_range, device=device)  # fmt: skip

    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    coils = f"{num_coils}-coil" if num_coils > 1 else "single-coil"
    far = min(training_distance_mm(o) for o in TEST_OFFSETS)
    text = (
        f"simulated {coils} k-space (SNR {snr:g}, smooth random phase"
        + (", birdcage coils rotated and scaled per case" if num_coils > 1 else "")
        + f"; {_grid_text(image_size, num_coils)}) reconstructed on {image_size}x{image_size}: "
        f"training {len(train_set)} deformed MNI-template slices, validation "
        f"{min(n_val, len(val_set))} template slices, test {_groups_text(meta)}; template "
        f"test cases are fresh variants {far} mm or more from any training position"
    )
    return ReconData(
        kind="simulated",
        train=sim(train_obj.images, train_set.masks, 0),
        val=sim(val_obj.images, val_set.masks, 1),
        val_idx=list(range(min(n_val, len(val_set)))),
        test=sim(cases.objects, cases.masks, 2),
        meta=meta,
        description=text,
        cases=cases,
        num_coils=num_coils,
    )


def real_data(
    data_path: str,
    data_format: str,
    *,
    image_size: int,
    num_coils: int | None,
    max_slices: int | None,
    n_test_volumes: int,
    n_val: int,
    device: Any = "cpu",
    coils_param: str = "num_coils",
) -> ReconData:
    """A user's raw k-space files: split by volume (one file: by slices, said so), the last
    ``n_val`` training slices for validation."""
    full = load_kspace_source(paths.resolve(data_path), data_format, size=image_size,
                              num_coils=num_coils, max_slices=max_slices, device=device,
                              coils_param=coils_param)  # fmt: skip
    train, test = full.split_by_volume(n_test_volumes)
    n_val = max(1, min(n_val, len(train) - 1)) if len(train) > 1 else 0
    val_idx = list(range(len(train) - n_val, len(train)))
    group = f"user {data_format}"
    meta = [(f"{test.unit(i)}:{i}", test.unit(i), group) for i in range(len(test))]
    text = (
        f"user {data_format} k-space from {paths.resolve(data_path)}: {len(set(full.names))} "
        f"volumes, {len(full)} slices, {full.num_coils} coils"
        + (" (PCA-compressed)" if num_coils else "")
        + f", {image_size}x{image_size}; training {len(train) - n_val} slices, validation "
        f"{n_val}, test {_groups_text(meta)}" + (f"; {full.split_note}" if full.split_note else "")
    )
    return ReconData(
        kind="user", train=train, val=train, val_idx=val_idx, test=test, meta=meta,
        description=text, path=str(data_path), num_coils=full.num_coils,
        extra={"train_idx": list(range(len(train) - n_val))},
    )  # fmt: skip


def train_indices(data: ReconData) -> list[int] | None:
    """The training cases (real data keep the validation slices out; simulated: all)."""
    return data.extra.get("train_idx")


def nifti_data(
    data_path: str,
    *,
    image_size: int,
    num_coils: int,
    snr: float,
    seed: int,
    n_val: int,
    device: Any = "cpu",
) -> ReconData:
    """k-space simulated from a user's NIfTI magnitude volumes (split by volume), as
    :func:`simulated_data` does from the embedded slices; the test slices of one volume share a
    unit (group ``"user NIfTI"``)."""
    _check_size(image_size)
    train_set, val_set, test_set = slices_from_nifti_dir(paths.resolve(data_path), size=SIZE)
    cases = slice_set_cases(test_set, "user NIfTI", size=image_size)

    def sim(objects: np.ndarray, masks: np.ndarray, offset: int) -> KspaceSimulator:
        small = resize_stack(masks.astype(np.float32), image_size) >= 0.5
        return KspaceSimulator(objects, small, num_coils=num_coils, snr=snr, seed=seed + offset,
                               device=device)  # fmt: skip

    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    coils = f"{num_coils}-coil" if num_coils > 1 else "single-coil"
    text = (
        f"simulated {coils} k-space (SNR {snr:g}, smooth random phase; "
        f"{_grid_text(image_size, num_coils)}) from the user's NIfTI volumes at "
        f"{paths.resolve(data_path)}, reconstructed on {image_size}x{image_size} axial "
        f"slices: training {len(train_set)} slices, validation {min(n_val, len(val_set))}, "
        f"test {_groups_text(meta)}"
    )
    return ReconData(kind="user", train=sim(train_set.images, train_set.masks, 0),
                     val=sim(val_set.images, val_set.masks, 1),
                     val_idx=list(range(min(n_val, len(val_set)))),
                     test=sim(cases.objects, cases.masks, 2), meta=meta, description=text,
                     path=str(data_path), cases=cases, num_coils=num_coils)  # fmt: skip


def simulation_checks(source: Any, sampling: Sampling | str, seed: int) -> dict[str, Any]:
    """Invariants of simulated data, for a notebook's checked cell (empty for real k-space).

    The grids, whether the object grid is at least twice finer than the reconstruction grid
    (no inverse crime), and whether the coil maps in a batch (what the models get) are the
    estimate from that batch's undersampled data.
    """
    if not isinstance(source, KspaceSimulator):
        return {}
    b = source.batch([0], sampling, seed)
    if b.mask is None:
        from_data = bool(torch.equal(b.maps, torch.ones_like(b.maps)))  # radial: one coil
    else:
        from_data = bool(torch.equal(b.maps, estimate_sensitivities(b.kspace, b.mask)))
    return {
        "object grid": source.object_shape,
        "reconstruction grid": source.image_shape,
        f"object grid >= {MIN_OVERSAMPLING:g}x finer": source.oversampling >= MIN_OVERSAMPLING,
        "coil maps estimated from the undersampled data": from_data,
    }
