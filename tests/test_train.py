"""``python -m mricompendium.train``: plans, folders, kept checkpoints, curves, one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from mricompendium import checkpoints, parameters, paths, train
from mricompendium.claims import Curve


def test_job_folders_are_slugs_of_method_and_seed(tmp_path):
    assert train.job_dir(tmp_path, "CIRIM (explicit DC)", 2) == tmp_path / "cirim-explicit-dc/seed2"
    assert train.job_dir(tmp_path, "VoxelMorph+seg+UW", 0).parent.name == "voxelmorph+seg+uw"


def test_selftest_writes_kept_checkpoints_a_curve_and_a_rebuildable_model(tmp_path):
    argv = [
        "selftest",
        "--precision",
        "fp32",
        "--set",
        "steps=6",
        "--checkpoint-dir",
        str(tmp_path),
    ]
    assert train.main(argv) == 0
    folder = tmp_path / "selftest" / "seed0"
    assert sorted(p.name for p in folder.iterdir()) == [
        "curve.json", "last.pt", "step-0000003.pt", "step-0000006.pt",
    ]  # fmt: skip
    curve = Curve.from_dict(json.loads((folder / "curve.json").read_text()))
    assert curve.steps == list(range(1, 7)) and curve.val_steps[-1] == 6
    model, state = train.load_trained(folder / "step-0000006.pt")
    assert state["step"] == 6 and state["meta"]["method"] == "selftest"
    x = torch.randn(1, 1, 16, 16)
    trained, _ = train.load_trained(folder / "last.pt")
    assert torch.equal(model(x), trained(x))
    half, _ = train.load_trained(folder / "step-0000003.pt")
    assert not torch.equal(half(x), trained(x))
    assert train.main(argv) == 0  # finished: a rerun resumes at the end and trains nothing
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["jobs"][0]["started_at_step"] == 6


def test_unknown_notebook_fails_in_one_line(capsys):
    assert train.main(["no_such_notebook"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("no_such_notebook:")


def test_every_plan_function_exists():
    for nb_id, target in train.PLANS.items():
        assert callable(train._plan_function(nb_id, None))
        if nb_id != "selftest":
            assert paths.notebook_path(nb_id).exists()
            family = paths.notebook_path(nb_id).parent.name
            assert target.startswith("mricompendium.experiments."), (nb_id, family)


def test_check_config_catches_a_config_that_builds_another_model():
    config = {"factory": "mricompendium.train:selftest_model", "kwargs": {"width": 4}}
    train.check_config(checkpoints.build_model(config), config)
    with pytest.raises(ValueError, match="does not rebuild"):
        train.check_config(torch.nn.Linear(2, 2), config)


def test_cirim_plan_trains_a_job_whose_checkpoint_rebuilds_the_notebooks_model(tmp_path):
    cell = parameters.notebook_parameters(paths.notebook_path("cirim"))
    p = {k: v.default for k, v in cell.items()}
    p.update(train_steps=2, val_every=1, n_test_template=1, n_val=1, real_per_unit=0)
    plan = train.plan_for("cirim", p, torch.device("cpu"))
    names = {(j.method, j.seed) for j in plan.jobs}
    assert ("CIRIM", 0) in names and ("CIRIM (explicit DC)", 0) in names
    out = train.run_plan(plan, tmp_path, torch.device("cpu"), precision="fp32", only=["CIRIM"])
    assert [j["kept"] for j in out["jobs"]] == [["step-0000001.pt", "step-0000002.pt"]]
    model, state = train.load_trained(train.job_dir(tmp_path, "CIRIM", 0) / "last.pt")
    assert state["data_fingerprint"] == plan.data_fingerprint and state["step"] == 2
    assert type(model).__name__ == "CIRIM"
    assert state["meta"]["recipe"]["samplings"] == p["train_samplings"]
