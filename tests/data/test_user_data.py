"""A user's NIfTI folder replaces the embedded slices, split by volume."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data import DataError, slices_from_nifti_dir


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
