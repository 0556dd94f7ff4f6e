"""The SKM-TEA raw-data loader, on files written in the published layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.recon.skmtea import (
    RECON_DIR,
    load_skmtea,
    read_scan,
    read_split,
    write_skmtea_scan,
    write_skmtea_split,
)

X, Y, Z, C = 6, 40, 24, 4


def _scan(root: Path, scan_id: str, seed: int = 0, cartilage: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((X, Y, Z, 2, C)) + 1j * rng.standard_normal((X, Y, Z, 2, C))
    seg = np.zeros((X, Y, Z), np.uint8)
    if cartilage:
        seg[:, 10:30, 5:20] = 2  # femoral cartilage
    seg[:, :5, :5] = 5  # meniscus: not cartilage
    write_skmtea_scan(
        root,
        scan_id,
        kspace=k,
        maps=np.ones((X, Y, Z, C, 1)),
        target=np.ones((X, Y, Z, 2, 1)),
        seg=seg,
        masks={6.0: np.ones((Y, Z))},
    )
    return {
        "file_name": f"{scan_id}.h5",
        "scan_id": scan_id,
        "subject_id": seed,
        "matrix_shape": [X, Y, Z],
    }


def test_written_scans_follow_the_published_keys(tmp_path: Path) -> None:
    _scan(tmp_path, "MTR_001")
    with h5py.File(tmp_path / RECON_DIR / "MTR_001.h5") as f:
        assert f["kspace"].shape == (X, Y, Z, 2, C) and f["maps"].shape == (X, Y, Z, C, 1)
        assert f["target"].shape == (X, Y, Z, 2, 1) and "masks/poisson_6.0x" in f
    scan = read_scan(tmp_path / RECON_DIR / "MTR_001.h5", slices=[1, 2])
    assert scan["kspace"].shape == (2, Y, Z, 2, C) and scan["target"].shape == (2, Y, Z, 2)


def test_split_loads_echoes_as_frames_with_cartilage_regions(tmp_path: Path) -> None:
    scans = [
        _scan(tmp_path, "MTR_001", 1),
        _scan(tmp_path, "MTR_002", 2),
        _scan(tmp_path, "MTR_003", 3, cartilage=False),
    ]
    write_skmtea_split(tmp_path, "train", scans)
    assert [d["scan_id"] for d in read_split(tmp_path, "train")] == [
        "MTR_001",
        "MTR_002",
        "MTR_003",
    ]
    s = load_skmtea(tmp_path, split="train", size=16, max_slices=2)
    assert s.kspace.shape == (4, C, 2, 16, 16) and s.units == ["1", "1", "2", "2"]
    assert s.regions.any(dim=(1, 2)).all() and not s.regions.all()
    b = s.batch([0], "poisson_2d@4", seed=0)
    assert b.mask.shape == (1, 1, 1, 16, 16) and b.target.shape == (1, 2, 16, 16)


def test_broken_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / RECON_DIR).mkdir(parents=True)
    with h5py.File(tmp_path / RECON_DIR / "one_echo.h5", "w") as f:
        f["kspace"] = np.zeros((X, Y, Z, 1, C), np.complex64)
        f["maps"] = np.zeros((X, Y, Z, C, 1), np.complex64)
        f["target"] = np.zeros((X, Y, Z, 1, 1), np.complex64)
    with pytest.raises(DataError, match="2 echoes"):
        read_scan(tmp_path / RECON_DIR / "one_echo.h5")
    with h5py.File(tmp_path / RECON_DIR / "no_maps.h5", "w") as f:
        f["kspace"] = np.zeros((X, Y, Z, 2, C), np.complex64)
    with pytest.raises(DataError, match="maps"):
        read_scan(tmp_path / RECON_DIR / "no_maps.h5")
    with pytest.raises(DataError, match="annotation"):
        read_split(tmp_path, "val")
    bad = tmp_path / "annotations" / "v1.0.0" / "test.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(DataError):
        read_split(tmp_path, "test")


def test_a_segmentation_of_another_shape_is_refused(tmp_path: Path) -> None:
    d = _scan(tmp_path, "MTR_009")
    import nibabel as nib

    nib.save(
        nib.Nifti1Image(np.zeros((X, Y, Z + 1), np.uint8), np.eye(4)),
        str(tmp_path / "segmentation_masks/raw-data-track/MTR_009.nii.gz"),
    )
    write_skmtea_split(tmp_path, "val", [d])
    with pytest.raises(DataError, match="segmentation"):
        load_skmtea(tmp_path, split="val", size=16)


def test_describe_reads_every_split_and_checks_segmentations(tmp_path: Path) -> None:
    from mricompendium.data.recon.skmtea import SEG_DIR, describe_skmtea

    for split, ids in (("train", ["MTR_001", "MTR_002"]), ("val", ["MTR_003"])):
        write_skmtea_split(tmp_path, split, [_scan(tmp_path, s, i) for i, s in enumerate(ids)])
    assert describe_skmtea(tmp_path, splits=("train", "val")) == (
        "SKM-TEA raw data: train 2 scans, val 1 scans"
    )
    with pytest.raises(DataError, match="annotation"):
        describe_skmtea(tmp_path)  # no test split
    import nibabel as nib

    nib.save(
        nib.Nifti1Image(np.zeros((X, Y, Z + 1), np.uint8), np.eye(4)),
        str(tmp_path / SEG_DIR / "MTR_003.nii.gz"),
    )
    with pytest.raises(DataError, match="does not match the scan"):
        describe_skmtea(tmp_path, splits=("train", "val"))


def test_the_dry_route_reads_every_split_and_names_a_corrupt_file(tmp_path: Path) -> None:
    import sys

    from mricompendium.data import checks

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from realdata_files import write_skmtea

    root = write_skmtea(tmp_path / "skm-tea")
    assert "skm_tea" in checks.ROUTES
    assert checks.check_sources({"data_path": str(root)}, "skm_tea") == [
        "data_path: SKM-TEA raw data: train 2 scans, val 1 scans, test 2 scans"
    ]
    bad = root / RECON_DIR / "MTR_005.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(DataError) as e:
        checks.check_sources({"data_path": str(root)}, "skm_tea")
    assert "MTR_005.h5" in str(e.value)
