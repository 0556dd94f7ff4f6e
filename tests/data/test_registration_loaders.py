"""Loaders for Learn2Reg/OASIS pairs and ACDC patients, on small files written here."""

from __future__ import annotations

import dataclasses
import json

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data import DataError
from mricompendium.data.registration import (
    load_acdc_patient,
    load_learn2reg_pairs,
    slice_pairs_2d,
)


def _save(path, data, spacing=(1.0, 1.0, 1.0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([*spacing, 1.0])), path)


def _brain(seed):
    rng = np.random.default_rng(seed)
    img = rng.random((12, 14, 10)).astype(np.float32)
    lab = np.zeros((12, 14, 10), np.int16)
    lab[3:9, 4:10, 2:8] = 1
    lab[5:7, 6:8, 4:6] = 2
    return img, lab


@pytest.fixture
def learn2reg(tmp_path):
    for i in (1, 2, 3):
        img, lab = _brain(i)
        _save(tmp_path / "imagesTr" / f"OASIS_000{i}_0000.nii.gz", img)
        _save(tmp_path / "labelsTr" / f"OASIS_000{i}_0000.nii.gz", lab)
    return tmp_path


def test_learn2reg_pairs_without_json_pair_consecutive_images(learn2reg):
    pairs = load_learn2reg_pairs(learn2reg)
    assert [p.name for p in pairs] == [
        "OASIS_0002_0000->OASIS_0001_0000",
        "OASIS_0003_0000->OASIS_0002_0000",
    ]
    assert pairs[0].moving.shape == (12, 14, 10) and pairs[0].fixed_labels.dtype == np.int64


def test_learn2reg_pairs_follow_the_dataset_json(learn2reg):
    meta = {
        "registration_val": [
            {
                "fixed": "./imagesTr/OASIS_0001_0000.nii.gz",
                "moving": "./imagesTr/OASIS_0003_0000.nii.gz",
            }
        ]
    }
    (learn2reg / "OASIS_dataset.json").write_text(json.dumps(meta))
    pairs = load_learn2reg_pairs(learn2reg)
    assert [p.name for p in pairs] == ["OASIS_0003_0000->OASIS_0001_0000"]
    batch = slice_pairs_2d(pairs, 16)
    assert batch["moving"].shape == (1, 1, 16, 16)
    assert set(batch["fixed_labels"].unique().tolist()) <= {0, 1, 2}


def test_corrupt_label_file_is_named(learn2reg):
    bad = learn2reg / "labelsTr" / "OASIS_0002_0000.nii.gz"
    bad.write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match="OASIS_0002_0000.nii.gz"):
        load_learn2reg_pairs(learn2reg)


def test_mismatched_shapes_are_named(learn2reg):
    _save(learn2reg / "labelsTr" / "OASIS_0001_0000.nii.gz", np.zeros((5, 5, 5), np.int16))
    with pytest.raises(DataError, match="OASIS_0001_0000.nii.gz.*shape"):
        load_learn2reg_pairs(learn2reg)


def test_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="imagesTr"):
        load_learn2reg_pairs(tmp_path)


def _acdc(tmp_path, info="ED: 1\nES: 3\nGroup: NOR\n"):
    pat = tmp_path / "patient001"
    pat.mkdir()
    (pat / "Info.cfg").write_text(info)
    for f, r in ((1, 5), (3, 4)):
        img = np.random.default_rng(f).random((16, 16, 3)).astype(np.float32)
        yy, xx = np.mgrid[:16, :16]
        d = np.hypot(yy - 8, xx - 8)
        gt = np.where(d < r, 3, np.where(d < r + 2, 2, 0)).astype(np.uint8)
        gt[0, 0] = 1  # an RV voxel
        gt = np.repeat(gt[..., None], 3, axis=2)
        _save(pat / f"patient001_frame{f:02d}.nii.gz", img, (1.5, 1.5, 10.0))
        _save(pat / f"patient001_frame{f:02d}_gt.nii.gz", gt, (1.5, 1.5, 10.0))
    return pat


def test_acdc_patient_maps_labels_and_spacing(tmp_path):
    pair = load_acdc_patient(_acdc(tmp_path))
    assert pair.name == "patient001 ED->ES" and pair.unit == "patient001"
    assert pair.spacing_mm == (1.5, 1.5, 10.0)
    assert set(np.unique(pair.moving_labels)) == {0, 1, 2}  # LV blood 1, myo 2, RV dropped
    batch = slice_pairs_2d([pair], 24, slices="all")
    assert batch["moving"].shape[0] == 3 and batch["units"] == ["patient001"] * 3


def test_acdc_info_without_es_is_named(tmp_path):
    pat = _acdc(tmp_path, info="ED: 1\n")
    with pytest.raises(DataError, match="Info.cfg.*ES"):
        load_acdc_patient(pat)


def test_slice_pairs_keep_only_slices_with_the_required_label(tmp_path):
    pair = load_acdc_patient(_acdc(tmp_path))
    labels = pair.fixed_labels.copy()
    labels[..., 0][labels[..., 0] == 2] = 0  # no myocardium at ES in slice 0
    pair = dataclasses.replace(pair, fixed_labels=labels)
    batch = slice_pairs_2d([pair], 24, slices="all", require=(2,))
    assert batch["names"] == ["patient001 ED->ES slice 1", "patient001 ED->ES slice 2"]
    assert all((lab == 2).any() for lab in batch["fixed_labels"])
    with pytest.raises(DataError, match="no slice holds"):
        slice_pairs_2d([pair], 24, require=(5,))
