"""NSD-style loaders on small files written here in NSD's layouts, and their errors."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy.io import savemat

from mricompendium.data.errors import DataError
from mricompendium.data.fmri import nsd

SHAPE = (5, 4, 3)  # X, Y, Z


def _betas(rng: np.random.Generator, trials: int) -> np.ndarray:
    return rng.integers(-900, 900, size=(*SHAPE, trials)).astype(np.int16)


def _write_nifti(path, data):
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _write_hdf5(path, data):
    with h5py.File(path, "w") as f:
        f["betas"] = np.transpose(data, (3, 2, 1, 0))  # NSD stores (trials, Z, Y, X)
    return path


def test_nifti_and_hdf5_betas_agree_and_are_scaled(tmp_path):
    rng = np.random.default_rng(0)
    data = _betas(rng, 6)
    mask = np.zeros(SHAPE, bool)
    mask[1:4, 1:3, :] = True
    mfile = _write_nifti(tmp_path / "nsdgeneral.nii.gz", np.where(mask, 1, -1).astype(np.int16))
    a = nsd.load_betas(_write_nifti(tmp_path / "b.nii.gz", data), mask=nsd.load_mask(mfile))
    b = nsd.load_betas(_write_hdf5(tmp_path / "b.hdf5", data), mask=nsd.load_mask(mfile))
    assert a.shape == (6, int(mask.sum())) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(a[2], data[mask][:, 2] / 300.0)
    full = nsd.load_betas(tmp_path / "b.nii.gz", scale=1.0)
    assert full.shape == (6, int(np.prod(SHAPE)))


def test_loader_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        nsd.load_betas(tmp_path / "missing.nii.gz")
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"garbage")
    with pytest.raises(DataError, match="junk.nii.gz"):
        nsd.load_betas(junk)
    h5 = tmp_path / "other.hdf5"
    with h5py.File(h5, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="other.hdf5.*'betas'"):
        nsd.load_betas(h5)
    data = _betas(np.random.default_rng(1), 4)
    f = _write_nifti(tmp_path / "b.nii.gz", data)
    with pytest.raises(DataError, match="b.nii.gz.*mask"):
        nsd.load_betas(f, mask=np.ones((2, 2, 2), bool))
    nan = _write_nifti(tmp_path / "nan.nii.gz", np.full((*SHAPE, 2), np.nan, np.float32))
    with pytest.raises(DataError, match="nan.nii.gz.*non-finite"):
        nsd.load_betas(nan)
    with pytest.raises(DataError, match="format"):
        nsd.load_betas(junk.with_name("x.txt").open("w").name)


def test_stimulus_table_csv(tmp_path):
    p = tmp_path / "stimulus_table.csv"
    p.write_text("trial,image,session\n1,40,0\n0,17,0\n")
    t = nsd.load_stimulus_table(p)
    assert t["trial"].tolist() == [0, 1] and t["image"].tolist() == [17, 40]
    bad = tmp_path / "bad.csv"
    bad.write_text("trial,img\n0,1\n")
    with pytest.raises(DataError, match="bad.csv.*missing columns"):
        nsd.load_stimulus_table(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("trial,image\n0,-1\n")
    with pytest.raises(DataError, match="neg.csv"):
        nsd.load_stimulus_table(neg)


def test_nsd_expdesign_maps_trials_to_image_ids(tmp_path):
    subjectim = np.arange(1, 25).reshape(2, 12)  # 2 subjects, 12 images each, 1-based ids
    order = np.array([[3, 1, 12, 3]])  # 1-based into subjectim's columns
    p = tmp_path / "nsd_expdesign.mat"
    savemat(p, {"masterordering": order, "subjectim": subjectim})
    assert nsd.nsd_trial_images(p, 2).tolist() == [14, 12, 23, 14]
    assert nsd.nsd_trial_images(p, 1, n_trials=2).tolist() == [2, 0]
    with pytest.raises(DataError, match="subject 3"):
        nsd.nsd_trial_images(p, 3)


def test_nsd_images_are_read_and_resized(tmp_path):
    brick = np.zeros((5, 16, 16, 3), np.uint8)
    brick[3, :, :, 0] = 255
    p = tmp_path / "nsd_stimuli.hdf5"
    with h5py.File(p, "w") as f:
        f["imgBrick"] = brick
    img = nsd.load_nsd_images(p, np.array([3, 0, 3]), size=8)
    assert img.shape == (3, 3, 8, 8)
    assert np.allclose(img[0, 0], 1.0) and np.allclose(img[1], 0.0) and np.allclose(img[2, 0], 1)
    with pytest.raises(DataError, match="ids up to 9"):
        nsd.load_nsd_images(p, np.array([9]), size=8)


def test_subject_folder_is_loaded_and_zscored_per_session(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "subj01"
    folder.mkdir()
    _write_nifti(folder / "betas_session01.nii.gz", _betas(rng, 6))
    _write_hdf5(folder / "betas_session02.hdf5", _betas(rng, 5))
    (folder / "stimulus_table.csv").write_text(
        "trial,image\n" + "\n".join(f"{i},{i * 3}" for i in range(11))
    )
    s = nsd.load_nsd_subject(folder)
    assert s.betas.shape == (11, int(np.prod(SHAPE))) and s.session.tolist() == [0] * 6 + [1] * 5
    assert np.allclose(s.betas[:6].mean(0), 0, atol=1e-5) and s.image[-1] == 30
    with pytest.raises(FileNotFoundError, match="betas_session"):
        nsd.load_nsd_subject(tmp_path)


def test_describe_nsd_folder_checks_the_layout(tmp_path):
    with pytest.raises(DataError, match="subject folders"):
        nsd.describe_nsd_folder(tmp_path)
    rng = np.random.default_rng(3)
    for name in ("subj01", "subj02"):
        (tmp_path / name).mkdir()
        _write_nifti(tmp_path / name / "betas_session01.nii.gz", _betas(rng, 2))
    with pytest.raises(DataError, match="stimulus_table.csv"):
        nsd.describe_nsd_folder(tmp_path)
    for name in ("subj01", "subj02"):
        (tmp_path / name / "stimulus_table.csv").write_text("trial,image\n0,1\n1,2\n")
    with pytest.raises(FileNotFoundError, match="nsd_stimuli.hdf5"):
        nsd.describe_nsd_folder(tmp_path)
    with h5py.File(tmp_path / "nsd_stimuli.hdf5", "w") as f:
        f["imgBrick"] = np.zeros((3, 4, 4, 3), np.uint8)
    assert nsd.describe_nsd_folder(tmp_path).startswith("2 subjects (subj01: 1 sessions")


def test_nsd_download_tree_is_read_as_distributed(tmp_path):
    from realdata_files import write_nsd

    from mricompendium.data.fmri import nsd_tree

    root = write_nsd(tmp_path, orient={0: "LPS"})  # subj01 NIfTI stored LPS, subj02 HDF5
    layout = nsd_tree.find_layout(root)
    assert [s.name for s in layout.subjects] == ["subj01", "subj02"]
    assert layout.subjects[0].betas[0].parent.name == "betas_fithrf_GLMdenoise_RR"
    assert layout.subjects[1].betas[0].suffix == ".hdf5" and layout.subjects[0].mask is not None
    assert "NSD download tree" in nsd_tree.check_layout(
        root, target_sessions=1, pretrain_sessions=None, n_val=10, n_test=50
    )
    s = nsd.load_subject(layout.subjects[0])
    roi = nib.load(layout.subjects[0].mask)
    assert s.betas.shape == (1500, int((np.asarray(roi.dataobj) > 0).sum()))
    # trial t of session k is NSD's trial 750 (k - 1) + t, mapped through the design file
    design = loadmat_design(root)
    ids = design["subjectim"][0, design["masterordering"].ravel()[:1500] - 1] - 1
    np.testing.assert_array_equal(s.image, ids)
    assert nsd_tree.image_name(int(ids[0])) == f"nsd{ids[0] + 1:05d}"


def loadmat_design(root):
    from scipy.io import loadmat

    return loadmat(root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat")


def test_an_lps_subject_selects_the_same_voxels_and_sessions_map_by_number(tmp_path):
    from realdata_files import write_nsd

    from mricompendium.data.fmri import nsd_tree

    ras = nsd_tree.find_layout(write_nsd(tmp_path / "a", hdf5=frozenset()))
    lps = nsd_tree.find_layout(write_nsd(tmp_path / "b", hdf5=frozenset(), orient={0: "LPS"}))
    a, b = nsd.load_subject(ras.subjects[0]), nsd.load_subject(lps.subjects[0])
    assert a.betas.shape == b.betas.shape
    np.testing.assert_allclose(np.sort(a.betas, axis=1), np.sort(b.betas, axis=1), atol=1e-5)
    # only session 2 on disk: its trials are NSD's 750..1499, not 0..749
    first = ras.subjects[0].betas[0]
    first.unlink()
    again = nsd_tree.find_layout(tmp_path / "a").subjects[0]
    assert again.sessions == (2,)
    np.testing.assert_array_equal(nsd.load_subject(again).image, a.image[750:])


def test_nsd_tree_problems_name_the_file(tmp_path):
    from realdata_files import write_nsd

    from mricompendium.data.fmri import nsd_tree

    root = write_nsd(tmp_path, hdf5=frozenset())
    kw = dict(target_sessions=1, pretrain_sessions=None, n_val=10, n_test=50)
    with pytest.raises(DataError, match="subj01 \\(the new subject\\) has 2 sessions.*target_ses"):
        nsd_tree.check_layout(root, **{**kw, "target_sessions": 3})
    with pytest.raises(DataError, match="need more than n_val"):
        nsd_tree.check_layout(root, **{**kw, "n_val": 5000})
    roi = root / "nsddata" / "ppdata" / "subj02" / "func1pt8mm" / "roi" / "nsdgeneral.nii.gz"
    img = nib.load(roi)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), np.diag([2.0, 2.0, 2.0, 1.0])), roi)
    with pytest.raises(DataError, match="betas_session01.nii.gz: betas vs the ROI nsdgeneral"):
        nsd_tree.check_layout(root, **kw)
    (root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat").unlink()
    with pytest.raises(FileNotFoundError, match="nsd_expdesign.mat"):
        nsd_tree.find_layout(root)
