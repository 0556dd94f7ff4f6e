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

from mricompendium import paths
from mricompendium.data import load_slices, slices_from_nifti_dir
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

__all__ = ["ReconData", "nifti_data", "real_data", "simulated_data", "train_indices"]


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
    train_set = load_slices("train", size=image_size)
    val_set = load_slices("val", size=image_size)
    cases = template_cases(n_test_template, size=image_size, seed=seed + 101)
    if real_per_unit > 0:
        cases = CaseSet.concat(cases, embedded_real_cases(image_size, per_unit=real_per_unit))

    def sim(images: np.ndarray, masks: np.ndarray, offset: int) -> KspaceSimulator:
        return KspaceSimulator(images, masks, num_coils=num_coils, snr=snr, seed=seed + offset,
                               radius_range=radius_range, device=device)  # fmt: skip

    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    coils = f"{num_coils}-coil" if num_coils > 1 else "single-coil"
    far = min(training_distance_mm(o) for o in TEST_OFFSETS)
    text = (
        f"simulated {coils} k-space (SNR {snr:g}, smooth random phase"
        + (", birdcage coils rotated and scaled per case" if num_coils > 1 else "")
        + f") from {image_size}x{image_size} slices: training {len(train_set)} deformed MNI-"
        f"template slices, validation {min(n_val, len(val_set))} template slices, test "
        f"{_groups_text(meta)}; template test cases are fresh variants {far} mm or more from "
        "any training position"
    )
    return ReconData(
        kind="simulated",
        train=sim(train_set.images, train_set.masks, 0),
        val=sim(val_set.images, val_set.masks, 1),
        val_idx=list(range(min(n_val, len(val_set)))),
        test=sim(cases.images, cases.masks, 2),
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
    train_set, val_set, test_set = slices_from_nifti_dir(paths.resolve(data_path), size=image_size)
    cases = slice_set_cases(test_set, "user NIfTI")

    def sim(images: np.ndarray, masks: np.ndarray, offset: int) -> KspaceSimulator:
        return KspaceSimulator(images, masks, num_coils=num_coils, snr=snr, seed=seed + offset,
                               device=device)  # fmt: skip

    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    coils = f"{num_coils}-coil" if num_coils > 1 else "single-coil"
    text = (
        f"simulated {coils} k-space (SNR {snr:g}, smooth random phase) from the user's NIfTI "
        f"volumes at {paths.resolve(data_path)}, {image_size}x{image_size} axial slices: training "
        f"{len(train_set)} slices, validation {min(n_val, len(val_set))}, test {_groups_text(meta)}"
    )
    return ReconData(kind="user", train=sim(train_set.images, train_set.masks, 0),
                     val=sim(val_set.images, val_set.masks, 1),
                     val_idx=list(range(min(n_val, len(val_set)))),
                     test=sim(cases.images, cases.masks, 2), meta=meta, description=text,
                     path=str(data_path), cases=cases, num_coils=num_coils)  # fmt: skip
