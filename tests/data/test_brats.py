"""BraTS loader on small releases written in their own trees, naming and label conventions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from realdata_files import BRATS_FOLDERS, write_brats

from mricompendium.data.errors import DataError
from mricompendium.data.segmentation import brats
from mricompendium.experiments.segmentation import tumour

SHAPE = (6, 5, 4)


def _labels(et: int) -> np.ndarray:
    lab = np.zeros(SHAPE, np.int16)
    lab[1:5, 1:4, 1:3] = 2  # oedema
    lab[2:4, 2:3, 1:3] = 1  # necrotic core
    lab[3, 2, 2] = et  # enhancing
    return lab


def test_regions_follow_each_convention():
    for conv, et in (("2018", 4), ("2023", 3)):
        lab = _labels(et)
        et_m, tc, wt = brats.regions_from_labels(lab, conv)
        assert et_m.sum() == 1 and et_m[3, 2, 2]
        assert tc.sum() == (lab == 1).sum() + 1
        assert wt.sum() == (lab > 0).sum()
        assert (et_m <= tc).all() and (tc <= wt).all()  # nested regions
        np.testing.assert_array_equal(brats.regions_from_labels(lab, "auto"), [et_m, tc, wt])


def test_wrong_convention_is_refused_with_the_setting_to_change():
    with pytest.raises(
        ValueError, match="not defined by the BraTS 2018-2021.*convention to brats2023"
    ):
        brats.regions_from_labels(_labels(3), "2018")
    with pytest.raises(ValueError, match="not defined by the BraTS 2023"):
        brats.regions_from_labels(_labels(4), "2023")


@pytest.mark.parametrize("release", ["2018", "2021", "2023"])
def test_each_release_tree_is_read_as_distributed(tmp_path, release):
    root = write_brats(tmp_path, release=release, n=4)
    assert root.name == BRATS_FOLDERS[release]
    folders = brats.find_cases(tmp_path)  # any depth: 2018's HGG/ and LGG/ included
    assert len(folders) == 4 and [f.name for f in folders] == sorted(f.name for f in folders)
    cases = brats.load_cases(tmp_path)
    conv = "2023" if release == "2023" else "2018"
    assert {c.convention for c in cases} == {conv}
    for c in cases:
        et, tc, wt = c.regions
        assert et.any() and (et <= tc).all() and (tc <= wt).all()
        assert set(np.unique(c.labels)) == {0, 1, 2, 3 if release == "2023" else 4}
        assert c.image.shape[0] == 4 and c.image.dtype == np.float32


def test_convention_comes_from_the_release_not_the_values(tmp_path):
    # a 2023 case without enhancing tumour holds only 1 and 2, and is still a 2023 case
    write_brats(tmp_path, release="2023", n=2, et={0: False})
    case = brats.load_cases(tmp_path)[0]
    assert not case.regions[0].any() and case.convention == "2023"


def test_a_folder_mixing_releases_is_refused_unless_the_convention_is_set(tmp_path):
    write_brats(tmp_path, release="2021", n=2)
    write_brats(tmp_path, release="2023", n=2)
    with pytest.raises(DataError, match="cases disagree.*brats_convention"):
        brats.load_cases(tmp_path)
    with pytest.raises(DataError, match=r"-seg.nii.gz: label values \[3\] .*2018-2021"):
        brats.load_cases(tmp_path, convention="brats2021")  # the 2023 cases do not fit


def test_relabelled_2021_files_need_the_convention(tmp_path):
    root = write_brats(tmp_path, release="2021", n=1)
    seg = next(root.glob("*/*_seg.nii.gz"))
    img = nib.load(seg)
    lab = np.asarray(img.dataobj).copy()
    lab[lab == 4] = 3  # as nnU-Net's BraTS conversion does
    nib.save(nib.Nifti1Image(lab, img.affine), seg)
    with pytest.raises(DataError, match=f"{seg.name}: label values \\[3\\].*set brats_convention"):
        brats.load_cases(root)
    (case,) = brats.load_cases(root, convention="brats2023")
    assert case.regions[0].any() and case.convention == "2023"


def test_a_pir_case_gives_the_same_axial_slices_and_scores(tmp_path):
    ras = write_brats(tmp_path / "ras", n=3)
    pir = write_brats(tmp_path / "pir", n=3, orient={0: "PIR", 1: "LPS", 2: "ASL"})
    for a, b in zip(brats.load_cases(ras), brats.load_cases(pir), strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.regions, b.regions)
        np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)
    kw = dict(max_cases=3, dims=2, size=16, spacing_mm=2.0)
    x_ras, x_pir = tumour.brats_cases(str(ras), **kw), tumour.brats_cases(str(pir), **kw)
    np.testing.assert_array_equal(x_ras.x.numpy(), x_pir.x.numpy())
    np.testing.assert_array_equal(x_ras.y.numpy(), x_pir.y.numpy())
    assert x_ras.cases == x_pir.cases == [f"BraTS2021_{i:05d}" for i in range(3)]
    # the 2D slice is axial: it cuts the RAS+ S axis, at the slice with the most whole tumour
    case = brats.load_cases(pir)[0]
    wt = case.regions[2]
    k = int(wt.sum(axis=(0, 1)).argmax())
    assert wt[:, :, k].sum() == wt.sum(axis=(0, 1)).max()
    scores = [float((x.y[:, 2] > 0).float().mean()) for x in (x_ras, x_pir)]
    assert scores[0] == scores[1]  # any score of the same slices is the same


def test_grids_4d_files_and_bad_labels_are_refused_naming_the_file(tmp_path):
    root = write_brats(tmp_path, n=1)
    case = next(root.iterdir())
    t2 = case / f"{case.name}_t2.nii.gz"
    img = nib.load(t2)
    shifted = img.affine.copy()
    shifted[0, 3] += 8.0  # same shape, moved by 8 mm: not co-registered
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), shifted), t2)
    with pytest.raises(DataError, match=f"{t2.name}: t2 of .*not on the grid of {case.name}_t1"):
        brats.load_case(case)
    with pytest.raises(DataError, match=f"{t2.name}: t2 of .*not on the grid"):
        brats.check_case(case)
    four = np.stack([np.asarray(img.dataobj)] * 2, -1)
    nib.save(nib.Nifti1Image(four, img.affine), t2)
    with pytest.raises(DataError, match=f"{t2.name}: has 4 dimensions"):
        brats.load_case(case)
    nib.save(img, t2)
    seg = case / f"{case.name}_seg.nii.gz"
    lab = nib.load(seg)
    bad = np.asarray(lab.dataobj).copy()
    bad[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(bad, lab.affine), seg)
    with pytest.raises(DataError, match=rf"{seg.name}: label values \[7\]"):
        brats.check_case(case)


def test_missing_modality_corrupt_file_and_empty_root(tmp_path):
    root = write_brats(tmp_path, n=2)
    a, b = sorted(root.iterdir())
    (a / f"{a.name}_t2.nii.gz").unlink()
    with pytest.raises(DataError, match=rf"{a.name}: missing modality \['t2'\]"):
        brats.load_case(a)
    (b / f"{b.name}_t1ce.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match=f"{b.name}_t1ce.nii.gz: not a readable NIfTI"):
        brats.load_case(b)
    with pytest.raises(DataError, match="no BraTS case folders"):
        brats.find_cases(a)


def test_unlabelled_case_loads_without_regions(tmp_path):
    root = write_brats(tmp_path, n=1)
    case = next(root.iterdir())
    (case / f"{case.name}_seg.nii.gz").unlink()
    loaded = brats.load_case(case)
    assert loaded.labels is None and loaded.regions is None
