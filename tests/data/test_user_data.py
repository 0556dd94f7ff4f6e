"""A user's NIfTI folder replaces the embedded slices: canonical orientation, split by volume."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from userdata_files import reorient, template_volume, write_nifti, write_nifti_dir

from mricompendium.data import DataError, slices_from_nifti_dir
from mricompendium.data.lesions import insert_lesions
from mricompendium.data.user_data import axial_slices, describe_nifti_dir


def _write_volume(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:12, :40, :40]
    head = ((y - 20) ** 2 + (x - 20) ** 2) < (12 + seed) ** 2
    vol = (head * (100 + 10 * rng.random((12, 40, 40)))).astype(np.float32)
    nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)), np.eye(4)), path)


def test_split_by_volume_and_normalised(tmp_path):
    for i in range(4):
        _write_volume(tmp_path / f"sub{i}.nii.gz", i)
    train, val, test = slices_from_nifti_dir(tmp_path, size=32)
    assert train.images.shape[1:] == (32, 32) and train.images.dtype == np.float32
    assert train.masks.dtype == bool and train.masks.shape == train.images.shape
    vols = [{n.split("_z")[0] for n in s.names} for s in (train, val, test)]
    assert not (vols[0] & vols[1]) and not (vols[0] & vols[2]) and not (vols[1] & vols[2])
    inside = train.images[0][train.masks[0]]
    assert np.percentile(inside, 99.5) == pytest.approx(1.0, abs=0.05)


def test_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        slices_from_nifti_dir(tmp_path / "nowhere")
    _write_volume(tmp_path / "a.nii.gz", 0)
    with pytest.raises(DataError, match="at least 3"):
        slices_from_nifti_dir(tmp_path)
    (tmp_path / "b.nii.gz").write_bytes(b"not a nifti")
    (tmp_path / "c.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(DataError, match="b.nii.gz"):
        slices_from_nifti_dir(tmp_path)


def test_single_file_is_refused_by_name(tmp_path):
    path = write_nifti(tmp_path / "one.nii.gz")
    with pytest.raises(DataError, match=r"one\.nii\.gz: is a single NIfTI volume.*folder"):
        slices_from_nifti_dir(path)
    with pytest.raises(DataError, match="one.nii.gz"):
        describe_nifti_dir(path, size=32)


@pytest.mark.parametrize("codes", ["PIR", "LPS", "SAL"])
def test_any_stored_orientation_gives_the_same_axial_slices(tmp_path, codes):
    data, affine = template_volume()
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "ras.nii.gz")
    stored, stored_affine = reorient(data, affine, codes)
    assert stored.shape != data.shape or codes == "LPS"
    assert "".join(nib.aff2axcodes(stored_affine)) == codes
    nib.save(nib.Nifti1Image(stored, stored_affine), tmp_path / "other.nii.gz")
    ref = axial_slices(tmp_path / "ras.nii.gz", size=48)
    got = axial_slices(tmp_path / "other.nii.gz", size=48)
    assert [n.split("_z")[1] for n in got.names] == [n.split("_z")[1] for n in ref.names]
    np.testing.assert_array_equal(got.images, ref.images)
    np.testing.assert_array_equal(got.masks, ref.masks)


def test_axial_slices_are_axial(tmp_path):
    """Axial sections of a brain are longer front to back than left to right."""
    data, affine = template_volume()
    nib.save(nib.Nifti1Image(*reorient(data, affine, "PIR")), tmp_path / "pir.nii.gz")
    s = axial_slices(tmp_path / "pir.nii.gz", size=58)
    mid = s.masks[len(s.masks) // 2]
    rows, cols = np.flatnonzero(mid.any(1)), np.flatnonzero(mid.any(0))
    assert np.ptp(rows) > np.ptp(cols)


def test_anisotropic_pixels_are_made_square(tmp_path):
    data, affine = template_volume()
    coarse = data[:, ::2, :]  # 4 mm x 8 mm x 4 mm voxels
    aff = affine.copy()
    aff[:3, 1] *= 2
    nib.save(nib.Nifti1Image(coarse, aff), tmp_path / "aniso.nii.gz")
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "iso.nii.gz")
    a = axial_slices(tmp_path / "aniso.nii.gz", size=48)
    b = axial_slices(tmp_path / "iso.nii.gz", size=48)
    assert (a.masks ^ b.masks).mean() < 0.03


@pytest.mark.parametrize("size", [32, 48])
@pytest.mark.parametrize("orientation", ["RAS", "PIR"])
def test_small_sizes_read_and_take_lesions(tmp_path, size, orientation):
    folder = write_nifti_dir(tmp_path / "ixi", orientation=orientation)
    train, val, test = slices_from_nifti_dir(folder, size=size)
    assert train.images.shape[1:] == (size, size) and len(test.names) == len(test.images)
    assert "NIfTI volumes" in describe_nifti_dir(folder, size=size)
    out, lesions = insert_lesions(test.images, test.masks, test.names, seed=0)
    assert out.shape == test.images.shape and lesions.any(axis=(1, 2)).all()
