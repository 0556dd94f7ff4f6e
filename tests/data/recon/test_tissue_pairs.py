"""atommic's real-data route: image + tissue-label pairs as slices, the split, the --dry check."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data import checks
from mricompendium.data.errors import DataError
from mricompendium.data.recon.tissue_pairs import split_pairs, tissue_pair_sets, tissue_slices
from mricompendium.data.segmentation.pairs import find_pairs
from mricompendium.experiments.reconstruction import multitask as mt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realdata_files import write_pairs  # noqa: E402

SUFFIXES = {"image_suffix": "_T1w.nii.gz", "label_suffix": "_dseg.nii.gz"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one case stored PIR, one LPS: the slices must come out as from the RAS cases
    return write_pairs(tmp_path_factory.mktemp("pairs") / "dseg", n=5, orient={1: "PIR", 3: "LPS"})


def test_slices_carry_tissue_fractions_aligned_with_the_brain_mask(tmp_path: Path) -> None:
    # the same case stored RAS and PIR: the slices must come out the same
    ras, pir = (
        tissue_slices(find_pairs(write_pairs(tmp_path / codes, n=1, orient={0: codes}),
                                 **SUFFIXES)[0], n_slices=3)
        for codes in ("RAS", "PIR")
    )  # fmt: skip
    assert ras.images.shape == (3, 128, 128) and ras.tissue.shape == (3, 3, 128, 128)
    assert [n.rsplit("_z", 1)[0] for n in ras.names] == ["sub-00"] * 3
    assert ras.tissue.min() >= 0 and ras.tissue.sum(axis=1).max() <= 1 + 1e-5
    assert np.array_equal(ras.masks, ras.tissue.sum(axis=1) >= 0.5)
    inside = ras.images[ras.masks]
    assert np.isclose(np.percentile(inside, 99.5), 1.0, atol=0.02)  # normalised in the brain
    assert pir.names == ras.names and np.array_equal(pir.masks, ras.masks)
    assert np.allclose(pir.tissue, ras.tissue, atol=1e-5)
    assert np.allclose(pir.images, ras.images, atol=1e-5)


def test_slices_are_anterior_up_and_left_on_the_left(tmp_path: Path) -> None:
    lab = np.zeros((40, 40, 12), np.int16)
    lab[8:32, 8:32, 2:10] = 2  # GM box
    lab[8:20, 20:32, 2:10] = 3  # WM: the subject's left (low x), anterior (high y) quarter
    img = (lab * 100.0 + 10.0).astype(np.float32)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    for name, data in (("c_T1w.nii.gz", img), ("c_dseg.nii.gz", lab)):
        nib.save(nib.Nifti1Image(data, affine), tmp_path / name)
    got = tissue_slices(find_pairs(tmp_path, **SUFFIXES)[0], n_slices=1)
    wm = got.tissue[0, 2] > 0.5
    rows, cols = np.nonzero(wm)
    assert rows.max() < 64 and cols.max() < 64  # top-left quarter of the field of view
    side = 48 / (208 / 128)  # the 48-mm brain on the template's 208-mm field of view, in pixels
    assert abs(got.masks[0].any(axis=0).sum() - side) <= 2


def test_split_is_by_volume_and_refuses_too_few(folder: Path) -> None:
    pairs = find_pairs(folder, **SUFFIXES)
    train, val, test = split_pairs(pairs, 2)
    assert [p.name for p in train] == ["sub-00", "sub-01"] and val.name == "sub-02"
    assert [p.name for p in test] == ["sub-03", "sub-04"]
    with pytest.raises(DataError, match="needs at least 6"):
        split_pairs(pairs, 4)
    tr, va, te = tissue_pair_sets(folder, **SUFFIXES, slices_per_volume=2, n_test_volumes=2)
    units = [{n.rsplit("_z", 1)[0] for n in s.names} for s in (tr, va, te)]
    assert units == [{"sub-00", "sub-01"}, {"sub-02"}, {"sub-03", "sub-04"}]


def test_pairs_data_gives_sources_and_labels_in_one_order(folder: Path) -> None:
    data, labels = mt.pairs_data(str(folder), **SUFFIXES, slices_per_volume=2, n_test_volumes=2,
                                 image_size=32, num_coils=4, snr=25.0, seed=0, n_val=1)  # fmt: skip
    assert data.kind == "user" and data.path == str(folder)
    assert [len(labels[k]) for k in ("train", "val", "test")] == [4, 2, 4]
    assert len(data.train) == 4 and data.val_idx == [0] and len(data.meta) == 4
    assert {u for _, u, _ in data.meta} == {"sub-03", "sub-04"}  # units are volumes
    assert data.image_shape == (32, 32) and data.test.object_shape == (128, 128)
    assert set(np.unique(labels["test"])) == {0, 1, 2, 3}
    fg = labels["test"] > 0
    dice = 2 * (fg & data.cases.masks).sum() / (fg.sum() + data.cases.masks.sum())
    assert dice > 0.9  # labels on the test cases' own grid
    assert "2 units" in data.description and str(folder) in data.description


def test_the_dry_route_checks_values_counts_and_names_the_file(folder: Path, tmp_path) -> None:
    assert "atommic" in checks.ROUTES
    params = {**SUFFIXES, "data_path": str(folder), "n_test_volumes": 2, "slices_per_volume": 2}
    (line,) = checks.check_sources(params, "atommic")
    assert "5 image + label NIfTI pairs" in line and "2 training, 1 validation and 2 test" in line
    with pytest.raises(DataError, match="needs at least 6"):
        checks.check_sources({**params, "n_test_volumes": 4}, "atommic")
    bad = write_pairs(tmp_path / "bad", n=4)
    lab = nib.load(bad / "sub-02_dseg.nii.gz")
    data = np.asarray(lab.dataobj).copy()
    data[data == 3] = 5
    nib.save(nib.Nifti1Image(data, lab.affine), bad / "sub-02_dseg.nii.gz")
    with pytest.raises(DataError, match=r"sub-02_dseg.*\[5\]"):
        checks.check_sources({**params, "data_path": str(bad), "n_test_volumes": 1}, "atommic")
