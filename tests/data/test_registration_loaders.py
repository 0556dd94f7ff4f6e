"""Loaders for Learn2Reg/OASIS pairs and ACDC patients, on small files written here."""

from __future__ import annotations

import dataclasses
import json

import nibabel as nib
import numpy as np
import pytest
from realdata_files import write_acdc, write_learn2reg

from mricompendium.data import DataError
from mricompendium.data.orientation import display_slice, load_ras
from mricompendium.data.registration import (
    load_acdc_patient,
    load_learn2reg_pairs,
    slice_pairs_2d,
)
from mricompendium.data.registration.loaders import find_acdc_patients


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
    # RAS+ (12, 14, 10) in coronal slicing order: rows S (10), columns R (12), slices A (14)
    assert pairs[0].moving.shape == (10, 12, 14) and pairs[0].fixed_labels.dtype == np.int64
    assert pairs[0].spacing_mm == (1.0, 1.0, 1.0)


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


def _identity_dice(batch) -> float:
    """Mean Dice over labels of moving vs fixed labels, i.e. of the identity transform."""
    m, f = batch["moving_labels"].numpy(), batch["fixed_labels"].numpy()
    scores = [2 * ((m == k) & (f == k)).sum() / ((m == k).sum() + (f == k).sum())
              for k in np.unique(f) if k > 0]  # fmt: skip
    return float(np.mean(scores))


def test_a_subject_stored_flipped_gives_the_same_pairs_and_identity_dice(tmp_path):
    lia = write_learn2reg(tmp_path / "lia")  # every subject LIA, as the release
    mixed = write_learn2reg(tmp_path / "mixed", orient={1: "RSA", 2: "PIR"})
    ref, flipped = load_learn2reg_pairs(lia), load_learn2reg_pairs(mixed)
    for a, b in zip(ref, flipped, strict=True):
        for key in ("moving", "fixed", "moving_labels", "fixed_labels"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    size = 24
    dice = [_identity_dice(slice_pairs_2d(p, size)) for p in (ref, flipped)]
    assert dice[0] == dice[1] > 0.5
    # the slices are coronal, superior at the top, as the template slices the networks train on
    vol, _ = load_ras(mixed / "imagesTr" / "OASIS_0002_0000.nii.gz")
    k = vol.shape[1] // 2
    np.testing.assert_array_equal(flipped[0].moving[:, :, k], display_slice(vol, 1, k))
    top, bottom = flipped[0].moving[:3].mean(), flipped[0].moving[-3:].mean()
    assert top != bottom


def test_pairs_not_on_one_grid_are_refused_naming_both_files(tmp_path):
    root = write_learn2reg(tmp_path)
    moved = root / "imagesTr" / "OASIS_0002_0000.nii.gz"
    img = nib.load(moved)
    affine = img.affine.copy()
    affine[:3, 3] += 12.0  # same shape, another place: not the release's common space
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine), moved)
    with pytest.raises(DataError, match="OASIS_0002_0000.nii.gz: paired with OASIS_0001_0000"):
        load_learn2reg_pairs(root)


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


def test_acdc_tree_and_non_ras_stacks_give_the_same_slices(tmp_path):
    ref = write_acdc(tmp_path / "a")
    other = write_acdc(tmp_path / "b", orient={0: "LPS", 1: "SPL"})  # stack stored first
    assert [p.name for p in find_acdc_patients(tmp_path / "a")] == ["patient001", "patient002"]
    for name in ("patient001", "patient002"):
        a, b = load_acdc_patient(ref / name), load_acdc_patient(other / name)
        assert a.moving.shape[2] == 4 and a.spacing_mm[2] == 10.0  # slices: the stack
        np.testing.assert_array_equal(a.moving, b.moving)
        np.testing.assert_array_equal(a.fixed_labels, b.fixed_labels)
        batch = slice_pairs_2d([a], 24, slices="all")
        assert batch["moving"].shape[0] == 4 and set(batch["units"]) == {name}


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
