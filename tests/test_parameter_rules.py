"""Every notebook parameter has a type and a rule; bad values and files fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mricompendium import amp, memory, parameters, paths, rules, run

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*/*.ipynb"))


def _cell(notebook: Path) -> dict[str, parameters.Parameter]:
    return parameters.notebook_parameters(notebook)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_every_parameter_has_a_type_and_a_rule(notebook: Path) -> None:
    missing = []
    for name, param in _cell(notebook).items():
        if param.default is None:
            missing.append(f"{name}: no type (default None)")
            continue
        if isinstance(param.default, bool):
            continue  # the type is the whole range
        rule = parameters.rule_for(notebook.stem, param)
        if rule is None or not rule.complete:
            missing.append(f"{name}: no range, choices or pattern ({rule})")
        elif isinstance(param.default, list) and rule.max_len is None:
            missing.append(f"{name}: a list without a length bound")
        elif rule.violation(param.default):
            missing.append(f"{name}: its default breaks its rule: {rule.violation(param.default)}")
    assert not missing, (
        f"{notebook.stem}: write `# ... in [lo, hi]` or `# ... one of a, b` in the comment, or "
        f"add a rule to mricompendium.rules.RULES: {missing}"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_defaults_and_params_yaml_fit_the_relations_and_memory(notebook: Path) -> None:
    cell = _cell(notebook)
    defaults = {k: p.default for k, p in cell.items()}
    assert parameters.check(notebook.stem, cell, defaults) == []
    assert memory.check(notebook.stem, defaults, available=4 * memory.GIB) is None
    try:
        own = {**defaults, **parameters.load_params(notebook.stem)}
    except KeyError:
        pytest.skip("no params.yaml section")
    assert memory.check(notebook.stem, own, available=8 * memory.GIB) is None


def test_copied_constants_follow_their_source() -> None:
    from mricompendium.data.rtmri.build import PRESETS
    from mricompendium.experiments.reconstruction.consistency import REGIMES
    from mricompendium.experiments.reconstruction.registry import MODELS

    assert rules.RECON_MODELS == tuple(MODELS)
    assert rules.PRECISIONS == amp.PRECISIONS
    assert set(rules.REGIME_NAMES) == set(REGIMES)
    assert rules.CORPUS_SHAPE_SPEAKERS == {k: v.n_shape_speakers for k, v in PRESETS.items()}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_precision_takes_the_training_precisions_and_defaults_to_auto(notebook: Path) -> None:
    cell = _cell(notebook)
    if "precision" not in cell:
        pytest.skip("no precision parameter")
    assert cell["precision"].default == "auto"
    rule = parameters.rule_for(notebook.stem, cell["precision"])
    assert rule.choices == amp.PRECISIONS
    for key in ("checkpoint_dir", "checkpoint"):
        if key in cell:
            assert cell[key].default == "" and parameters.rule_for(notebook.stem, cell[key]).path


@pytest.mark.parametrize(
    ("nb_id", "setting", "message"),
    [
        ("brainclip", "train_steps=0", "train_steps: 0 must be >= 1"),
        ("brainclip", "train_steps=1000000000000", "must be <= 1000000"),
        ("brainclip", "seeds=[]", "seeds: [] holds 0 item(s), needs at least 1"),
        ("brainclip", "seeds=[1, 1]", "seeds: [1, 1] repeats an item"),
        ("brainclip", "temperature=.nan", "temperature: nan is not a finite number"),
        ("brainclip", "glm_hrf=fancy", "'fancy' is not one of library, canonical"),
        ("tongue_model", "head_rot_deg=.inf", "head_rot_deg: inf is not a finite number"),
        ("tongue_model", "pose_folds=0", "pose_folds: 0 must be >= 2"),
        ("tongue_model", "n_train_speakers=15", "n_train_speakers: 15 must be <= 14"),
        ("ambient_dps", "sweep_sizes=[22, 90]", "must each be below n_train (90)"),
        ("ambient_dps", "sweep_sizes=[10, 20, 30]", "at most 2"),
        ("atommic", "image_size=128", "a larger size needs data_path with measured k-space"),
        ("atommic", "data_format=nifti", "'nifti' is not one of nifti_pairs, skmtea"),
        ("swin_unetr", "size=3", "size: 3 must be >= 64"),
        ("swin_unetr", "size=100000", "size: 100000 must be <= 512"),
        ("swin_unetr", "size=96", "size: 96 must be <= grid (64)"),
        ("swin_unetr", "swin_feature_size=16", "must be a multiple of 12"),
        ("reconresnet", "image_size=4096", "image_size: 4096 must be <= 1024"),
        ("reconresnet", "image_size=256", "must be <= 128 on the embedded slices"),
        ("cirim", "rivals=[Nope]", "'Nope' is not one of U-Net"),
        ("scse", "shape=[64, 80]", "holds 2 item(s), needs at least 3"),
        ("mindeye2", "model_size=huge", "'huge' is not one of cpu, paper"),
        ("biomech_cardiac", "poisson_ratio=0.5", "must be <= 0.49"),
        ("swin_unetr", "precision=fp64", "'fp64' is not one of auto, fp32, bf16, fp16"),
        ("cirim", "precision=float16", "'float16' is not one of auto, fp32, bf16, fp16"),
        ("ddmr", "checkpoint_dir=no/such/folder", "no/such/folder does not exist"),
        ("cirim", "checkpoint=no/such/file.pt", "no/such/file.pt does not exist"),
    ],
)
def test_bad_values_are_refused_in_one_line(nb_id: str, setting: str, message: str) -> None:
    with pytest.raises(run.RunError) as failed:
        run.check_run(nb_id, sets=[setting], data=False)
    (line,) = failed.value.lines
    key = setting.partition("=")[0]
    assert line.startswith(f"{nb_id}: {key}: ") and message in line and "(from --set)" in line


def test_a_run_larger_than_memory_is_refused_before_a_kernel(monkeypatch) -> None:
    monkeypatch.setattr(memory, "machine_memory", lambda: 23 * memory.GIB)
    with pytest.raises(run.RunError) as failed:
        run.check_run("brainclip", sets=["n_voxels=900000"], data=False)
    (line,) = failed.value.lines
    assert line.startswith("brainclip: memory: needs at least ")
    assert "a coarse lower bound from the sizes" in line and "this machine has 23.0 GiB" in line
    run.check_run("brainclip", sets=["n_voxels=2000"], data=False)  # fits


def test_machine_memory_is_read() -> None:
    found = memory.machine_memory()
    assert found is None or found > 256 * 1024**2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("global:\n  seed: 0\ntoy:\n  lr: 0.1\n  lr: 0.2\n",
         "params.yaml line 5: duplicate key 'lr' (first at line 4)"),
        ("global:\n  seed: 0\ntoy:\n  lr: [0.1,\n", "params.yaml line 5: "),
        ("global:\n  seed: 0\ntoy: {}\ntoy:\n  lr: 1\n", "params.yaml line 4: duplicate key 'toy'"),
        ("global:\n  seed: 0\ntoy: [1, 2]\n", "params.yaml: section 'toy' is not a mapping"),
        ("toy:\n  x: !!python/object/apply:os.system [echo]\n",
         "params.yaml line 2: could not determine a constructor"),
    ],
)  # fmt: skip
def test_params_yaml_errors_name_the_file_and_line(tmp_path, monkeypatch, text, message) -> None:
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ValueError) as failed:
        parameters.load_sections("toy", tmp_path / "params.yaml")
    assert str(failed.value).startswith(message)
    assert "\n" not in str(failed.value)


def test_set_values_that_are_not_yaml_fail_in_one_line() -> None:
    cell = {"lr": parameters.Parameter("lr", 0.1), "seeds": parameters.Parameter("seeds", [0])}
    with pytest.raises(ValueError, match=r"^--set seeds: not a YAML value"):
        parameters.parse_sets(["seeds=[1,"], cell)
    with pytest.raises(ValueError, match=r"duplicate key"):
        parameters.parse_sets(["lr={a: 1, a: 2}"], cell)


def test_no_import_cycle_between_run_userdata_and_parameters() -> None:
    import ast

    src = paths.ROOT / "src" / "mricompendium"
    for name in ("userdata", "parameters", "rules", "memory", "yamlfile"):
        tree = ast.parse((src / f"{name}.py").read_text())
        imported = {
            a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "mricompendium"
            for a in node.names
        }
        assert "run" not in imported, f"{name} imports run"
