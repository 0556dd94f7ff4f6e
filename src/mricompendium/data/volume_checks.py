"""Content checks of the volume data sets a notebook's ``data_path`` may hold (``--dry`` and runs).

Each function takes the path and the parameters the notebook will see, reads every file the
notebook would read the way its loader reads it, but from headers and label maps only (grids in
RAS+, dimensionality, label values, shared grids of paired files), counts the cases each split
needs at those parameters, and returns one line describing the data. What the notebook would
refuse, these refuse first, as one :class:`~mricompendium.data.errors.DataError` naming the file
(or the parameter) and the problem.

Split rules mirrored here (keep them in step with the notebooks' data cells):

* ``segresnet_vae``, ``swin_unetr``, ``nnunet_extended``: the first ``n_train`` BraTS cases (by
  case id) train, the next ``n_val`` validate, the next ``n_test`` test; every one needs labels.
* ``stroke_synthetic``: every ISLES 2022 case is read; those with a lesion are test slices.
* ``scse``, ``synthstrip``: every image + label pair is read as test slices on the notebook's grid.
* ``ddmr``, ``nestedmorph``: every Learn2Reg pair (of ``registration_val`` in the JSON, else
  consecutive images) is a user-data test pair; 2D only (``ndim`` 2).
* ``biomech_cardiac``: every sub-folder of ``data_path`` is an ACDC patient (ACDC's
  ``database/training``); each needs a slice with myocardium at both ED and ES.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import check_same_grid, header_grid, label_values

__all__ = ["check_acdc", "check_brats", "check_isles", "check_learn2reg", "check_pairs"]


def _need(path: Path, found: int, what: str, parts: Mapping[str, int]) -> None:
    total = sum(parts.values())
    if found < total:
        terms = " + ".join(f"{k}={v}" for k, v in parts.items())
        raise DataError(path, f"holds {found} {what}; {terms} = {total} needed")


def check_brats(path: Path, params: Mapping[str, Any]) -> str:
    """BraTS cases for the three tumour notebooks (see the module docstring)."""
    from mricompendium.data.segmentation import brats

    folders = brats.find_cases(path)
    setting = str(params.get("brats_convention", "auto"))
    conv = brats.resolve_convention(folders, setting)
    parts = {k: int(params[k]) for k in ("n_train", "n_val", "n_test") if k in params}
    _need(path, len(folders), "BraTS cases", parts)
    used = folders[: sum(parts.values())]
    codes, labels = set(), set()
    for folder in used:
        case = brats.check_case(folder, convention=conv)  # type: ignore[arg-type]
        if case.labels is None:
            raise DataError(folder, "has no label file (<id>_seg / <id>-seg): training and "
                            "testing need labels")  # fmt: skip
        codes.add(case.grid.codes)
        labels.update(case.labels)
    release = brats.RELEASES[conv]
    how = "from the file naming" if setting == "auto" else f"brats_convention={setting}"
    return (
        f"{len(folders)} BraTS cases, {len(used)} read (headers and labels): stored "
        f"{'/'.join(sorted(codes))} -> RAS+, labels {sorted(labels)} in the BraTS {release} "
        f"convention ({how})"
    )


def check_isles(path: Path, params: Mapping[str, Any]) -> str:
    """ISLES 2022 cases for ``stroke_synthetic``: all are read, those with a lesion tested."""
    from mricompendium.data.segmentation import isles

    cases = isles.find_cases(path)
    codes, lesions = set(), 0
    for files in cases:
        grid = isles.check_case(files)
        codes.add(grid.codes)
        values, _ = label_values(files.mask)
        lesions += int(values.max(initial=0) > 0)
    if lesions == 0:
        raise DataError(path, f"none of its {len(cases)} ISLES cases has a lesion to test on")
    return (
        f"{len(cases)} ISLES 2022 cases ({lesions} with a lesion), DWI stored "
        f"{'/'.join(sorted(codes))} -> RAS+, ADC and masks on the DWI grid"
    )


def check_pairs(path: Path, params: Mapping[str, Any], allowed: set[int] | None = None) -> str:
    """Image + label pairs for ``scse`` (``allowed`` 0-3: background, CSF, GM, WM as FSL FAST's
    ``pveseg``) and ``synthstrip`` (any mask)."""
    from mricompendium.data.segmentation.pairs import check_pair, find_pairs

    pairs = find_pairs(path, image_suffix=str(params.get("image_suffix", "")),
                       label_suffix=str(params.get("label_suffix", "")))  # fmt: skip
    shape = params.get("shape")
    if shape is None and "grid" in params:
        shape = [int(params["grid"])] * 3
    spacing = params.get("spacing_mm")
    codes, values = set(), set()
    for pair in pairs:
        grid, found = check_pair(
            pair, allowed=allowed, spacing_mm=None if spacing is None else float(spacing),
            shape=None if shape is None else tuple(int(n) for n in shape),  # type: ignore[arg-type]
        )  # fmt: skip
        codes.add(grid.codes)
        values.update(found)
    return (
        f"{len(pairs)} image + label NIfTI pairs, stored {'/'.join(sorted(codes))} -> RAS+, "
        f"labels {sorted(values)}"
    )


def check_learn2reg(path: Path, params: Mapping[str, Any]) -> str:
    """Learn2Reg/OASIS pairs for ``ddmr`` and ``nestedmorph`` (2D slices of each pair)."""
    from mricompendium.data.registration.loaders import learn2reg_files

    if int(params.get("ndim", 2)) != 2:
        raise DataError(f"ndim={params['ndim']}", "data_path needs ndim = 2 (user volumes are "
                        "registered as 2D slices)")  # fmt: skip
    pairs = learn2reg_files(path)
    codes = set()
    for name, (mov, fix, mlab, flab) in pairs:
        ref = header_grid(fix)
        codes.add(ref.codes)
        check_same_grid(ref, header_grid(mov), what=f"paired with {fix.name}")
        for lab in (mlab, flab):
            values, grid = label_values(lab)
            check_same_grid(ref, grid, what=f"paired with {fix.name}")
            if values.max(initial=0) <= 0:
                raise DataError(lab, f"labels are empty (pair {name})")
    return (
        f"{len(pairs)} Learn2Reg pairs, stored {'/'.join(sorted(codes))} -> RAS+ "
        "(coronal slices), every pair on one grid"
    )


def acdc_folders(path: Path) -> list[Path]:
    """The folders ``biomech_cardiac`` reads: every sub-folder, each a patient folder."""
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    for d in folders:
        if not (d / "Info.cfg").is_file():
            raise DataError(d, "is not an ACDC patient folder (no Info.cfg): data_path is the "
                            "folder of patientNNN/ folders (ACDC's database/training)")  # fmt: skip
    if not folders:
        raise DataError(path, "holds no ACDC patient folder (patientNNN/ with Info.cfg)")
    return folders


def check_acdc(path: Path, params: Mapping[str, Any]) -> str:
    """ACDC patients for ``biomech_cardiac`` (see the module docstring)."""
    from mricompendium.data.orientation import load_ras, stack_axis
    from mricompendium.data.registration.loaders import acdc_files

    folders = acdc_folders(path)
    slices = 0
    for d in folders:
        files = acdc_files(d)  # ED, ES, ED labels, ES labels
        ref = header_grid(files[1])  # ES image: the fixed frame
        check_same_grid(ref, header_grid(files[0]), what=f"paired with {files[1].name}")
        myo = []
        for f in files[2:]:
            lab, grid = load_ras(f, dtype=None, finite=False)
            check_same_grid(ref, grid, what=f"paired with {files[1].name}")
            if lab.min() < 0 or lab.max() > 3:
                raise DataError(f, f"ACDC labels must lie in 0..3, found {lab.min()}..{lab.max()}")
            stack = stack_axis(ref)
            other = tuple(a for a in range(3) if a != stack)
            myo.append(np.any(lab == 2, axis=other))
        both = int(np.sum(myo[0] & myo[1]))
        if both == 0:
            raise DataError(d, "no slice holds myocardium (label 2) at both ED and ES")
        slices += both
    return (
        f"{len(folders)} ACDC patients, {slices} short-axis slices with myocardium at ED and ES, "
        "frames on one grid"
    )
