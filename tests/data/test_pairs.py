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


def test_a_pir_pair_gives_the_same_slices_and_labels_off_grid_are_refused(tmp_path):
    from realdata_files import write_pairs

    from mricompendium.data.segmentation.pairs import check_pair
    from mricompendium.experiments.segmentation.synthetic import user_slices

    kw = dict(spacing_mm=3.0, shape=(16, 20, 16), n_per_volume=2, image_suffix="_T1w.nii.gz",
              label_suffix="_dseg.nii.gz")  # fmt: skip
    ras = write_pairs(tmp_path / "ras")
    pir = write_pairs(tmp_path / "pir", orient={0: "PIR", 2: "LPS"})
    a, b = user_slices(str(ras), **kw), user_slices(str(pir), **kw)
    np.testing.assert_allclose(a[0].numpy(), b[0].numpy(), atol=1e-6)
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert a[2] == b[2] and a[3] == b[3]
    pair = find_pairs(pir, image_suffix="_T1w.nii.gz", label_suffix="_dseg.nii.gz")[1]
    assert check_pair(pair, allowed={0, 1, 2, 3})[1] == (0, 1, 2, 3)
    with pytest.raises(DataError, match=r"_dseg.nii.gz: label values \[3\] outside"):
        check_pair(pair, allowed={0, 1, 2})
    img = nib.load(pair.labels)
    affine = img.affine.copy()
    affine[1, 3] += 20.0
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine), pair.labels)
    with pytest.raises(
        DataError, match="sub-01_dseg.nii.gz: label file: not on the grid of sub-01_T1w"
    ):
        load_pair(pair.image, pair.labels, spacing_mm=3.0, shape=(16, 20, 16))
