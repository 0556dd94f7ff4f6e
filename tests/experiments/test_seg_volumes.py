"""Whole volumes for the self-configuring pipeline: thick slices, class maps, BraTS labels."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mricompendium.experiments.segmentation import volumes


def test_thick_slices_average_groups():
    x = np.arange(8, dtype=float).reshape(1, 1, 1, 8)
    np.testing.assert_allclose(volumes._thick_slices(x, 2, axis=3)[0, 0, 0], [0.5, 2.5, 4.5, 6.5])


@pytest.mark.parametrize("task,n_classes", [("anatomy", 5), ("tumour", 3)])
def test_synth_volumes_classes_and_anisotropic_spacing(task, n_classes):
    (v,) = volumes.synth_volumes(1, first_seed=3, task=task, spacing_mm=4.0, grid=32)
    assert v.image.shape == (4, 32, 32, 16) and v.labels.shape == (32, 32, 16)
    assert v.spacing_mm == (4.0, 4.0, 8.0) and v.case == "synth-3"
    assert set(np.unique(v.labels)) <= set(range(n_classes + 1))
    assert (v.labels > 0).any()
    with pytest.raises(ValueError, match="task"):
        volumes.synth_volumes(1, first_seed=0, task="organs")


def test_brats_volumes_map_both_conventions(tmp_path):
    for cid, et in (("a", 4), ("b", 3)):
        folder = tmp_path / cid
        folder.mkdir()
        lab = np.zeros((6, 6, 4), np.int16)
        lab[1:5, 1:5, 1:3], lab[2:4, 2:4, 1:3], lab[2, 2, 1] = 2, 1, et
        for m in ("t1", "t1ce", "t2", "flair"):
            nib.save(nib.Nifti1Image(np.ones((6, 6, 4), np.float32), np.eye(4)),
                     folder / f"{cid}_{m}.nii.gz")  # fmt: skip
        nib.save(nib.Nifti1Image(lab, np.eye(4)), folder / f"{cid}_seg.nii.gz")
    a, b = volumes.brats_volumes(str(tmp_path), max_cases=None)
    for v in (a, b):
        assert v.labels[2, 2, 1] == 3 and v.labels[3, 3, 1] == 1 and v.labels[1, 1, 1] == 2
