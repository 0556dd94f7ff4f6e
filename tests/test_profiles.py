"""Parameter profiles (``params.gpu.yaml``) applied through ``dvc exp run -S``."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mricompendium import paths, profiles


def test_the_gpu_profile_checks_clean_against_every_notebook():
    assert profiles.check("gpu") == []


def test_dvc_applies_the_arguments_to_exactly_the_profiles_values(tmp_path):
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` calls

    params = tmp_path / "params.yaml"
    shutil.copyfile(paths.PARAMS, params)
    args = profiles.dvc_args("gpu")
    assert args[::2] == ["-S"] * (len(args) // 2)
    apply_overrides(params, args[1::2])
    applied = yaml.safe_load(params.read_text())
    original = yaml.safe_load(paths.PARAMS.read_text())
    for section, values in profiles.load_profile("gpu").items():
        for key, value in values.items():
            assert applied[section][key] == value, f"{section}.{key}"
        untouched = set(original.get(section, {})) - set(values)
        assert all(applied[section][k] == original[section][k] for k in untouched)


def test_a_bad_profile_is_reported_line_by_line(monkeypatch):
    bad = {"cirim": {"scael": "paper", "train_steps": "many"}, "no_such_id": {"x": 1}}
    monkeypatch.setattr(profiles, "load_profile", lambda name: {k: dict(v) for k, v in bad.items()})
    problems = profiles.check("bad")
    assert any("scael" in p and "did you mean scale" in p for p in problems)
    assert any("train_steps" in p for p in problems)
    assert any(p.startswith("no_such_id:") for p in problems)


def test_values_are_written_in_hydra_syntax():
    assert profiles._hydra([1, 2.5, "a@4", True, None]) == "[1,2.5,a@4,true,null]"
    assert profiles._hydra(["true", "a b", "1e3"]) == "['true','a b','1e3']"
    with pytest.raises(ValueError):
        profiles._hydra("it's")
    with pytest.raises(ValueError):
        profiles.profile_path("../etc")


def test_apply_writes_the_profile_as_dvc_exp_run_would(tmp_path):
    """``make repro PROFILE=gpu JOBS=N`` runs outside an experiment: ``--apply`` writes the same
    values into params.yaml that ``dvc exp run -S`` would."""
    from dvc.utils.hydra import apply_overrides

    by_apply, by_dvc = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copyfile(paths.PARAMS, by_apply)
    shutil.copyfile(paths.PARAMS, by_dvc)
    profiles.apply("gpu", by_apply)
    apply_overrides(by_dvc, profiles.dvc_args("gpu")[1::2])
    assert yaml.safe_load(by_apply.read_text()) == yaml.safe_load(by_dvc.read_text())
    assert yaml.safe_load(by_apply.read_text()) != yaml.safe_load(paths.PARAMS.read_text())
