"""The one orientation rule: RAS+ arrays, header grids, shared-grid checks, display slices."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from userdata_files import reorient, template_volume

from mricompendium.data.errors import DataError
from mricompendium.data.orientation import (
    check_same_grid,
    display_slice,
    header_grid,
    load_ras,
    stack_axis,
)


@pytest.mark.parametrize("codes", ["RAS", "LPS", "PIR", "LIA", "SAL"])
def test_every_storage_order_loads_as_the_same_ras_array(tmp_path, codes):
    data, affine = template_volume(8)
    stored, stored_aff = reorient(data, affine, codes)
    path = tmp_path / f"{codes}.nii.gz"
    nib.save(nib.Nifti1Image(stored, stored_aff), path)
    vol, grid = load_ras(path)
    np.testing.assert_array_equal(vol, data)
    np.testing.assert_allclose(grid.affine, affine, atol=1e-4)
    assert grid.codes == codes and header_grid(path).shape == data.shape
    assert grid.spacing_mm == (8.0, 8.0, 8.0)


def test_grids_agree_within_a_fraction_of_a_voxel_and_are_refused_beyond(tmp_path):
    data, affine = template_volume(8)
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), a)
    near = affine.copy()
    near[0, 3] += 0.1  # 0.0125 voxel: the float rounding of converters
    nib.save(nib.Nifti1Image(data, near), b)
    check_same_grid(header_grid(a), header_grid(b))
    far = affine.copy()
    far[0, 3] += 4.0  # half a voxel
    nib.save(nib.Nifti1Image(data, far), b)
    with pytest.raises(
        DataError, match=r"b.nii.gz: grid: not on the grid of a.nii.gz \(.*0.50 vox"
    ):
        check_same_grid(header_grid(a), header_grid(b))
    nib.save(nib.Nifti1Image(data[:-1], affine), b)
    with pytest.raises(DataError, match="b.nii.gz: grid: shape .* differs from a.nii.gz"):
        check_same_grid(header_grid(a), header_grid(b))


def test_4d_files_are_refused_and_singleton_4d_read_as_3d(tmp_path):
    data, affine = template_volume(8)
    one, two = tmp_path / "one.nii.gz", tmp_path / "two.nii.gz"
    nib.save(nib.Nifti1Image(data[..., None], affine), one)
    nib.save(nib.Nifti1Image(np.stack([data, data], -1), affine), two)
    assert load_ras(one)[0].shape == data.shape
    with pytest.raises(DataError, match="two.nii.gz: has 4 dimensions"):
        load_ras(two)


def test_display_slices_and_stack_axis():
    vol = np.zeros((4, 5, 6))
    vol[0, 4, :] = 1  # subject's left (low x in RAS+) and anterior (high y)
    axial = display_slice(vol, 2, 3)
    assert axial.shape == (5, 4) and axial[0, 0] == 1  # anterior on top, left -> right
    vol[:] = 0
    vol[0, :, 5] = 1  # left and superior
    coronal = display_slice(vol, 1, 2)
    assert coronal.shape == (6, 4) and coronal[0, 0] == 1  # superior on top
    grid = type(
        "G", (), {"spacing_mm": (1.4, 10.0, 1.4), "ornt": np.array([[0, 1], [2, 1], [1, 1]])}
    )
    assert stack_axis(grid) == 1  # the thick slices, wherever they are stored
