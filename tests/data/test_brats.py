"""BraTS loader on small files the test writes, in both naming and label conventions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.segmentation import brats

SHAPE = (6, 5, 4)


def _labels(et: int) -> np.ndarray:
    lab = np.zeros(SHAPE, np.int16)
    lab[1:5, 1:4, 1:3] = 2  # oedema
    lab[2:4, 2:3, 1:3] = 1  # necrotic core
    lab[3, 2, 2] = et  # enhancing
    return lab


def _write_case(root, case_id, *, scheme="2018", skip=(), seg=True, shapes=None):
    folder = root / case_id
    folder.mkdir(parents=True)
    sep, names = ("_", ["t1", "t1ce", "t2", "flair"]) if scheme == "2018" else (
        "-", ["t1n", "t1c", "t2w", "t2f"])  # fmt: skip
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        if name in skip:
            continue
        shape = (shapes or {}).get(name, SHAPE)
        data = (rng.random(shape) + i).astype(np.float32)
        nib.save(
            nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.5, 1.0])),
            folder / f"{case_id}{sep}{name}.nii.gz",
        )
    if seg:
        lab = _labels(4 if scheme == "2018" else 3)
        nib.save(nib.Nifti1Image(lab, np.eye(4)), folder / f"{case_id}{sep}seg.nii.gz")
    return folder


def test_regions_follow_each_convention():
    for conv, et in (("2018", 4), ("2023", 3)):
        lab = _labels(et)
        et_m, tc, wt = brats.regions_from_labels(lab, conv)
        assert et_m.sum() == 1 and et_m[3, 2, 2]
        assert tc.sum() == (lab == 1).sum() + 1
        assert wt.sum() == (lab > 0).sum()
        assert (et_m <= tc).all() and (tc <= wt).all()  # nested regions
        np.testing.assert_array_equal(brats.regions_from_labels(lab, "auto"), [et_m, tc, wt])


def test_wrong_convention_is_refused():
    with pytest.raises(ValueError, match="not defined by the BraTS 2018"):
        brats.regions_from_labels(_labels(3), "2018")
    with pytest.raises(ValueError, match="not defined by the BraTS 2023"):
        brats.regions_from_labels(_labels(4), "2023")


@pytest.mark.parametrize("scheme", ["2018", "2023"])
def test_load_case_reads_both_naming_schemes(tmp_path, scheme):
    folder = _write_case(tmp_path, f"BraTS-{scheme}-00001", scheme=scheme)
    case = brats.load_case(folder)
    assert case.image.shape == (4, *SHAPE) and case.image.dtype == np.float32
    assert case.convention == scheme
    assert case.regions.shape == (3, *SHAPE)
    assert case.spacing_mm == (1.0, 1.0, 1.5)
    assert np.all(case.image[3] >= 3.0)  # FLAIR is the fourth channel (written with offset 3)
    assert [c.case_id for c in brats.load_cases(tmp_path)] == [folder.name]


def test_missing_modality_names_the_folder_and_modality(tmp_path):
    folder = _write_case(tmp_path, "case1", skip=("t2",))
    with pytest.raises(DataError, match=r"case1: missing modality \['t2'\]"):
        brats.load_case(folder)


def test_shape_mismatch_names_the_file(tmp_path):
    _write_case(tmp_path, "case2", shapes={"flair": (6, 5, 3)})
    with pytest.raises(DataError, match=r"case2_flair.nii.gz: shape \(6, 5, 3\) differs"):
        brats.load_case(tmp_path / "case2")


def test_corrupt_file_names_the_file(tmp_path):
    folder = _write_case(tmp_path, "case3")
    (folder / "case3_t1ce.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match="case3_t1ce.nii.gz: cannot read as NIfTI"):
        brats.load_case(folder)


def test_unlabelled_case_and_empty_root(tmp_path):
    case = brats.load_case(_write_case(tmp_path, "case4", seg=False))
    assert case.labels is None and case.regions is None
    with pytest.raises(DataError, match="no BraTS case folders"):
        brats.find_cases(tmp_path / "case4")
