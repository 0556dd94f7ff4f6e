"""``--dry`` on each real-data format as its release ships it, at ``params.yaml`` sizes.

Each test writes a small faithful data set (one case or subject stored in another voxel order)
and runs the run's own check (``mricompendium.run.check_run``, what ``--dry`` and a normal run
call before a kernel starts), then breaks one thing a notebook would refuse after its kernel
started and checks that ``--dry`` refuses it first, in one line naming the file or parameter.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from realdata_files import (
    USC_FPS,
    write_acdc,
    write_brats,
    write_contours,
    write_isles,
    write_learn2reg,
    write_nsd,
    write_pairs,
    write_picai,
    write_usc75,
)

from mricompendium import parameters, paths, run
from mricompendium.data.checks import ROUTES

PARAMS = yaml.safe_load(paths.PARAMS.read_text())


def _dry(nb_id: str, data: Path, **extra) -> list[str]:
    return run.check_run(nb_id, overrides={"data_path": str(data), **extra}).data


def _refused(nb_id: str, data: Path, capsys, *sets: str) -> str:
    args = [nb_id, "--dry", "--set", f"data_path={data}", *[a for s in sets for a in ("--set", s)]]
    assert run.main(args) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("log:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_every_notebook_taking_a_data_path_has_a_data_route():
    for nb in sorted(paths.NOTEBOOKS.glob("*/*.ipynb")):
        cell = parameters.notebook_parameters(nb)
        if "data_path" in cell:
            assert nb.stem in ROUTES or "data_format" in cell, nb.stem


@pytest.mark.parametrize("nb_id", ["segresnet_vae", "swin_unetr", "nnunet_extended"])
def test_brats_counts_the_cases_every_split_needs(tmp_path, nb_id, capsys):
    sec = PARAMS[nb_id]
    need = sec["n_train"] + sec["n_val"] + sec["n_test"]
    root = write_brats(tmp_path / "ok", n=need, orient={1: "PIR"}, links_after=4)
    (line,) = _dry(nb_id, root)
    assert f"{need} BraTS cases" in line and "PIR/RAS -> RAS+" in line and "2018-2021" in line
    short = write_brats(tmp_path / "short", n=6)
    assert f"holds 6 BraTS cases; n_train={sec['n_train']}" in _refused(nb_id, short, capsys)


def test_brats_label_values_are_read_before_a_kernel_starts(tmp_path, capsys):
    root = write_brats(tmp_path, release="2023", n=23, orient={3: "LPS"}, links_after=4)
    assert "labels [0, 1, 2, 3] in the BraTS 2023 convention" in _dry("segresnet_vae", root)[0]
    line = _refused("segresnet_vae", root, capsys, "brats_convention=brats2021")
    assert "-seg.nii.gz: label values [3] are not defined by the BraTS 2018-2021" in line


def test_isles_release_tree(tmp_path, capsys):
    root = write_isles(tmp_path, orient={0: "LPS", 1: "PIR"}, float_mask=True)
    assert "3 ISLES 2022 cases (3 with a lesion)" in _dry("stroke_synthetic", root)[0]
    adc = next(root.rglob("*strokecase0002*_adc.nii.gz"))
    img = nib.load(adc)
    nib.save(nib.Nifti1Image(np.stack([np.asarray(img.dataobj)] * 2, -1), img.affine), adc)
    assert f"{adc.name}: has 4 dimensions" in _refused("stroke_synthetic", root, capsys)


def test_image_label_pairs_scse(tmp_path, capsys):
    root = write_pairs(tmp_path, orient={2: "PIR"})
    assert "3 image + label NIfTI pairs, stored PIR/RAS" in _dry("scse", root)[0]
    lab = root / "sub-01_dseg.nii.gz"
    img = nib.load(lab)
    data = np.asarray(img.dataobj).copy()
    data[data == 3] = 5
    nib.save(nib.Nifti1Image(data, img.affine), lab)
    assert "sub-01_dseg.nii.gz: label values [5] outside [0, 1, 2, 3]" in _refused(
        "scse", root, capsys
    )


def test_learn2reg_release(tmp_path, capsys):
    root = write_learn2reg(tmp_path, orient={1: "RSA"})
    assert "3 Learn2Reg pairs, stored LIA/RSA -> RAS+" in _dry("ddmr", root)[0]
    assert "ndim=3: data_path needs ndim = 2" in _refused("nestedmorph", root, capsys, "ndim=3")
    moved = root / "labelsTr" / "OASIS_0003_0000.nii.gz"
    img = nib.load(moved)
    affine = img.affine.copy()
    affine[:3, 3] += 10
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine), moved)
    line = _refused("ddmr", root, capsys)
    assert "OASIS_0003_0000.nii.gz: paired with OASIS_0002_0000.nii.gz: not on the grid" in line


def test_acdc_training_folder(tmp_path, capsys):
    training = write_acdc(tmp_path, orient={1: "SPL"})
    assert "2 ACDC patients" in _dry("biomech_cardiac", training)[0]
    line = _refused("biomech_cardiac", training.parent, capsys)  # database/, not its training/
    assert "database/testing: is not an ACDC patient folder" in line and "database/training" in line


def test_nsd_download_tree(tmp_path, capsys):
    root = write_nsd(tmp_path, orient={0: "LPS"})
    (line,) = _dry("mindeye2", root)
    assert "NSD download tree" in line and "2 subjects" in line
    line = _refused("mindeye2", root, capsys, "target_sessions=3")
    assert "subj01 (the new subject) has 2 sessions, fewer than target_sessions=3" in line


def test_usc_75_speaker_tree_as_the_readme_prints_it(tmp_path, capsys):
    root = write_usc75(tmp_path, speakers=4, utterances=3, no_audio=1)
    (line,) = _dry("mri2speech", root, data_frame_rate=USC_FPS)
    assert "12 rtMRI recordings of 4 speakers" in line
    assert "data_frame_rate=23.18" in _refused("mri2speech", root, capsys, "data_frame_rate=23.18")


def test_tongue_contours_as_the_readme_prints_them(tmp_path, capsys):
    path = write_contours(tmp_path / "tongue_contours.npz", speakers=12, poses=11)
    (line,) = _dry("tongue_model", path, n_train_speakers=9, max_pose_rank=8)
    assert "12 speakers (9 build the models, 3 unseen)" in line
    line = _refused("tongue_model", path, capsys, "n_train_speakers=9")  # params.yaml: rank 36
    assert line.endswith("max_pose_rank=36: must be <= 8 for tongue_contours.npz "
                         "(11 poses in 4 folds leave that many)")  # fmt: skip


def test_brainclip_refuses_real_data_before_a_kernel_starts(tmp_path, capsys):
    assert "brainclip does not take real data" in _refused("brainclip", tmp_path, capsys)


def test_picai_needs_both_outcomes_in_each_half(tmp_path, capsys):
    write_picai(tmp_path / "picai")
    assert "8 PI-CAI studies" in _dry("prostate_seq_reg", tmp_path / "picai")[0]
    line = _refused("prostate_seq_reg", tmp_path / "picai", capsys, "max_user_cases=6")
    assert line.startswith("prostate_seq_reg: ") and "3 csPCa and 3 non-csPCa patients" in line
