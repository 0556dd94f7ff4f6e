"""mricompendium.run: checks before any kernel, one-line failures with a log, exact publishing."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from mricompendium import paths, publish, run

PARAMS_CELL = (
    'output_dir = ""\nseed = 0\nnum_coils = 8  # receive coils\ndata_path = ""\nmode = "ok"'
)
BODY = """
import json
from mricompendium import paths
from mricompendium.data.errors import DataError
out = paths.report_paths(output_dir, "toy")
if mode == "data":
    raise DataError("/data/scan_07.h5", "dataset 'kspace' holds 3 NaN values")
if mode == "value":
    print("half way")
    raise ValueError("num_coils must be in [1, 4], got 8\\nsecond line")
for f in (out.record, out.results, out.table(), out.table("curve")):
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"coils": num_coils}))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    params = nbformat.v4.new_code_cell(PARAMS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(BODY)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
    (tmp_path / "notebooks" / "toys").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "notebooks" / "toys" / "toy.ipynb")
    (tmp_path / "params.yaml").write_text(
        "global:\n  seed: 1\n  device: cpu\ntoy:\n  num_coils: 4\n"
    )
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "PARAMS", tmp_path / "params.yaml")
    monkeypatch.setattr(paths, "SCRATCH", tmp_path / ".scratch")
    monkeypatch.setattr(paths, "REPORTS", tmp_path / "reports")
    return tmp_path


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(run, "_execute", fail)


@pytest.mark.parametrize(
    ("sets", "line"),
    [
        (["num_coil=12"], "toy: num_coil: unknown parameter of toy (from --set); did you mean"),
        (["data_path=/no/such/data"], "toy: data_path: /no/such/data does not exist (from --set)"),
        (["num_coils=many"], "toy: num_coils: 'many' is a str, expected an int like 8"),
        (["output_dir=x"], "toy: output_dir: is set by mricompendium.run"),
        (["nonsense"], "toy: --set expects key=value, got 'nonsense'"),
    ],
)
def test_bad_parameters_fail_in_one_line_before_any_kernel(
    project: Path, no_kernel: None, capsys: pytest.CaptureFixture[str], sets: list[str], line: str
) -> None:
    argv = ["toy"] + [a for s in sets for a in ("--set", s)]
    assert run.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(line)
    assert not (project / "reports").exists() and not (project / ".scratch" / "logs").exists()


def test_params_yaml_keys_are_checked_and_globals_filtered(project: Path, no_kernel: None) -> None:
    checked = run.check_run("toy")
    assert checked.params == {"seed": 1, "num_coils": 4}  # `device` is not a toy parameter
    (project / "params.yaml").write_text("toy:\n  num_coils: 4\n  data_pth: /x\n")
    with pytest.raises(run.RunError) as failed:
        run.check_run("toy")
    assert failed.value.lines == [
        "toy: data_pth: unknown parameter of toy (from params.yaml toy); did you mean data_path?"
    ]
    with pytest.raises(run.RunError, match="nope: no notebook with id 'nope'"):
        run.check_run("nope")
    (project / "params.yaml").write_text("other: {}\n")
    with pytest.raises(run.RunError, match=r"^toy: .*params\.yaml: no section 'toy'"):
        run.check_run("toy")


def test_dry_checks_without_executing(
    project: Path, no_kernel: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(["toy", "--dry", "-S", "num_coils=12"]) == 0
    assert capsys.readouterr().out.startswith("toy: dry run OK: 2 parameters checked")
    assert not (project / "reports").exists()


def _fail_in_kernel(mode: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], Path]:
    assert run.main(["toy", "--kernel", "python3", "--set", f"mode={mode}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("log: .scratch/logs/toy-")
    return err, paths.ROOT / err[1].removeprefix("log: ")


def test_failure_in_the_notebook_is_one_line_and_a_log(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(["toy", "--kernel", "python3"]) == 0
    reports = project / "reports"
    before = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    err, log = _fail_in_kernel("data", capsys)
    assert err[0] == "toy: /data/scan_07.h5: dataset 'kspace' holds 3 NaN values"
    text = log.read_text()
    assert "Traceback" in text and "DataError" in text and "mode: data" in text
    err, log = _fail_in_kernel("value", capsys)
    assert err[0] == (
        "toy: notebooks/toys/toy.ipynb In [3]: ValueError: num_coils must be in [1, 4], got 8"
    )
    kept = nbformat.read(log.with_suffix(".ipynb"), as_version=4)
    outputs = [o for c in kept.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("half way" in o.get("text", "") for o in outputs)
    assert "second line" in log.read_text()
    after = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    assert after == before
    assert not (project / ".scratch" / "staging" / "toy").exists()


def test_publish_takes_exactly_this_notebooks_files(project: Path) -> None:
    (project / "notebooks" / "toys" / "toy_x.ipynb").write_text("{}")
    staging = project / "staging"
    names = ["toy.csv", "toy_curve.csv", "toyx.csv", "toy_x.csv", "toy_x_curve.csv", "toy.png"]
    for sub in publish.SUBFOLDERS:
        (staging / sub).mkdir(parents=True)
        for name in [*names, "toy.json", "toy_extra.json"]:
            (staging / sub / name).write_text("x")
    executed = staging / "toy.ipynb"
    executed.write_text(json.dumps({}))
    written = run._publish(staging, executed, "toy", project / "reports")
    got = sorted(p.relative_to(project / "reports").as_posix() for p in written)
    expected = [f"{sub}/{n}" for sub in publish.SUBFOLDERS for n in ("toy.csv", "toy.json")]
    expected += [f"{sub}/toy_curve.csv" for sub in publish.SUBFOLDERS] + ["notebooks/toy.ipynb"]
    expected += ["figures/toy"]  # an empty folder: the run wrote no figure
    assert got == sorted(expected)


def test_unforeseen_errors_are_one_line_and_a_log(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full\nmore detail")

    monkeypatch.setattr(run, "check_run", broken)
    assert run.main(["toy", "--dry"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "toy: RuntimeError: disk full" and err[1].startswith("log: .scratch/logs/")
    assert "more detail" in (project / err[1].removeprefix("log: ")).read_text()


def test_a_data_path_missing_from_the_stage_deps_is_warned_under_dvc(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (project / "dvc.yaml").write_text("stages:\n  toy:\n    cmd: x\n    deps: [notebooks]\n")
    monkeypatch.setenv("DVC_STAGE", "toy")
    with caplog.at_level("WARNING", logger="mricompendium.run"):
        run._warn_untracked("toy", {"data_path": "data/user/ixi"})
    assert "data/user/ixi is not a dependency of stage toy" in caplog.text
    caplog.clear()
    monkeypatch.delenv("DVC_STAGE")
    run._warn_untracked("toy", {"data_path": "data/user/ixi"})
    assert caplog.text == ""
