"""Checkpoints: plain containers only, pickles refused, random states and configs restored."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from mricompendium import checkpoints


class Payload:
    """A class instance: what a checkpoint must never unpickle."""


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def test_round_trip_holds_config_fingerprint_curves_and_rebuilds_the_model(tmp_path):
    model = _model()
    config = {"factory": "mricompendium.train:selftest_model",
              "kwargs": {"width": 4, "dropout": 0.0, "extra": (1, 2)}}  # fmt: skip
    config["kwargs"].pop("extra")
    opt = torch.optim.Adam(model.parameters())
    path = checkpoints.save_checkpoint(
        tmp_path / "a" / "c.pt", model, opt, 7, losses=[1.0, 0.5], val_steps=[2], val=[0.3],
        config=config, data_fingerprint="abc", meta={"method": "m", "seeds": (0, 1)},
    )  # fmt: skip
    state = checkpoints.read_checkpoint(path)
    assert state["format"] == checkpoints.FORMAT and state["step"] == 7
    assert state["config"] == config and state["data_fingerprint"] == "abc"
    assert state["meta"] == {"method": "m", "seeds": [0, 1]}  # plain: tuples become lists
    assert state["losses"].tolist() == [1.0, 0.5] and state["val_steps"].tolist() == [2]
    other = _model()
    other.weight.data.zero_()
    assert checkpoints.restore(state, other) == 7
    assert torch.equal(other.weight, model.weight)
    rebuilt = checkpoints.build_model(config)
    assert sum(p.numel() for p in rebuilt.parameters()) > 0


def test_a_checkpoint_holding_a_pickled_object_is_refused_in_one_line(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "step": 0, "extra": Payload()}, path)
    with pytest.raises(checkpoints.CheckpointError) as err:
        checkpoints.read_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and "refused" in message and "Payload" in message


def test_unreadable_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip file")
    with pytest.raises(checkpoints.CheckpointError, match="not a readable checkpoint"):
        checkpoints.read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(checkpoints.CheckpointError, match="not a checkpoint"):
        checkpoints.read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        checkpoints.read_checkpoint(tmp_path / "none.pt")


def test_config_must_be_plain_and_factories_must_be_ours(tmp_path):
    with pytest.raises(TypeError, match="plain"):
        bad = {"factory": "x:y", "kwargs": {"obj": Payload()}}
        checkpoints.save_checkpoint(tmp_path / "c.pt", _model(), None, 0, config=bad)
    for factory in ("os:system", "mricompendium.train", "mricompendium.nothing:here"):
        with pytest.raises(checkpoints.CheckpointError):
            checkpoints.build_model({"factory": factory, "kwargs": {}})


def test_random_states_round_trip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = checkpoints.get_rng_state()
    expected = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    checkpoints.set_rng_state(state)
    got = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])
