"""A notebook's data: simulated from the embedded slices, or a user's raw k-space files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mricompendium.data.errors import DataError
from mricompendium.experiments.reconstruction import (
    real_data,
    simulated_data,
    simulation_checks,
    train_indices,
)
from mricompendium.physics.coils import birdcage_maps
from mricompendium.physics.fft import fft2c

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>
<encodedSpace><matrixSize><x>{n}</x><y>{n}</y><z>1</z></matrixSize></encodedSpace>
<reconSpace><matrixSize><x>{n}</x><y>{n}</y><z>1</z></matrixSize></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{m}</maximum>
<center>{c}</center></kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>"""


def _write(path: Path, slices: int, coils: int, n: int = 24) -> None:
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    img = ((x**2 + y**2) < (0.35 * n) ** 2) * (1 + 0.2 * np.cos(x / 3))
    coil = img[None, None] * birdcage_maps(coils, (n, n)).numpy()[None]
    k = fft2c(torch.from_numpy(np.repeat(coil, slices, 0).astype(np.complex64))).numpy()
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=k)
        f.create_dataset("ismrmrd_header", data=HEADER.format(n=n, m=n - 1, c=n // 2).encode())


def test_simulated_data_has_units_groups_and_a_generated_description() -> None:
    data = simulated_data(image_size=32, num_coils=4, snr=20.0, seed=0, n_test_template=4,
                          real_per_unit=1, n_val=2)  # fmt: skip
    assert data.kind == "simulated" and data.path is None
    assert data.groups == ["template", "real T1", "real EPI"] and len(data.meta) == 4 + 5
    assert "4-coil" in data.description and "32x32" in data.description
    assert "template 4 slices (4 units)" in data.description
    assert train_indices(data) is None and data.val_idx == [0, 1]


def test_a_single_fastmri_file_works_and_says_it_is_one_subject(tmp_path: Path) -> None:
    _write(tmp_path / "one.h5", slices=8, coils=4)
    data = real_data(str(tmp_path / "one.h5"), "fastmri", image_size=16, num_coils=None,
                     max_slices=None, n_test_volumes=1, n_val=1)  # fmt: skip
    assert data.kind == "user" and data.path == str(tmp_path / "one.h5")
    assert {u for _, u, _ in data.meta} == {"one.h5"} and data.groups == ["user fastmri"]
    assert "one unit" in data.description and "4 coils" in data.description
    assert data.val_idx and set(train_indices(data)).isdisjoint(data.val_idx)


def test_too_few_coils_name_the_file_and_parameter(tmp_path: Path) -> None:
    _write(tmp_path / "a.h5", slices=2, coils=4)
    _write(tmp_path / "b.h5", slices=2, coils=4)
    with pytest.raises(DataError, match=r"a\.h5 \(4 coils\), b\.h5 \(4 coils\).*train_coils=12"):
        real_data(str(tmp_path), "fastmri", image_size=16, num_coils=12, max_slices=None,
                  n_test_volumes=1, n_val=1, coils_param="train_coils")  # fmt: skip


def test_simulated_data_never_reconstruct_on_the_object_grid() -> None:
    data = simulated_data(image_size=32, num_coils=4, snr=20.0, seed=0, n_test_template=2,
                          real_per_unit=0, n_val=1)  # fmt: skip
    checks = simulation_checks(data.test, "poisson_2d@4", 0)
    assert checks == {"object grid": (128, 128), "reconstruction grid": (32, 32),
                      "object grid >= 2x finer": True,
                      "coil maps estimated from the undersampled data": True}  # fmt: skip
    assert "128x128 grid" in data.description
    with pytest.raises(ValueError, match="at least 2x finer"):
        simulated_data(image_size=96, num_coils=4, snr=20.0, seed=0, n_test_template=2,
                       real_per_unit=0, n_val=1)  # fmt: skip


def test_nifti_data_splits_by_volume_and_names_the_folder(tmp_path: Path) -> None:
    import sys

    from mricompendium.experiments.reconstruction import nifti_data

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "data"))
    from userdata_files import write_nifti_dir

    folder = write_nifti_dir(tmp_path / "ixi", n=3)
    data = nifti_data(str(folder), image_size=32, num_coils=4, snr=25.0, seed=0, n_val=2)
    assert data.kind == "user" and data.path == str(folder)
    assert {u for _, u, _ in data.meta} == {"sub2.nii.gz"}  # the third volume tests
    assert {g for _, _, g in data.meta} == {"user NIfTI"}
    assert f"from the user's NIfTI volumes at {folder}, reconstructed on 32x32" in data.description
    assert data.test.object_shape == (128, 128) and data.image_shape == (32, 32)
