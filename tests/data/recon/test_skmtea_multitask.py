"""atommic's SKM-TEA route: measured k-space with its segmentations as the multitask labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mricompendium.data import checks
from mricompendium.data.errors import DataError
from mricompendium.data.recon.skmtea import write_skmtea_scan, write_skmtea_split
from mricompendium.experiments.reconstruction import multitask as mt
from mricompendium.physics.fft import ifft2c

X, Y, Z, C = 5, 48, 40, 6


def _write(root: Path, splits: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Scans whose segmentation holds all six labels in known blocks; subject ids as given
    (a repeated id: two scans of one subject). Returns the k-space per scan id."""
    rng = np.random.default_rng(0)
    kspace, n = {}, 0
    for split, subjects in splits.items():
        entries = []
        for subject in subjects:
            n += 1
            sid = f"MTR_{n:03d}"
            k = rng.standard_normal((X, Y, Z, 2, C)) + 1j * rng.standard_normal((X, Y, Z, 2, C))
            seg = np.zeros((X, Y, Z), np.uint8)
            seg[:, 0:12, 0:20] = 1  # patellar cartilage
            seg[:, 12:24, 0:20] = 2  # femoral
            seg[:, 24:36, 0:20] = 3  # tibial medial
            seg[:, 36:48, 0:20] = 4  # tibial lateral
            seg[:, 0:24, 20:40] = 5  # meniscus medial
            seg[:, 24:48, 20:40] = 6  # meniscus lateral
            write_skmtea_scan(root, sid, kspace=k, maps=np.ones((X, Y, Z, C, 1)),
                              target=np.ones((X, Y, Z, 2, 1)), seg=seg)  # fmt: skip
            kspace[sid] = k
            entries.append({"file_name": f"{sid}.h5", "scan_id": sid, "subject_id": subject})
        write_skmtea_split(root, split, entries)
    return kspace


ARGS = dict(image_size=16, num_coils=C, slices_per_volume=3, n_test_volumes=2,
            n_train_volumes=0, n_val=2)  # fmt: skip


def test_labels_merge_medial_and_lateral_and_follow_the_resize() -> None:
    seg = np.zeros((1, 48, 40), np.uint8)
    seg[0, :24, :20], seg[0, 24:, :20], seg[0, :24, 20:], seg[0, 24:, 20:] = 3, 4, 5, 6
    lab = mt.skmtea_labels(seg, 16)
    assert lab.shape == (1, 16, 16) and lab.dtype == np.int64
    assert set(np.unique(lab[0, :, :6])) == {3} and set(np.unique(lab[0, :, 10:])) == {4}
    empty = mt.skmtea_labels(np.zeros((2, 48, 40), np.uint8), 16)
    assert not empty.any()
    with pytest.raises(ValueError, match="seg must be"):
        mt.skmtea_labels(np.zeros((48, 40)), 16)


def test_the_data_set_split_measured_kspace_and_labels(tmp_path: Path) -> None:
    kspace = _write(tmp_path, {"train": [1, 1, 2], "val": [3], "test": [4, 5, 6]})
    data, labels = mt.skmtea_data(str(tmp_path), **ARGS)
    # three slices per scan; the two training scans of subject 1 are one unit
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 6)
    assert {data.train.unit(i) for i in range(9)} == {"subject 1", "subject 2"}
    assert [m[1] for m in data.meta] == ["subject 4"] * 3 + ["subject 5"] * 3
    assert data.val_idx == [0, 1] and data.kind == "user" and "SKM-TEA" in data.description
    for split, src in (("train", data.train), ("val", data.val), ("test", data.test)):
        assert labels[split].shape == (len(src), 16, 16)
        assert set(np.unique(labels[split])) <= {0, 1, 2, 3, 4}
    # the measured k-space (first echo, central slices 1-3, centre 16 x 16), not a simulation
    k = np.moveaxis(kspace["MTR_005"][1:4, :, :, 0, :], -1, 1)[..., 16:32, 12:28]
    got = data.test.kspace[:3].numpy()
    np.testing.assert_allclose(got, k.astype(np.complex64), rtol=1e-6)
    target = torch.sqrt((ifft2c(torch.from_numpy(k.astype(np.complex64))).abs() ** 2).sum(1))
    np.testing.assert_allclose(data.test.target[:3].abs().numpy(), target.numpy(), rtol=1e-4,
                               atol=1e-6)  # fmt: skip
    # every class is present: the labels come from the segmentation, not from the images
    assert set(np.unique(labels["test"])) == {1, 2, 3, 4}


def test_coils_are_compressed_and_bad_requests_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path, {"train": [1], "val": [2], "test": [3, 4]})
    data, _ = mt.skmtea_data(str(tmp_path), **{**ARGS, "num_coils": 4})
    assert data.test.kspace.shape[1] == 4 and data.num_coils == 4
    with pytest.raises(DataError, match=r"MTR_001\.h5.*num_coils=8"):
        mt.skmtea_data(str(tmp_path), **{**ARGS, "num_coils": 8})
    with pytest.raises(DataError, match=r"MTR_001\.h5.*image_size=64"):
        mt.skmtea_data(str(tmp_path), **{**ARGS, "image_size": 64})
    with pytest.raises(DataError, match="test split lists 2 scans, 3 needed"):
        mt.skmtea_data(str(tmp_path), **{**ARGS, "n_test_volumes": 3})


def test_dry_check_of_the_skmtea_route(tmp_path: Path) -> None:
    _write(tmp_path, {"train": [1], "val": [2], "test": [3, 4]})
    params = {"data_path": str(tmp_path), "data_format": "skmtea", **ARGS}
    (line,) = checks.check_sources(params, "atommic")
    assert "SKM-TEA" in line and "test 2 scans" in line
    with pytest.raises(DataError, match="n_test_volumes=3"):
        checks.check_sources({**params, "n_test_volumes": 3}, "atommic")
    with pytest.raises(DataError, match="num_coils=8"):
        checks.check_sources({**params, "num_coils": 8}, "atommic")


def test_atommic_reads_raw_kspace_without_labels_as_kspace(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from userdata_files import write_cc

    for i in range(3):
        write_cc(tmp_path / f"e1408{i}.h5", coils=12, slices=2, seed=i)
    params = {"data_path": str(tmp_path), "data_format": "calgary_campinas", "image_size": 32,
              "num_coils": 8, "n_test_volumes": 1}  # fmt: skip
    (line,) = checks.check_sources(params, "atommic")
    assert line.startswith("data_path: calgary_campinas k-space, 3 file(s)")
    with pytest.raises(DataError, match="num_coils=16"):
        checks.check_sources({**params, "num_coils": 16}, "atommic")
