"""The CMRxRecon cine loader, on files written in the published MATLAB v7.3 layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.recon.cmrxrecon import (
    cine_files,
    load_cmrxrecon,
    prepare_cine_slice,
    read_cine_kspace,
    read_cine_mask,
    write_cine_mat,
)


def _kspace(shape=(64, 30, 4, 3, 5), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _tree(root: Path, patients=("P001", "P002")) -> Path:
    for i, p in enumerate(patients):
        d = root / "MultiCoil" / "Cine" / "TrainingSet" / "FullSample" / p
        d.mkdir(parents=True)
        write_cine_mat(d / "cine_sax.mat", {"kspace_full": _kspace(seed=i)})
    return root


def test_written_files_have_matlabs_layout_and_read_back(tmp_path: Path) -> None:
    k = _kspace()
    write_cine_mat(tmp_path / "cine_sax.mat", {"kspace_full": k})
    assert (tmp_path / "cine_sax.mat").read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(tmp_path / "cine_sax.mat") as f:
        assert f["kspace_full"].shape == (5, 3, 4, 30, 64)  # (t, sz, sc, ky, kx)
        assert f["kspace_full"].dtype.names == ("real", "imag")
    np.testing.assert_array_equal(read_cine_kspace(tmp_path / "cine_sax.mat"), k)
    one = read_cine_kspace(tmp_path / "cine_sax.mat", slice_index=2)
    np.testing.assert_array_equal(one[:, :, :, 0], k[:, :, :, 2])


def test_single_coil_files_get_one_coil(tmp_path: Path) -> None:
    k = _kspace((32, 20, 2, 4))
    write_cine_mat(tmp_path / "s.mat", {"kspace_single_full": k})
    assert read_cine_kspace(tmp_path / "s.mat", "kspace_single_full").shape == (32, 20, 1, 2, 4)


def test_masks_need_the_central_acs_lines(tmp_path: Path) -> None:
    m = np.zeros((64, 60))
    m[:, ::8] = 1
    m[:, 18:42] = 1
    write_cine_mat(tmp_path / "mask.mat", {"mask08": m, "bad": m * 0, "half": m * 0.5})
    np.testing.assert_array_equal(read_cine_mask(tmp_path / "mask.mat", "mask08"), m)
    with pytest.raises(DataError, match="central 24"):
        read_cine_mask(tmp_path / "mask.mat", "bad")
    with pytest.raises(DataError, match="binary"):
        read_cine_mask(tmp_path / "mask.mat", "half")


def test_corrupt_or_wrong_files_are_refused(tmp_path: Path) -> None:
    write_cine_mat(tmp_path / "a.mat", {"kspace_full": _kspace()})
    with pytest.raises(DataError, match="no variable"):
        read_cine_kspace(tmp_path / "a.mat", "kspace_sub04")
    with h5py.File(tmp_path / "real.h5", "w") as f:
        f["kspace_full"] = np.zeros((2, 3, 4, 5, 6), np.float32)
    with pytest.raises(DataError, match="not complex"):
        read_cine_kspace(tmp_path / "real.h5")
    (tmp_path / "junk.mat").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError):
        read_cine_kspace(tmp_path / "junk.mat")
    with pytest.raises(DataError, match="slice"):
        read_cine_kspace(tmp_path / "a.mat", slice_index=7)


def test_tree_loads_slices_as_cases_with_patients_as_units(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert [p.parent.name for p in cine_files(root)] == ["P001", "P002"]
    s = load_cmrxrecon(root, size=16, max_slices=2)
    assert s.kspace.shape == (4, 4, 5, 16, 16)  # 2 patients x 2 slices, coils, frames
    assert s.units == ["P001", "P001", "P002", "P002"]
    b = s.batch([0, 3], "equispaced_kt@4", seed=0)
    assert b.target.shape == (2, 5, 16, 16) and b.kspace.shape == (2, 4, 5, 16, 16)
    with pytest.raises(DataError):
        cine_files(tmp_path / "MultiCoil" / "Cine", "lax")


def test_prepare_removes_readout_oversampling_then_crops() -> None:
    k = _kspace((64, 30, 2, 1, 3))[:, :, :, 0]
    out = prepare_cine_slice(k, 16)
    assert out.shape == (2, 3, 16, 16)
    with pytest.raises(DataError):
        prepare_cine_slice(k, 40)


def test_describe_counts_patients_and_checks_headers(tmp_path: Path) -> None:
    from mricompendium.data.recon.cmrxrecon import describe_cmrxrecon

    root = _tree(tmp_path / "ok", patients=("P001", "P002", "P003"))
    line = describe_cmrxrecon(root, min_patients=3)
    assert line == "CMRxRecon cine: 3 files of 3 patients, coils [4], frames [5]"
    with pytest.raises(DataError, match="3 patients, the notebook needs 4"):
        describe_cmrxrecon(root, min_patients=4)
    bad = tmp_path / "bad" / "FullSample" / "P001"
    bad.mkdir(parents=True)
    with h5py.File(bad / "cine_sax.mat", "w") as f:
        f["kspace_full"] = np.zeros((2, 3, 4, 5, 6), np.float32)
    with pytest.raises(DataError, match="not complex"):
        describe_cmrxrecon(tmp_path / "bad", min_patients=1)


def test_the_dynamic_cs_dry_run_reads_the_tree(tmp_path: Path) -> None:
    from mricompendium import run

    root = _tree(tmp_path, patients=("P001", "P002"))
    checked = run.check_run("dynamic_cs", overrides={"data_path": str(root)})
    assert checked.data == [
        "data_path: CMRxRecon cine: 2 files of 2 patients, coils [4], frames [5]"
    ]


def test_the_cmrxrecon_dry_run_needs_the_test_patients_plus_two(tmp_path: Path) -> None:
    from mricompendium import run

    root = _tree(tmp_path, patients=("P001", "P002", "P003", "P004"))
    checked = run.check_run("cmrxrecon", overrides={"data_path": str(root), "n_test_patients": 2})
    assert checked.data == [
        "data_path: CMRxRecon cine: 4 files of 4 patients, coils [4], frames [5]"
    ]
    with pytest.raises(run.RunError, match="4 patients, the notebook needs 5"):
        run.check_run("cmrxrecon", overrides={"data_path": str(root), "n_test_patients": 3})
