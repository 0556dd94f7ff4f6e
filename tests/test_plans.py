"""Checkpoints written by ``python -m mricompendium.train`` are what a notebook evaluates.

The route a notebook takes with ``checkpoint_dir``: ``plans.Checkpoints.open`` with the
notebook's data fingerprint, then the family function it calls with ``checkpoints=``. Here the
segmentation family (U-Net, a few steps on small synthesised slices): the numbers evaluated from
the checkpoints equal those of the same model trained inline, and checkpoints of other data,
another notebook or a missing job are refused.
"""

from __future__ import annotations

import ast
import importlib
import json

import numpy as np
import pytest
import torch

from mricompendium import parameters, paths, plans, provenance, train
from mricompendium.experiments.segmentation import tumour

# every notebook with a plan: the tuple of its plan module naming the parameters that make the
# training data, which the notebook's own `data_args = dict(...)` must name too
DATA_KEYS = {
    "cirim": "mricompendium.experiments.reconstruction.plans:CIRIM_DATA",
    "swin_unetr": "mricompendium.experiments.segmentation.plans:SWIN_UNETR_DATA",
    "ddmr": "mricompendium.experiments.registration.plans:DDMR_DATA",
    "brainclip": "mricompendium.experiments.fmri.plans:BRAINCLIP_DATA",
    "mri2speech": "mricompendium.experiments.speech.plans:MRI2SPEECH_DATA",
}

# swin_unetr at a size a test affords (every parameter that shapes the data or the training)
SMALL = {"seed": 0, "seeds": [0], "train_steps": 4, "batch_size": 2, "lr": 0.001, "size": 64,
         "spacing_mm": 3.0, "grid": 64, "swin_feature_size": 12, "n_train": 2, "n_val": 1,
         "val_every": 2, "data_path": "", "brats_convention": "auto"}  # fmt: skip


def _notebook_data_args(nb_id: str) -> set[str]:
    """The keywords of ``data_args = dict(...)`` in the notebook's code cells."""
    cells = json.loads(paths.notebook_path(nb_id).read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] != "code" or "data_args = dict(" not in "".join(cell["source"]):
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if (isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "data_args"
                    and isinstance(node.value, ast.Call)):  # fmt: skip
                return {k.arg for k in node.value.keywords}
    raise AssertionError(f"{nb_id}: no data_args = dict(...) cell")


@pytest.mark.parametrize("nb_id", sorted(DATA_KEYS))
def test_notebook_and_plan_fingerprint_the_same_parameters(nb_id: str) -> None:
    module, _, name = DATA_KEYS[nb_id].partition(":")
    keys = getattr(importlib.import_module(module), name)
    assert _notebook_data_args(nb_id) == set(keys)
    assert nb_id in train.PLANS
    cell = parameters.notebook_parameters(paths.notebook_path(nb_id))
    assert set(keys) <= set(cell), "a data key that is not a parameter of the notebook"
    assert cell["checkpoint_dir"].default == "" and cell["precision"].default == "auto"


def _data(p: dict) -> tuple[tumour.TumourData, tumour.TumourData, tumour.TumourData]:
    """The notebook's synthesised train, validation and (one-case) test slices."""
    kw = dict(dims=2, size=p["size"], spacing_mm=p["spacing_mm"], grid=p["grid"])
    base = 100_000 * p["seed"]
    return (tumour.synth_cases(p["n_train"], first_seed=base + 1_000, **kw),
            tumour.synth_cases(p["n_val"], first_seed=base + 2_000, **kw),
            tumour.synth_cases(1, first_seed=base + 3_000, **kw))  # fmt: skip


