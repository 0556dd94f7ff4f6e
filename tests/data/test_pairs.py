"""Image + label NIfTI pairs: reorientation, resampling, cropping and errors naming the file."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.segmentation.pairs import find_pairs, load_pair, middle_slices


def _write(path, data, spacing=1.0, flip_x=False):
    affine = np.diag([spacing, spacing, spacing, 1.0])
    if flip_x:  # stored left-right reversed (LAS): the loader must flip it back
        affine[0, 0] = -spacing
        affine[0, 3] = spacing * (data.shape[0] - 1)
    nib.save(nib.Nifti1Image(data, affine), path)


def test_pairs_are_resampled_to_the_grid_in_ras_order(tmp_path):
    img = np.zeros((20, 20, 20), np.float32)
    img[:10] = 1.0  # the left half (low x) is bright
    lab = (img > 0).astype(np.int16) * 2
    _write(tmp_path / "a_T1w.nii.gz", img[::-1].copy(), flip_x=True)
    _write(tmp_path / "a_dseg.nii.gz", lab[::-1].copy(), flip_x=True)
    pairs = find_pairs(tmp_path, image_suffix="_T1w.nii.gz", label_suffix="_dseg.nii.gz")
    assert [p.name for p in pairs] == ["a"]
    x, y = load_pair(pairs[0].image, pairs[0].labels, spacing_mm=2.0, shape=(12, 10, 10))
    assert x.shape == y.shape == (12, 10, 10)
    assert set(np.unique(y)) <= {0, 2}  # nearest neighbour keeps label values
    assert x[1:6].mean() > 0.9 and x[6:11].mean() < 0.1  # left stays at low x after the flip
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert middle_slices(y, 3) == sorted(set(middle_slices(y, 3)))


def test_missing_label_file_and_corrupt_files_are_named(tmp_path):
    _write(tmp_path / "b_T1w.nii.gz", np.ones((4, 4, 4), np.float32))
    with pytest.raises(DataError, match="b_T1w.nii.gz.*b_dseg.nii.gz"):
        find_pairs(tmp_path, image_suffix="_T1w.nii.gz", label_suffix="_dseg.nii.gz")
    (tmp_path / "b_dseg.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(DataError, match="b_dseg.nii.gz"):
        load_pair(
            tmp_path / "b_T1w.nii.gz", tmp_path / "b_dseg.nii.gz", spacing_mm=1, shape=(4,) * 3
        )
    _write(tmp_path / "b_dseg.nii.gz", np.ones((4, 4, 5), np.int16))
    with pytest.raises(DataError, match="differs"):
        load_pair(
            tmp_path / "b_T1w.nii.gz", tmp_path / "b_dseg.nii.gz", spacing_mm=1, shape=(4,) * 3
        )
    with pytest.raises(FileNotFoundError):
        find_pairs(tmp_path / "nowhere", image_suffix="x", label_suffix="y")
