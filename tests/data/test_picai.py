"""PI-CAI reader on files the test writes in the public layout (images/, labels/ = picai_labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from mricompendium.data import DataError
from mricompendium.data.registration.picai import (
    PicaiCase,
    find_picai_cases,
    load_picai_case,
    picai_slices,
    split_patients,
    write_picai_study,
)
from mricompendium.data.registration.prostate import LESION

T2_SIZE, T2_SPACING = (24, 20, 6), (1.0, 1.0, 3.0)  # ITK order (x, y, z), LPS directions


def _image(arr_zyx: np.ndarray, spacing, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(arr_zyx)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def _t2() -> np.ndarray:
    z, y, x = np.meshgrid(*(np.arange(n) for n in T2_SIZE[::-1]), indexing="ij")
    t2 = (100 + x + 2 * y).astype(np.float32)
    t2[2, 0, 0] = 5000.0  # index (0, 0): the smallest LPS x and y, the Right-Anterior corner
    return t2


def _adc_coarse() -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
    """ADC on a 2x coarser in-plane grid, linear in physical x (1e-6 mm^2/s)."""
    spacing, origin = (2.0, 2.0, 3.0), (0.5, 0.5, 0.0)  # cell centres of the coarse grid
    shape = (T2_SIZE[2], T2_SIZE[1] // 2, T2_SIZE[0] // 2)
    x = origin[0] + spacing[0] * np.arange(shape[2])
    adc = np.broadcast_to(1000.0 + 50.0 * x, shape).astype(np.float32)
    return np.ascontiguousarray(adc), spacing, origin


def _write_case(root: Path, pid: str, sid: str, *, lesion: bool, hbv: bool = True,
                bad_grid: bool = False) -> None:  # fmt: skip
    d = root / "images" / pid
    d.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(_image(_t2(), T2_SPACING), str(d / f"{pid}_{sid}_t2w.mha"))
    adc, sp, org = _adc_coarse()
    sitk.WriteImage(_image(adc, sp, org), str(d / f"{pid}_{sid}_adc.mha"))
    if hbv:
        sitk.WriteImage(_image(adc * 0 + 7, sp, org), str(d / f"{pid}_{sid}_hbv.mha"))
    gland = np.zeros(_t2().shape, np.uint8)
    gland[:, 5:15, 6:18] = 1
    les = np.zeros_like(gland)
    if lesion:
        les[2:4, 8:11, 9:12] = 3  # ISUP 3
    labels = root / "labels"
    for sub, arr in (("anatomical_delineations/whole_gland/AI/Bosma22b", gland),
                     ("csPCa_lesion_delineations/human_expert/resampled", les)):  # fmt: skip
        (labels / sub).mkdir(parents=True, exist_ok=True)
        spacing = (2.0, 1.0, 3.0) if bad_grid and "whole_gland" in sub else T2_SPACING
        sitk.WriteImage(_image(arr, spacing), str(labels / sub / f"{pid}_{sid}.nii.gz"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _write_case(tmp_path, "10000", "1000000", lesion=True)
    _write_case(tmp_path, "10001", "1000001", lesion=False)
    _write_case(tmp_path, "10002", "1000002", lesion=False, hbv=False)  # incomplete: skipped
    sheet = tmp_path / "labels" / "clinical_information"
    sheet.mkdir(parents=True)
    (sheet / "marksheet.csv").write_text(
        "patient_id,study_id,mri_date,patient_age,psa,psad,prostate_volume,histopath_type,"
        "lesion_PIRADS,lesion_GS,lesion_ISUP,case_ISUP,case_csPCa,center\n"
        "10000,1000000,2019-07-02,73,7.7,,55,MRBx,4,3+4,2,2,YES,RUMC\n"
        "10001,1000001,2016-05-27,64,8.7,0.09,102,,2,,,0,NO,PCNN\n"
    )
    return tmp_path


def test_finds_complete_studies_with_their_labels(tree: Path) -> None:
    found = find_picai_cases(tree)
    assert [f.name for f in found] == ["10000_1000000", "10001_1000001"]
    assert [f.cspca for f in found] == [True, False]
    assert all(f.gland is not None and f.lesion is not None for f in found)


def test_fold_folders_are_read_as_distributed(tree: Path) -> None:
    fold = tree / "images" / "picai_public_images_fold0"
    fold.mkdir()
    (tree / "images" / "10001").rename(fold / "10001")
    assert [f.name for f in find_picai_cases(tree)] == ["10000_1000000", "10001_1000001"]


def test_round_trip_ras_grid_and_adc_units(tree: Path) -> None:
    case = load_picai_case(find_picai_cases(tree)[0])
    z, y, x = T2_SIZE[::-1]
    assert case.t2w.shape == case.adc.shape == case.lesion.shape == (z, y, x)
    # the Right-Anterior corner comes last along both in-plane axes of a RAS+ array
    assert case.t2w[2, y - 1, x - 1] == 5000.0
    assert case.spacing_mm == (3.0, 1.0, 1.0)
    # ADC linear in physical x, resampled onto the T2 grid, then 1e-6 -> 1e-3 mm^2/s
    xs = np.arange(x)[::-1].astype(float)  # physical x (LPS) of the RAS+ columns
    expected = (1000.0 + 50.0 * xs) * 1e-3
    inner = slice(2, -2)
    np.testing.assert_allclose(case.adc[1, 3, inner], expected[inner], rtol=1e-5)
    assert case.cspca and int(case.lesion.max()) == 3 and case.gland.any()


def test_label_off_the_t2_grid_is_refused_naming_both(tree: Path) -> None:
    _write_case(tree, "10003", "1000003", lesion=False, bad_grid=True)
    files = [f for f in find_picai_cases(tree) if f.patient_id == "10003"][0]
    with pytest.raises(DataError, match="10003_1000003.nii.gz.*10003_1000003_t2w.mha"):
        load_picai_case(files)


def test_without_marksheet_the_lesion_decides(tree: Path) -> None:
    (tree / "labels" / "clinical_information" / "marksheet.csv").unlink()
    cases = [load_picai_case(f) for f in find_picai_cases(tree)]
    assert [c.cspca for c in cases] == [True, False]


def test_slices_follow_the_simulator_layout(tree: Path) -> None:
    cases = [load_picai_case(f) for f in find_picai_cases(tree)]
    s = picai_slices(cases, size=16, fov_mm=16.0)
    assert s["fixed"].shape == s["moving"].shape == (2, 1, 16, 16)
    assert s["fixed_mask"].dtype == torch.bool and s["fixed_labels"].dtype == torch.int64
    assert (s["fixed_labels"][0] == LESION).any() and not (s["fixed_labels"][1] == LESION).any()
    assert s["cancer"].tolist() == [True, False] and s["unit"] == ["10000", "10001"]


def test_writer_and_reader_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shape = (3, 10, 12)
    case = PicaiCase(
        name="20000_2000000", patient_id="20000",
        t2w=rng.random(shape, dtype=np.float32), adc=1.0 + rng.random(shape, dtype=np.float32),
        hbv=rng.random(shape, dtype=np.float32), lesion=np.zeros(shape, np.int64),
        gland=np.zeros(shape, bool), cspca=True, spacing_mm=(3.0, 1.5, 1.5),
    )  # fmt: skip
    case.gland[:, 2:8, 3:9] = True
    case.lesion[1, 4:6, 4:6] = 2
    write_picai_study(tmp_path, case)
    back = load_picai_case(find_picai_cases(tmp_path)[0])
    for key in ("t2w", "adc", "hbv", "lesion", "gland"):
        np.testing.assert_allclose(getattr(back, key), getattr(case, key), rtol=1e-5)
    assert back.cspca and back.spacing_mm == case.spacing_mm


def test_split_is_by_patient_and_stratified_by_outcome() -> None:
    units = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p0"]  # p0 has two studies
    cancer = [True, False] * 4 + [False]
    fit, test = split_patients(units, cancer)
    assert sorted(fit + test) == list(range(9))
    assert {units[i] for i in fit}.isdisjoint({units[i] for i in test})
    assert sum(cancer[i] for i in test) == 2 and sum(not cancer[i] for i in test) == 2
    assert 0 in fit and 8 in fit  # both studies of p0 on the same side


def test_too_few_patients_of_one_outcome_are_refused_with_the_counts() -> None:
    with pytest.raises(ValueError, match="3 csPCa and 4 non-csPCa patients"):
        split_patients([f"p{i}" for i in range(7)], [True, False] * 3 + [False])
