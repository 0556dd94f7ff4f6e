"""Publishing is all-or-nothing: a kill at any step leaves the old set or the new one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mricompendium import paths, publish

OLD = {
    "figures/toy/a.png": b"old a",
    "figures/toy/b.png": b"old b",
    "tables/toy.csv": b"old table",
    "tables/toy_extra.csv": b"old extra table",
    "results/toy.csv": b"old results",
    "records/toy.json": b"old record",
    "metrics/toy.json": b"old metrics (the verdict stage's)",
    "notebooks/toy.ipynb": b"old notebook",
    "tables/other.csv": b"another notebook's",
    "figures/other/x.png": b"another notebook's figure",
}
NEW = {
    "figures/toy/a.png": b"new a",
    "figures/toy/c.png": b"new c",
    "tables/toy.csv": b"new table",
    "results/toy.csv": b"new results",
    "records/toy.json": b"new record",
    "notebooks/toy.ipynb": b"new notebook",
}


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = p.read_bytes() if p.is_file() else None
    return out


def _prepare(tmp: Path) -> tuple[Path, list[tuple[Path, str]], list[str]]:
    shutil.rmtree(tmp, ignore_errors=True)
    reports, staging = tmp / "reports", tmp / "staging"
    _write(reports, OLD)
    _write(staging, NEW)
    items = [(staging / "figures" / "toy", "figures/toy")]
    items += [(staging / rel, rel) for rel in NEW if not rel.startswith("figures/")]
    old = publish.report_set(reports, "toy", {"other"}, publish.STALE)
    stale = [r for r in old if r not in {rel for _, rel in items}]
    return reports, items, stale


class Killed(BaseException):
    """A SIGKILL stand-in: nothing after it runs."""


class Kill:
    """Counts file-system operations and raises :class:`Killed` before number ``at``."""

    OPS = ("rename", "replace", "unlink", "rmdir", "mkdir", "open", "fsync")

    def __init__(self, at: int) -> None:
        self.at, self.count = at, 0

    def patch(self, mp: pytest.MonkeyPatch) -> None:
        for name in self.OPS:
            real = getattr(os, name)

            def op(*args, _real=real, **kwargs):
                if self.count == self.at:
                    raise Killed()
                self.count += 1
                return _real(*args, **kwargs)

            mp.setattr(os, name, op)


def _expected(tmp: Path) -> tuple[dict, dict]:
    reports, items, stale = _prepare(tmp)
    before = _snapshot(reports)
    publish.publish("toy", items, reports, stale=stale)
    return before, _snapshot(reports)


def test_publish_switches_the_whole_set(tmp_path: Path) -> None:
    before, after = _expected(tmp_path / "w")
    files = {k: v for k, v in after.items() if v is not None}
    want = {k: v for k, v in OLD.items() if not k.startswith(("figures/toy", "tables/toy_extra"))}
    assert files == {**want, **NEW}  # stale toy_extra gone, others and metrics kept
    assert ".publish" not in after and before != after


def test_a_kill_at_every_step_then_recovery_leaves_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _expected(tmp_path / "ref")
    outcomes = {"old": 0, "new": 0}
    for at in range(500):
        reports, items, stale = _prepare(tmp_path / "w")
        kill = Kill(at)
        with monkeypatch.context() as mp:
            kill.patch(mp)
            try:
                publish.publish("toy", items, reports, stale=stale)
                killed = False
            except Killed:
                killed = True
        if not killed:
            break
        # and, for every fifth step, a second kill at every step of the recovery
        for again in range(200 if at % 5 == 0 else 0):
            rec = Kill(again)
            with monkeypatch.context() as mp:
                rec.patch(mp)
                try:
                    publish.recover("toy", reports)
                    break
                except Killed:
                    pass
        publish.recover("toy", reports)
        state = _snapshot(reports)
        assert state in (old, new), f"kill before operation {at}: neither the old nor the new set"
        outcomes["old" if state == old else "new"] += 1
    else:
        pytest.fail("publish never finished")
    assert outcomes["old"] > 3 and outcomes["new"] > 3  # kills both before and after the commit


def test_an_abort_before_the_commit_leaves_reports_untouched(tmp_path: Path) -> None:
    reports, items, stale = _prepare(tmp_path / "w")
    before = _snapshot(reports)
    assert publish.publish("toy", items, reports, stale=stale, abort=lambda: True) == []
    assert _snapshot(reports) == before


KILLER = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_publish as t
from mricompendium import publish
real = os.rename
def slow(*a, **k):
    time.sleep(0.02)
    return real(*a, **k)
os.rename = slow
reports, items, stale = t._prepare(Path({tmp!r}))
print("ready", flush=True)
time.sleep(0.3)
publish.publish("toy", items, reports, stale=stale)
print("done", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("delay", [0.30, 0.34, 0.38, 0.42, 0.5])
def test_sigkill_mid_publish_then_recovery(tmp_path: Path, delay: float) -> None:
    old, new = _expected(tmp_path / "ref")
    script = KILLER.format(tests=str(Path(__file__).parent), tmp=str(tmp_path / "w"))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    reports = tmp_path / "w" / "reports"
    publish.recover("toy", reports)
    assert _snapshot(reports) in (old, new)


def test_the_lock_names_its_holder_and_is_freed_by_death(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(paths, "SCRATCH", tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mricompendium import publish, paths\n"
         f"paths.SCRATCH = __import__('pathlib').Path({str(tmp_path)!r})\n"
         "with publish.hold('toy'):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    busy = rf"pid {holder.pid}, started 20\d\d-"
    with pytest.raises(publish.Busy, match=busy), publish.hold("toy"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    with publish.hold("toy") as lock:  # free again: the kernel released a dead holder's lock
        assert lock.path.exists()
