"""A tiny run of one notebook per real-data format of the README ("Plugging in real data").

Each case writes a small data set in the release's own tree (``tests/data/realdata_files.py``,
``userdata_files.py``; one case stored in another voxel order where the writer supports it),
runs ``python -m mricompendium.run <id> --dry`` and then the notebook itself through
``mricompendium.run`` (papermill, as ``dvc repro`` does) at its CI sizes with the fewest training
steps its rules allow, into a temporary ``reports/``; then the verdict stage. It checks that the
run finishes, writes its record and per-case results, and that the record names the user's data.

Marked ``realdata_run`` (minutes, not seconds): ``make test`` deselects them, ``make realdata``
runs only them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from realdata_files import (
    write_acdc,
    write_brats,
    write_cmrxrecon,
    write_contours,
    write_dynamic,
    write_isles,
    write_learn2reg,
    write_nsd,
    write_pairs,
    write_picai,
    write_skmtea,
    write_usc75,
)
from userdata_files import write_cc, write_fastmri, write_nifti

from mricompendium import paths, run, verdicts

pytestmark = pytest.mark.realdata_run


@dataclass(frozen=True)
class Format:
    """One row of the README's table: the notebook, a writer of the data set, tiny settings."""

    nb_id: str
    write: Callable[[Path], Path]  # writes under the folder given, returns the data_path
    sets: tuple[str, ...] = ()
    xfail: str = ""
    expect: dict[str, str] = field(default_factory=dict)  # secondary metric -> its outcome
    name: str = ""  # the test id where one notebook reads two formats (default: nb_id)

    @property
    def id(self) -> str:
        return self.name or self.nb_id


def _fastmri(root: Path) -> Path:
    folder = root / "multicoil_train"
    folder.mkdir(parents=True)
    for i in range(3):
        write_fastmri(folder / f"file_brain_AXT2_20{i}.h5", slices=2, coils=8, shape=(64, 64),
                      seed=i)  # fmt: skip
    return folder


def _calgary(root: Path) -> Path:
    folder = root / "Train"
    folder.mkdir(parents=True)
    for i in range(3):
        write_cc(folder / f"e1408{i}s3_P5324{i}.7.h5", coils=12, slices=2, seed=i)
    return folder


def _brainmasks(root: Path) -> Path:
    """Image + brain-mask pairs: the tissue labels of ``write_pairs`` made binary (0/1)."""
    folder = write_pairs(root / "brainmasks", n=10, suffixes=("_image.nii.gz", "_brainmask.nii.gz"),
                         orient={0: "PIR"})  # fmt: skip
    for path in sorted(folder.glob("*_brainmask.nii.gz")):
        img = nib.load(path)
        mask = (np.asarray(img.dataobj) > 0).astype(np.uint8)
        nib.save(nib.Nifti1Image(mask, img.affine), path)
    return folder


def _nifti_folder(root: Path) -> Path:
    folder = root / "IXI-T1"
    folder.mkdir(parents=True)
    for i, codes in enumerate(("RAS", "PIR", "LPS")):
        write_nifti(folder / f"IXI00{i + 2}-Guys-0828-T1.nii.gz", orientation=codes,
                    scale=100.0 + 10 * i)  # fmt: skip
    return folder


