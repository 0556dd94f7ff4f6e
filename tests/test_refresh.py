"""After a run: the line naming the verdict and report commands, and --refresh running them."""

from __future__ import annotations

import subprocess

from mricompendium import paths, refresh


def test_hint_names_both_commands_in_order():
    line = refresh.hint("ddmr")
    assert "python -m mricompendium.verdicts ddmr && python -m mricompendium.report" in line
    assert line.startswith("ddmr: ") and "--refresh" in line


def test_refresh_runs_verdicts_then_report_and_stops_at_a_failure(monkeypatch):
    calls = []

    def fake(cmd, cwd, check):
        calls.append(cmd[1:])
        return subprocess.CompletedProcess(cmd, 3 if "mricompendium.verdicts" in cmd else 0)

    monkeypatch.setattr(refresh.subprocess, "run", fake)
    assert refresh.refresh("ddmr") == 3
    assert calls == [["-m", "mricompendium.verdicts", "ddmr"]]  # no report after a failure
    calls.clear()
    monkeypatch.setattr(
        refresh.subprocess, "run", lambda cmd, cwd, check: calls.append((cmd[1:], cwd)) or
        subprocess.CompletedProcess(cmd, 0),
    )  # fmt: skip
    assert refresh.refresh("ddmr") == 0
    assert [c for c, _ in calls] == [["-m", "mricompendium.verdicts", "ddmr"],
                                     ["-m", "mricompendium.report"]]  # fmt: skip
    assert all(cwd == paths.ROOT for _, cwd in calls)


def test_run_cli_refreshes_only_when_asked(monkeypatch, capsys):
    from mricompendium import run

    monkeypatch.setattr(run, "run_notebook", lambda *a, **k: None)
    monkeypatch.setattr(refresh, "refresh", lambda nb_id: 7 if nb_id == "ddmr" else 0)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert run._main(run.parser().parse_args(["ddmr", "--refresh"])) == 7  # its status
    assert run._main(run.parser().parse_args(["ddmr"])) == 0
    assert "python -m mricompendium.verdicts ddmr" in capsys.readouterr().out
    monkeypatch.setenv("DVC_STAGE", "ddmr")
    assert run._main(run.parser().parse_args(["ddmr"])) == 0
    assert capsys.readouterr().out == ""  # dvc repro runs the verdict stage itself
