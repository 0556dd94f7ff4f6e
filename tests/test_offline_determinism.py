"""No network, same numbers: the data stage and one notebook per family, under a socket guard.

Each process runs with ``tests/netguard`` on ``PYTHONPATH`` (its ``sitecustomize`` refuses and
records any non-loopback connection or name lookup, in the Jupyter kernel too). The data stage
rebuilds the embedded data set into a temporary folder (its manifest must equal the committed
one, file for file), and the cheapest notebook of each family runs twice at its CI defaults, the
two runs side by side (one torch thread each): their per-case results must be byte-identical.
Measured on the 2-core machine: about 70 s when quiet (tongue_model 8 s, xpdnet 12 s, brainclip
13 s, biomech_cardiac 17 s, stroke_synthetic 19 s at CI size, as the benchmark table has them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mricompendium import paths

GUARD = Path(__file__).parent / "netguard"
# the cheapest notebook of each family at its CI defaults
NOTEBOOKS = ("tongue_model", "xpdnet", "brainclip", "biomech_cardiac", "stroke_synthetic")
EXECUTE = """
import sys, papermill
from mricompendium import paths, run
papermill.execute_notebook(sys.argv[1], sys.argv[2], parameters={"output_dir": sys.argv[3]},
                           cwd=str(paths.ROOT), kernel_name=run._kernel_name(),
                           progress_bar=False, log_output=False)
"""


def _env(log: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(GUARD), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "MRICOMPENDIUM_NETGUARD_LOG": str(log),
            "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}  # fmt: skip


def test_the_guard_refuses_and_records_but_lets_loopback_through(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    code = (
        "import socket\n"
        "a = socket.socket(); a.bind(('127.0.0.1', 0)); a.listen()\n"
        "socket.create_connection(a.getsockname()).close()\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except ConnectionRefusedError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(log), capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert "network disabled by the test guard" in out
    assert "192.0.2.1" in log.read_text()


def test_the_data_stage_builds_offline_and_bit_for_bit(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    cmd = [sys.executable, "-m", "mricompendium.data.build", "--out", str(tmp_path / "embedded"),
           "--manifest", str(tmp_path / "manifest.json")]  # fmt: skip
    subprocess.run(cmd, env=_env(log), check=True, capture_output=True, cwd=paths.ROOT)
    assert not log.exists(), log.read_text()
    built = json.loads((tmp_path / "manifest.json").read_text())
    committed = json.loads((paths.ROOT / "data" / "manifest.json").read_text())
    assert built["files"] == committed["files"]


@pytest.mark.parametrize("nb_id", NOTEBOOKS)
def test_a_notebook_runs_offline_and_twice_gives_the_same_results(
    tmp_path: Path, nb_id: str
) -> None:
    log = tmp_path / "net.log"
    notebook = paths.notebook_path(nb_id)
    runs = []
    for k in ("a", "b"):  # side by side: the two cores
        cmd = [sys.executable, "-c", EXECUTE, str(notebook), str(tmp_path / f"{k}.ipynb"),
               str(tmp_path / k)]  # fmt: skip
        runs.append(subprocess.Popen(cmd, env=_env(log), cwd=paths.ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # fmt: skip
    for proc in runs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
    assert not log.exists(), f"network attempts: {log.read_text()}"
    a, b = (_without_clock(tmp_path / k / "results" / f"{nb_id}.csv") for k in ("a", "b"))
    assert a == b, f"{nb_id}: two runs gave different results"


def _without_clock(path: Path) -> list[list[str]]:
    """The results CSV as text cells, wall-clock columns (``runtime_s``, ``*_time_s``) blanked:
    a measured time is the one value that may differ between two identical runs."""
    import csv

    rows = list(csv.reader(path.read_text().splitlines()))
    clock = {i for i, c in enumerate(rows[0]) if c == "runtime_s" or c.endswith("_time_s")}
    return [[("" if i in clock and r is not rows[0] else v) for i, v in enumerate(r)]
            for r in rows]  # fmt: skip
