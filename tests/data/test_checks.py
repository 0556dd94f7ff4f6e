"""Real-data checks before a run: formats, volumes, coils and sizes, each refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from userdata_files import write_cc, write_fastmri, write_nifti, write_nifti_dir

from mricompendium.data import DataError, checks
from mricompendium.data.checks import check_sources

KSPACE = {"image_size": 32, "num_coils": 8, "n_test_volumes": 1, "data_format": "fastmri"}


def _fastmri_dir(folder: Path, coils: tuple[int, ...] = (8, 8)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(coils):
        write_fastmri(folder / f"file_brain_{i}.h5", coils=c, shape=(64, 40), recon=(40, 40))
    return folder


def test_fastmri_folder_is_described(tmp_path: Path) -> None:
    (text,) = check_sources({**KSPACE, "data_path": str(_fastmri_dir(tmp_path / "fm"))})
    assert text == "data_path: fastmri k-space, 2 file(s), 2 slices, 8 coils, images 40x40"


def test_empty_paths_are_not_checked() -> None:
    assert check_sources({**KSPACE, "data_path": "", "shift_data_path": ""}) == []


SPLITS_ONE_VOLUME = checks._kspace_loader()[1]  # data.recon splits one volume by slices


def test_single_file_is_split_or_refused_by_name(tmp_path: Path) -> None:
    one = _fastmri_dir(tmp_path / "one", coils=(8,)) / "file_brain_0.h5"
    if SPLITS_ONE_VOLUME:
        assert "1 file(s)" in check_sources({**KSPACE, "data_path": str(one)})[0]
    else:
        with pytest.raises(DataError, match=r"file_brain_0\.h5: is a single file .*n_test_vol"):
            check_sources({**KSPACE, "data_path": str(one)})
    two = _fastmri_dir(tmp_path / "two")
    with pytest.raises(DataError, match=r"two: holds 2 \.h5 file.*at least 3 volumes"):
        check_sources({**KSPACE, "n_test_volumes": 2, "data_path": str(two)})
    # A single file is fine where it is only tested on.
    params = {
        **KSPACE,
        "data_path": str(_fastmri_dir(tmp_path / "fm")),
        "shift_data_path": str(one),
    }
    assert len(check_sources(params)) == 2


def test_coils_fewer_than_the_parameter_name_file_and_parameter(tmp_path: Path) -> None:
    folder = _fastmri_dir(tmp_path / "fm", coils=(8, 4))
    with pytest.raises(DataError, match=r"file_brain_1\.h5: has 4 coils, fewer than num_coils=8"):
        check_sources({**KSPACE, "data_path": str(folder)})
    # Compressed to 4 coils, a mixed folder is usable.
    assert "4/8 coils" in check_sources({**KSPACE, "num_coils": 4, "data_path": str(folder)})[0]
    params = {"image_size": 32, "train_coils": 12, "data_format": "fastmri", "n_test_volumes": 1}
    with pytest.raises(DataError, match=r"file_brain_0\.h5: has 8 coils, fewer than train_coils"):
        check_sources({**params, "data_path": str(folder)})


def test_mixed_coils_without_compression_name_both_files(tmp_path: Path) -> None:
    folder = _fastmri_dir(tmp_path / "fm", coils=(6, 8))
    good = _fastmri_dir(tmp_path / "good", coils=(8, 8))
    params = {**KSPACE, "num_coils": 4, "data_path": str(good), "shift_data_path": str(folder)}
    with pytest.raises(DataError, match=r"file_brain_1\.h5: has 8 coils but file_brain_0\.h5"):
        check_sources(params)


def test_image_size_larger_than_the_data(tmp_path: Path) -> None:
    folder = _fastmri_dir(tmp_path / "fm")
    with pytest.raises(DataError, match=r"file_brain_\d\.h5: image 40x40 is smaller than image_"):
        check_sources({**KSPACE, "image_size": 64, "data_path": str(folder)})


def test_wrong_format_and_non_hdf5_files(tmp_path: Path) -> None:
    folder = _fastmri_dir(tmp_path / "fm")
    bad = {**KSPACE, "data_format": "calgary_campinas", "data_path": str(folder)}
    with pytest.raises(DataError, match=r"file_brain_0\.h5: .*data_format fastmri"):
        check_sources(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: holds no \.h5 files"):
        check_sources({**KSPACE, "data_path": str(tmp_path / "empty")})
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    (tmp_path / "junk2.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match=r"junk\.h5: not a readable HDF5"):
        check_sources({**KSPACE, "data_path": str(tmp_path)})


def test_calgary_campinas_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cc"
    folder.mkdir()
    for i in range(2):
        write_cc(folder / f"e{i}.h5", shape=(40, 34), seed=i)
    params = {**KSPACE, "data_format": "calgary_campinas", "num_coils": 12, "image_size": 32}
    (text,) = check_sources({**params, "data_path": str(folder)})
    assert "calgary_campinas k-space, 2 file(s), 4 slices, 12 coils, images 40x34" in text
    with pytest.raises(DataError, match=r"e0\.h5: image 40x34 is smaller than image_size=40"):
        check_sources({**params, "image_size": 40, "data_path": str(folder)})


def test_nifti_sources(tmp_path: Path) -> None:
    folder = write_nifti_dir(tmp_path / "ixi", orientation="PIR")
    (text,) = check_sources({"image_size": 32, "data_path": str(folder)})
    assert text.startswith("data_path: 3 NIfTI volumes (PIR -> RAS)")
    single = write_nifti(tmp_path / "one.nii.gz")
    with pytest.raises(DataError, match=r"one\.nii\.gz: is a single NIfTI volume.*\(data_path\)"):
        check_sources({"image_size": 32, "data_path": str(single)})


def test_run_refuses_the_issues_real_data_cases_by_name(tmp_path: Path) -> None:
    """A single fastMRI file for cirim; an 8-coil folder for a 12-coil anchor (no kernel)."""
    from mricompendium import run

    one = _fastmri_dir(tmp_path / "one", coils=(8,)) / "file_brain_0.h5"
    if SPLITS_ONE_VOLUME:
        assert run.check_run("cirim", sets=[f"data_path={one}", "image_size=32"]).data
    else:
        with pytest.raises(run.RunError) as failed:
            run.check_run("cirim", sets=[f"data_path={one}", "image_size=32"])
        (line,) = failed.value.lines
        assert line.startswith(f"cirim: {one}: is a single file") and "n_test_volumes=1" in line
    cc8 = tmp_path / "cc8"
    cc8.mkdir()
    for i in range(2):
        write_cc(cc8 / f"e{i}.h5", coils=8, shape=(40, 34), seed=i)
    with pytest.raises(run.RunError) as failed:
        run.check_run("multicoil_generalisation", sets=[f"data_path={cc8}", "image_size=32"])
    assert failed.value.lines == [
        f"multicoil_generalisation: {cc8 / 'e0.h5'}: has 8 coils, fewer than train_coils=12 "
        "(data_path)"
    ]
