"""Command-line failures: one line and a log path, never a traceback; logs unique and pruned;
``make lab`` passes --allow-root exactly when run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mricompendium import paths, process, userdata


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "SCRATCH", tmp_path / ".scratch")
    return tmp_path


def test_userdata_add_of_a_symlink_loop_is_one_line_and_a_log(root, capsys) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    assert userdata.main(["add", "loop", str(root / "a")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"userdata add: {root / 'a'}: a loop of symbolic links"
    assert err[1].startswith("log: .scratch/logs/userdata-add-") and len(err) == 2
    assert not (root / "data" / "user" / "loop").exists()


def test_userdata_unforeseen_errors_are_one_line_and_a_log(root, capsys, monkeypatch) -> None:
    def broken(args):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(userdata, "_dispatch", broken)
    assert userdata.main(["list"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "userdata list: RuntimeError: disk on fire" and len(err) == 2
    assert "second line" in (root / err[1].removeprefix("log: ")).read_text()


def test_logs_written_in_the_same_second_do_not_collide_and_are_pruned(root) -> None:
    first = process.write_log("toy", "toy: a", None)
    second = process.write_log("toy", "toy: b", None)
    assert first != second and first.read_text() == "toy: a\n"
    logs = first.parent
    for i in range(process.LOG_KEEP + 10):
        f = logs / f"old-{i:03d}.log"
        f.write_text("x")
        os.utime(f, (1_000_000 + i, 1_000_000 + i))
        f.with_suffix(".ipynb").write_text("{}")
    process.prune_logs(logs)
    kept = sorted(p.name for p in logs.glob("*.log"))
    assert len(kept) == process.LOG_KEEP
    assert first.name in kept and second.name in kept and "old-000.log" not in kept
    assert not (logs / "old-000.ipynb").exists() and (logs / "old-059.ipynb").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(("euid", "flag"), [("0", True), ("1000", False)])
def test_make_lab_allows_root_only_as_root(euid: str, flag: bool) -> None:
    out = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-o", "data", "lab", f"EUID={euid}"],
        cwd=paths.ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if "jupyter lab" in ln)
    assert ("--allow-root" in line) is flag
