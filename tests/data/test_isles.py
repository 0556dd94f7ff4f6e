"""ISLES 2022 loader on a small BIDS tree the test writes: pairing, FLAIR resampling, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.segmentation.isles import find_cases, load_case

CASE = "sub-strokecase0001_ses-0001"


def _save(path, data, spacing):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([spacing, spacing, spacing, 1.0])), path)


def _tree(root, *, flair=True, adc_shape=(8, 8, 4)):
    raw = root / "rawdata" / "sub-strokecase0001" / "ses-0001"
    dwi = np.arange(8 * 8 * 4, dtype=np.float32).reshape(8, 8, 4)
    _save(raw / "dwi" / f"{CASE}_dwi.nii.gz", dwi, 2.0)
    _save(raw / "dwi" / f"{CASE}_adc.nii.gz", np.full(adc_shape, 800, np.float32), 2.0)
    mask = np.zeros((8, 8, 4), np.uint8)
    mask[2:4, 2:4, 1] = 1
    _save(
        root / "derivatives" / "sub-strokecase0001" / "ses-0001" / f"{CASE}_msk.nii.gz", mask, 2.0
    )
    if flair:  # a finer grid over the same field of view: value = x coordinate in mm
        x_mm = np.arange(16, dtype=np.float32)[:, None, None] * np.ones((16, 16, 8), np.float32)
        _save(raw / "anat" / f"{CASE}_FLAIR.nii.gz", x_mm, 1.0)


def test_a_bids_case_is_found_and_read_on_the_dwi_grid(tmp_path):
    _tree(tmp_path)
    (files,) = find_cases(tmp_path)
    assert files.name == CASE and files.flair is not None
    case = load_case(files)
    assert case.dwi.shape == case.adc.shape == case.mask.shape == case.flair.shape == (8, 8, 4)
    assert case.mask.dtype == bool and int(case.mask.sum()) == 4
    # DWI voxel i sits at x = 2 i mm, where the FLAIR holds the value 2 i
    np.testing.assert_allclose(case.flair[:7, 3, 1], 2.0 * np.arange(7), atol=1e-4)


def test_flair_is_optional(tmp_path):
    _tree(tmp_path, flair=False)
    assert load_case(find_cases(tmp_path)[0]).flair is None


def test_inconsistent_or_missing_files_are_named(tmp_path):
    _tree(tmp_path, adc_shape=(8, 8, 5))
    with pytest.raises(DataError, match=f"{CASE}_adc.nii.gz.*differs"):
        load_case(find_cases(tmp_path)[0])
    (
        tmp_path / "rawdata" / "sub-strokecase0001" / "ses-0001" / "dwi" / f"{CASE}_adc.nii.gz"
    ).unlink()
    with pytest.raises(DataError, match=f"{CASE}_dwi.nii.gz.*_adc"):
        find_cases(tmp_path)
    with pytest.raises(DataError, match="no ISLES case"):
        find_cases(tmp_path / "derivatives")
    with pytest.raises(FileNotFoundError):
        find_cases(tmp_path / "missing")


def test_a_corrupt_flair_is_named(tmp_path):
    _tree(tmp_path)
    bad = tmp_path / "rawdata" / "sub-strokecase0001" / "ses-0001" / "anat" / f"{CASE}_FLAIR.nii.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=f"{CASE}_FLAIR.nii.gz"):
        load_case(find_cases(tmp_path)[0])


def test_the_release_tree_in_lps_pir_and_float32_gives_the_same_slices(tmp_path):
    from realdata_files import write_isles

    from mricompendium.experiments.segmentation.stroke import isles_slices

    ref = write_isles(tmp_path / "ras")
    other = write_isles(tmp_path / "other", orient={0: "LPS", 1: "PIR"}, float_mask=True)
    assert [c.name for c in find_cases(other)] == [
        f"sub-strokecase000{i}_ses-0001" for i in (1, 2, 3)
    ]
    kw = dict(spacing_mm=3.0, shape=(16, 20, 16), n_per_case=2)
    a, b = isles_slices(str(ref), **kw), isles_slices(str(other), **kw)
    assert set(a) == set(b) == {"ISLES DWI", "ISLES FLAIR"}
    for group in a:
        for x, y in zip(a[group][:2], b[group][:2], strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-5)
        assert a[group][2] == b[group][2]  # case ids: the release's own


def test_masks_off_the_dwi_grid_or_not_binary_are_refused(tmp_path):
    from realdata_files import write_isles

    from mricompendium.data.segmentation.isles import check_case

    root = write_isles(tmp_path, n=1)
    files = find_cases(root)[0]
    img = nib.load(files.mask)
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0] = 2
    nib.save(nib.Nifti1Image(data, img.affine), files.mask)
    with pytest.raises(DataError, match=r"_msk.nii.gz: lesion mask holds values \[2\]"):
        check_case(files)
    with pytest.raises(DataError, match=r"_msk.nii.gz: lesion mask holds values \[2\]"):
        load_case(files)
    affine = img.affine.copy()
    affine[:3, :3] = -affine[:3, :3]  # flipped without reordering the voxels: another grid
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine), files.mask)
    with pytest.raises(DataError, match="_msk.nii.gz: lesion mask: .*_dwi.nii.gz"):
        load_case(files)
