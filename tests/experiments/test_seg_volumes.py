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


def _brats_case(folder, cid, et, naming):
    folder.mkdir(parents=True)
    lab = np.zeros((6, 6, 4), np.int16)
    lab[1:5, 1:5, 1:3], lab[2:4, 2:4, 1:3], lab[2, 2, 1] = 2, 1, et
    names = ("_t1", "_t1ce", "_t2", "_flair", "_seg") if naming == "2018" else (
        "-t1n", "-t1c", "-t2w", "-t2f", "-seg")  # fmt: skip
    for m in names[:4]:
        nib.save(nib.Nifti1Image(np.ones((6, 6, 4), np.float32), np.eye(4)),
                 folder / f"{cid}{m}.nii.gz")  # fmt: skip
    nib.save(nib.Nifti1Image(lab, np.eye(4)), folder / f"{cid}{names[4]}.nii.gz")


def test_brats_volumes_map_both_conventions(tmp_path):
    _brats_case(tmp_path / "r21" / "a", "a", 4, "2018")
    _brats_case(tmp_path / "r23" / "b", "b", 3, "2023")
    (a,) = volumes.brats_volumes(str(tmp_path / "r21"), max_cases=None)
    (b,) = volumes.brats_volumes(str(tmp_path / "r23"), max_cases=None)
    for v in (a, b):
        assert v.labels[2, 2, 1] == 3 and v.labels[3, 3, 1] == 1 and v.labels[1, 1, 1] == 2
    # 2021 files relabelled ET 4 -> 3 (a conversion script): only with the convention set
    _brats_case(tmp_path / "conv" / "c", "c", 3, "2018")
    with pytest.raises(ValueError, match="brats_convention"):
        volumes.brats_volumes(str(tmp_path / "conv"), max_cases=None)
    (c,) = volumes.brats_volumes(str(tmp_path / "conv"), max_cases=None, convention="brats2023")
    assert c.labels[2, 2, 1] == 3
    with pytest.raises(ValueError, match="cases disagree"):  # one release per folder
        volumes.brats_volumes(str(tmp_path), max_cases=None)