FORMATS = [
    Format("segresnet_vae", lambda r: write_brats(r, n=12, orient={0: "PIR"}, links_after=4),
           ("train_steps=2", "val_every=1")),
    Format("stroke_synthetic", lambda r: write_isles(r, n=10, orient={0: "LPS", 1: "PIR"}),
           ("train_steps=2", "val_every=1")),
    Format("scse", lambda r: write_pairs(r / "T1w_dseg", n=10, orient={0: "PIR"}),
           ("train_steps=2", "val_every=1")),
    Format("synthstrip", _brainmasks, ("train_steps=2", "val_every=1")),
    Format("atommic", lambda r: write_pairs(r / "T1w_dseg", n=10, orient={0: "PIR"}),
           ("train_steps=2", "val_every=1")),
    Format("atommic", lambda r: write_skmtea(r / "skm-tea", scans=(2, 1, 2)),
           ("data_format=skmtea", "num_coils=4", "n_test_volumes=2", "slices_per_volume=3",
            "train_steps=2", "val_every=1"), name="atommic-skmtea"),
    Format("atommic", _calgary, ("data_format=calgary_campinas", "n_test_volumes=1", "n_val=1",
                                 "train_steps=2", "val_every=1"), name="atommic-cc359"),
    Format("ddmr", lambda r: write_learn2reg(r, n=10, orient={0: "RSA"}),
           ("train_steps=2", "val_every=1")),
    # ACDC has no true motion: the end-point-error secondary is "not measurable" (issue 19)
    Format("biomech_cardiac", lambda r: write_acdc(r, n=10, orient={0: "PIR"}),
           ("train_steps=2", "val_every=1"), expect={"epe": "not measurable"}),
    Format("mindeye2", lambda r: write_nsd(r, subjects=3, orient={0: "LPS"}),
           ("pretrain_steps=2", "align_steps=2", "finetune_steps=2", "single_steps=2",
            "val_every=1", "target_sessions=1", "pretrain_sessions=1")),
    Format("mri2speech", lambda r: write_usc75(r / "usc75", speakers=4, no_audio=1),
           ("train_steps=2", "val_every=1", "data_frame_rate=83.28")),
    Format("tongue_model", lambda r: write_contours(r / "tongue_contours.npz", speakers=12,
                                                    poses=11),
           ("n_train_speakers=9", "max_anatomy_rank=4", "max_pose_rank=8", "n_boot=20")),
    Format("cirim", _fastmri, ("train_steps=2", "val_every=1")),
    Format("recurrentvarnet", _calgary, ("train_steps=2", "val_every=1")),
    Format("reconresnet", _nifti_folder, ("train_steps=2", "val_every=1")),
    Format("prostate_seq_reg", lambda r: write_picai(r / "picai"),
           ("train_steps=2", "val_every=1")),
    Format("breathing_model", lambda r: write_dynamic(r / "dynamic_abdomen", n=3), ()),
    Format("dynamic_cs", lambda r: write_cmrxrecon(r / "cmrxrecon", patients=3),
           ("max_patients=3",)),
]  # fmt: skip


def _cases() -> list:
    marks = {f.id: pytest.mark.xfail(reason=f.xfail, strict=True) for f in FORMATS if f.xfail}
    return [pytest.param(f, id=f.id, marks=marks.get(f.id, ())) for f in FORMATS]


def tiny_run(
    fmt: Format, tmp_path: Path, monkeypatch, capsys, *, dry_only: bool = False
) -> tuple[Path, Path, dict, dict]:
    """``--dry`` then the run of ``fmt`` on its data, in ``tmp_path``: the data path, the reports
    folder, the record and the metrics (record plus verdict)."""
    data_path = fmt.write(tmp_path / "data")
    params = tmp_path / "params.yaml"  # the notebook's own (CI) sizes, then ``sets``
    params.write_text(yaml.safe_dump({"global": {"seed": 0, "device": "cpu"}, fmt.nb_id: {}}))
    reports = tmp_path / "reports"
    monkeypatch.setattr(paths, "PARAMS", params)
    monkeypatch.setattr(paths, "REPORTS", reports)
    monkeypatch.setattr(paths, "SCRATCH", tmp_path / "scratch")  # staging, locks and logs
    args = [fmt.nb_id, "--set", f"data_path={data_path}"]
    for s in fmt.sets:
        args += ["--set", s]

    def ok(argv: list[str]) -> None:
        code = run.main(argv)
        err = capsys.readouterr().err
        if code != 0:
            logs = sorted((tmp_path / "scratch" / "logs").glob("*.log"))
            tail = logs[-1].read_text()[-3000:] if logs else ""
            pytest.fail(f"{' '.join(argv)} -> {code}\n{err}\n{tail}")

    ok([*args, "--dry"])
    if dry_only:
        return data_path, reports, {}, {}
    ok(args)
    record = json.loads((reports / "records" / f"{fmt.nb_id}.json").read_text())
    metrics = verdicts.write_verdict(fmt.nb_id, reports)
    return data_path, reports, record, metrics


@pytest.mark.parametrize("fmt", _cases())
def test_tiny_run(fmt: Format, tmp_path: Path, monkeypatch, capsys) -> None:
    data_path, reports, record, metrics = tiny_run(fmt, tmp_path, monkeypatch, capsys)
    data = record["data"]
    assert data["kind"] == "user", data
    assert paths.resolve(data["path"]).resolve() == data_path.resolve(), data
    assert data["fingerprint"] and data["description"], data
    with (reports / "results" / f"{fmt.nb_id}.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows, "no per-case results"
    assert (reports / "notebooks" / f"{fmt.nb_id}.ipynb").exists()
    assert metrics.get("verdict"), sorted(metrics)
    for metric, outcome in fmt.expect.items():
        found = [
            c for c in metrics["comparisons"] if c["role"] == "secondary" and c["metric"] == metric
        ]
        assert found and all(c["outcome"] == outcome for c in found), found
        if outcome == "not measurable":
            assert all("not measurable on these data" in " ".join(c["caveats"]) for c in found)
