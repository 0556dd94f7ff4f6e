"""Two runs of one id, a killed parent and Ctrl-C, on a tiny notebook run as a real process.

The notebook sleeps in a cell (``sleep_s``) so that a second run, a kill or an interrupt lands
while its kernel works; each test takes a few seconds (one or two kernel starts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

PARAMS = 'output_dir = ""\nvalue = 1  # in [0, 10]\nsleep_s = 2.0  # in [0, 60]'
BODY = """
import json, os, time
from mricompendium import paths
root = paths.ROOT
(root / "kernel.pid").write_text(str(os.getpid()))
(root / "started").write_text("1")
t0 = time.monotonic()
while time.monotonic() - t0 < sleep_s and not (root / "release").exists():
    time.sleep(0.05)  # until sleep_s has passed or the test releases the run
out = paths.report_paths(output_dir, "toy")
out.figures_dir.mkdir(parents=True, exist_ok=True)
out.figure("contours.png").write_bytes(b"png %d" % value)
for f in (out.record, out.results):
    f.parent.mkdir(parents=True, exist_ok=True)
out.record.write_text(json.dumps({"id": "toy", "value": value}))
out.results.write_text("value\\n%d\\n" % value)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(BODY)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
    (tmp_path / "notebooks" / "toys").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "notebooks" / "toys" / "toy.ipynb")
    (tmp_path / "params.yaml").write_text("global:\n  seed: 0\ntoy:\n  value: 3\n")
    return tmp_path


def _env(root: Path, **extra: str) -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "MRICOMPENDIUM_ROOT": str(root), "PYTHONPATH": path, **extra}


def _run(root: Path, *args: str, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mricompendium.run", "toy", "--kernel", "python3", *args]
    return subprocess.Popen(cmd, cwd=root, env=_env(root, **env), stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie no one reaps (no init in a container) is dead


def _wait_dead(pid: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < end, f"process {pid} still alive"
        time.sleep(0.05)


def _reports(root: Path) -> dict[str, bytes]:
    rep = root / "reports"
    return {p.relative_to(rep).as_posix(): p.read_bytes() for p in rep.rglob("*") if p.is_file()}


def test_a_second_run_of_the_same_id_is_refused_naming_the_holder(project: Path) -> None:
    first = _run(project, "--set", "sleep_s=60")  # held until released, however slow the machine
    _wait_for(project / "started")
    second = _run(project)
    out, err = second.communicate(timeout=60)
    (project / "release").write_text("1")
    assert second.returncode == 1
    lines = [ln for ln in err.splitlines() if not ln.startswith("mricompendium.")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"toy: another run of toy is in progress (pid {first.pid}, started ")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert _reports(project)["figures/toy/contours.png"] == b"png 3"


def test_wait_runs_one_after_the_other(project: Path) -> None:
    first = _run(project)
    _wait_for(project / "started")
    (project / "started").unlink()
    second = _run(project, "--wait", "--set", "value=5")
    assert first.wait(timeout=120) == 0
    assert second.wait(timeout=120) == 0, second.stderr.read()
    got = _reports(project)
    assert got["figures/toy/contours.png"] == b"png 5"
    assert json.loads(got["records/toy.json"]) == {"id": "toy", "value": 5}
    assert not list((project / ".scratch" / "staging").iterdir())


PARENT = "import subprocess, sys; subprocess.run(sys.argv[1:])"


def test_a_killed_parent_stops_the_run_and_publishes_nothing(project: Path) -> None:
    cmd = [sys.executable, "-m", "mricompendium.run", "toy", "--kernel", "python3"]
    cmd += ["--set", "sleep_s=4.0"]
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *cmd], cwd=project,
                              env=_env(project, DVC_STAGE="toy"))  # fmt: skip
    _wait_for(project / "started")
    kernel = int((project / "kernel.pid").read_text())
    holder = json.loads((project / ".scratch" / "locks" / "toy.lock").read_text())
    parent.send_signal(signal.SIGKILL)  # as `kill -9` on dvc repro
    parent.wait(10)
    _wait_dead(holder["pid"])
    _wait_dead(kernel)
    time.sleep(4.5)  # past the cell's end: nothing may publish late
    assert not (project / "reports").exists() or _reports(project) == {}
    logs = list((project / ".scratch" / "logs").glob("toy-*.log"))
    assert len(logs) == 1 and "interrupted (SIGTERM)" in logs[0].read_text()


def test_ctrl_c_prints_one_line_and_exits_130(project: Path) -> None:
    run = _run(project)
    _wait_for(project / "started")
    kernel = int((project / "kernel.pid").read_text())
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if not ln.startswith("mricompendium.")]
    assert lines[0] == "toy: interrupted (SIGINT): nothing published, reports/ unchanged"
    assert lines[1].startswith("log: .scratch/logs/toy-") and len(lines) == 2
    _wait_dead(kernel)
    assert not (project / "reports").exists()