def _fingerprint(p: dict) -> str:
    """As the notebook computes it (its description does not enter the fingerprint)."""
    from mricompendium.experiments.segmentation.plans import SWIN_UNETR_DATA

    info = provenance.data_info("simulated", "the notebook's own sentence")
    return plans.data_fingerprint(info, {k: p[k] for k in SWIN_UNETR_DATA})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``python -m mricompendium.train swin_unetr`` (U-Net only) into a folder."""
    root = tmp_path_factory.mktemp("swin_unetr")
    sets = [f"{k}={json.dumps(v)}" for k, v in SMALL.items()]
    argv = ["swin_unetr", "--precision", "fp32", "--only", "U-Net", "--checkpoint-dir", str(root)]
    assert train.main([*argv, *sum((["--set", s] for s in sets), [])]) == 0
    return root


def _evaluate(p: dict, width: int, source: plans.Checkpoints | None) -> tumour.TrainResult:
    tr, val, test = _data(p)
    return tumour.train_and_evaluate(
        "U-Net", seed=0, train=tr, val=val, test=test, steps=p["train_steps"],
        batch_size=p["batch_size"], lr=p["lr"], width=width, setting="tumour 2D", device="cpu",
        val_every=p["val_every"], precision="auto", checkpoints=source,
    )  # fmt: skip


def test_checkpoints_of_train_give_the_numbers_of_inline_training(trained) -> None:
    plan = json.loads((trained / "plan.json").read_text())
    (job,) = plan["jobs"]
    assert job["kept"] == ["step-0000002.pt", "step-0000004.pt"] and job["precision"] == "fp32"
    width = job["config"]["kwargs"]["width"]
    fp = _fingerprint(SMALL)
    source = plans.Checkpoints.open(str(trained), nb_id="swin_unetr", fingerprint=fp)
    restored = _evaluate(SMALL, width, source)
    inline = _evaluate(SMALL, width, None)
    assert len(restored.rows) == len(inline.rows) > 0
    budgets = {r["budget"] for r in restored.rows}
    assert budgets == {2, 4}  # the half-budget model comes from its kept checkpoint
    for a, b in zip(restored.rows, inline.rows, strict=True):
        assert a.keys() == b.keys()
        for k, v in a.items():
            if isinstance(v, float):
                np.testing.assert_allclose(v, b[k], rtol=1e-6, atol=1e-9, err_msg=k)
            else:
                assert v == b[k], k
    assert restored.history.val == pytest.approx(inline.history.val, rel=1e-6)
    assert restored.history.losses == pytest.approx(inline.history.losses, rel=1e-6)
    assert restored.history.precision == "fp32" and restored.train_s == job["wall_s"]
    record = plans.source_record(source, "auto", torch.device("cpu"))
    assert record["source"] == "checkpoints" and record["plan"]["notebook"] == "swin_unetr"
    assert plans.source_record(None, "auto", torch.device("cpu")) == {
        "source": "inline", "precision": "fp32"}  # fmt: skip


def test_checkpoints_of_other_data_another_notebook_or_job_are_refused(trained) -> None:
    other = _fingerprint({**SMALL, "n_train": 3})
    with pytest.raises(plans.CheckpointError, match="trained on other data"):
        plans.Checkpoints.open(str(trained), nb_id="swin_unetr", fingerprint=other)
    with pytest.raises(plans.CheckpointError, match="not ddmr"):
        plans.Checkpoints.open(str(trained), nb_id="ddmr", fingerprint=_fingerprint(SMALL))
    with pytest.raises(plans.CheckpointError, match="no plan.json"):
        plans.Checkpoints.open(str(trained / "u-net"), nb_id="swin_unetr", fingerprint=None)
    source = plans.Checkpoints.open(str(trained), nb_id="swin_unetr",
                                    fingerprint=_fingerprint(SMALL))  # fmt: skip
    tr, val, test = _data(SMALL)
    with pytest.raises(plans.CheckpointError, match="missing"):  # SegResNet was not trained
        tumour.train_and_evaluate(
            "SegResNet", seed=0, train=tr, val=val, test=test, steps=SMALL["train_steps"],
            batch_size=SMALL["batch_size"], lr=SMALL["lr"], width=8, setting="tumour 2D",
            device="cpu", checkpoints=source,
        )  # fmt: skip
    width = json.loads((trained / "plan.json").read_text())["jobs"][0]["config"]["kwargs"]["width"]
    with pytest.raises(plans.CheckpointError, match="U-Net seed 0 at step 8"):  # another budget
        _evaluate({**SMALL, "train_steps": 8}, width, source)
    with pytest.raises(plans.CheckpointError, match="another model configuration: width"):
        _evaluate(SMALL, width + 2, source)
    assert plans.Checkpoints.open("", nb_id="swin_unetr", fingerprint=None) is None


def test_one_checkpoint_file_is_its_method_seed_and_step_and_names_its_notebook(trained) -> None:
    file = trained / "u-net" / "seed0" / "last.pt"
    fp = _fingerprint(SMALL)
    one = plans.Checkpoints.open(checkpoint=str(file), nb_id="swin_unetr", fingerprint=fp)
    assert one.single == ("U-Net", 0, 4) and one.path("anything", 9, 9) == file
    record = one.record()
    assert record["source"] == "checkpoint" and record["same_data"] and record["step"] == 4
    assert not plans.Checkpoints.open(checkpoint=str(file), nb_id="swin_unetr",
                                      fingerprint="other").record()["same_data"]  # fmt: skip
    with pytest.raises(plans.CheckpointError, match="a checkpoint of 'swin_unetr', not of cirim"):
        plans.Checkpoints.open(checkpoint=str(file), nb_id="cirim", fingerprint=fp)
    with pytest.raises(ValueError, match="not both"):
        plans.Checkpoints.open(str(trained), str(file), nb_id="swin_unetr", fingerprint=fp)
