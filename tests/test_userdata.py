"""User data outside the repository in the DAG: links, stage deps, and DVC reruns what reads it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from mricompendium import userdata


def test_stage_data_deps() -> None:
    root = Path("/repo")
    params = {"data_path": "data/user/ixi/", "shift_data_path": "", "seed": 0}
    assert userdata.stage_data_deps(params, root=root) == ["data/user/ixi"]
    assert userdata.stage_data_deps({"data_path": ""}, root=root) == []
    both = {"data_path": "/repo/data/user/cc", "shift_data_path": "/mnt/cc359/32ch"}
    assert userdata.stage_data_deps(both, root=root) == ["data/user/cc", "/mnt/cc359/32ch"]
    same = {"data_path": "./data/user/a", "shift_data_path": "data/user/a"}
    assert userdata.stage_data_deps(same, root=root) == ["data/user/a"]


def test_add_list_remove(tmp_path: Path) -> None:
    repo, data = tmp_path / "repo", tmp_path / "ixi"
    repo.mkdir()
    data.mkdir()
    link = userdata.add("ixi", data, root=repo)
    assert link == repo / "data" / "user" / "ixi" and link.is_symlink()
    assert userdata.registered(repo) == {"ixi": data.resolve()}
    assert "!.gitignore" in (repo / "data" / "user" / ".gitignore").read_text()
    assert userdata.add("ixi", data, root=repo) == link  # same target: nothing to do
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(FileExistsError, match="already links"):
        userdata.add("ixi", other, root=repo)
    userdata.add("ixi", other, root=repo, force=True)
    assert userdata.registered(repo)["ixi"] == other.resolve()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        userdata.add("x", tmp_path / "nowhere", root=repo)
    with pytest.raises(ValueError, match="name"):
        userdata.add("../x", data, root=repo)
    userdata.remove("ixi", root=repo)
    assert userdata.registered(repo) == {} and other.exists()


def test_untracked_data_deps(tmp_path: Path) -> None:
    stages = {"a": {"cmd": "x", "deps": ["src", "data/user"]}, "b": {"cmd": "x", "deps": ["src"]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    params = {"data_path": "data/user/ixi"}
    assert userdata.untracked_data_deps("a", params, root=tmp_path) == []
    assert userdata.untracked_data_deps("b", params, root=tmp_path) == ["data/user/ixi"]
    assert userdata.untracked_data_deps("missing", params, root=tmp_path) == []


def _dvc(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run DVC in this process (cwd is the repository); its stdout."""
    from dvc.cli import main as dvc_main

    capsys.readouterr()
    assert dvc_main(list(args)) == 0
    return capsys.readouterr().out


def _changed(capsys: pytest.CaptureFixture[str]) -> set[str]:
    # DVC's Python API, not its printed output: DVC's console keeps the stdout it first saw,
    # which another test's in-process DVC call may have set before capsys could capture it.
    from dvc.repo import Repo

    with Repo(".") as repo:
        return set(repo.status())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pygtrie, inside DVC
def test_changed_user_data_reruns_exactly_the_stages_that_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ext, repo = tmp_path / "elsewhere", tmp_path / "repo"
    for name, files in {"ixi": ["a.nii", "b.nii"], "cc": ["e1.h5"], "cc32": ["e2.h5"]}.items():
        (ext / name).mkdir(parents=True)
        for f in files:
            (ext / name / f).write_text(f"{name}/{f}")
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    _dvc(capsys, "init", "--no-scm", "-q")
    userdata.add("ixi", ext / "ixi", root=repo)
    userdata.add("cc", ext / "cc", root=repo)
    params = {
        "s_ixi": {"data_path": "data/user/ixi", "seed": 0},
        "s_cc": {"data_path": "data/user/cc", "shift_data_path": str(ext / "cc32")},
        "s_none": {"data_path": "", "seed": 0},
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    stages = {}
    for stage, section in params.items():
        code = f"open('{stage}.txt', 'w').write('{stage}')"
        stages[stage] = {
            "cmd": f'{sys.executable} -c "{code}"',
            "deps": userdata.stage_data_deps(section, root=repo),
            "params": [stage],
            "outs": [f"{stage}.txt"],
        }
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    assert stages["s_cc"]["deps"] == ["data/user/cc", str(ext / "cc32")]
    _dvc(capsys, "repro", "-q")
    assert _changed(capsys) == set()
    (ext / "ixi" / "b.nii").write_text("rewritten")  # through the link
    assert _changed(capsys) == {"s_ixi"}
    _dvc(capsys, "repro", "-q")
    (ext / "cc32" / "e2.h5").write_text("rewritten")  # an absolute (external) dependency
    assert _changed(capsys) == {"s_cc"}
    _dvc(capsys, "repro", "-q")
    (ext / "cc" / "new.h5").write_text("added")
    assert _changed(capsys) == {"s_cc"}
