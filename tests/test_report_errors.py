"""The report stage: one line and a log for a bad input, the old page kept; links that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mricompendium import paths, report


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "REPORTS", tmp_path / "reports")
    monkeypatch.setattr(paths, "SCRATCH", tmp_path / ".scratch")
    (tmp_path / "reports" / "metrics").mkdir(parents=True)
    (tmp_path / "reports" / "README.md").write_text("the old page\n")
    return tmp_path / "reports"


def _metrics(**over: object) -> dict:
    m = {"id": "reconresnet", "seed_paper": "S38", "family": "reconstruction", "claim": "c",
         "verdict": "reproduced", "evidence": "e", "runtime_s": 1.0,
         "extra": {"key_figures": ["figures/reconresnet/there.png",
                                   "figures/reconresnet/missing.png"]}}  # fmt: skip
    m.update(over)
    return m


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("metrics/reconresnet.json", '{"id": "reconresnet", "verd', "not valid JSON"),
        ("metrics/reconresnet.json", "[1, 2]", "not a metrics record (no verdict)"),
        ("metrics/reconresnet.json", json.dumps({"id": "reconresnet", "verdict": "partial"}),
         "cannot be shown (KeyError: missing 'claim')"),
        ("benchmarks.json", '{"rows": [{"name": "a", "val', "not valid JSON"),
        ("benchmarks.json", '{"rows": [1]}', "rows[0] is not a row with a name"),
    ],
)  # fmt: skip
def test_a_bad_input_is_one_line_and_a_log(reports, capsys, name, text, message) -> None:
    (reports / "metrics" / "ok.json").write_text(json.dumps(_metrics()))
    (reports / name).write_text(text)
    assert report.main() == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert err[0].startswith(f"reports/{name}: ") and message in err[0]
    assert err[1].startswith("log: .scratch/logs/report-")
    assert "Traceback" in (reports.parent / err[1].removeprefix("log: ")).read_text()
    assert (reports / "README.md").read_text() == "the old page\n"


def test_the_page_links_only_files_that_exist(reports) -> None:
    (reports / "metrics" / "reconresnet.json").write_text(json.dumps(_metrics()))
    (reports / "figures" / "reconresnet").mkdir(parents=True)
    (reports / "figures" / "reconresnet" / "there.png").write_bytes(b"png")
    assert report.main() == 0
    text = (reports / "README.md").read_text()
    assert "(figures/reconresnet/there.png)" in text
    assert "missing.png" not in text
    assert "(notebooks/reconresnet.ipynb)" not in text and "Executed notebook: none yet" in text
    (reports / "notebooks").mkdir()
    (reports / "notebooks" / "reconresnet.ipynb").write_text("{}")
    assert report.main() == 0
    assert (
        "[notebooks/reconresnet.ipynb](notebooks/reconresnet.ipynb)"
        in (reports / "README.md").read_text()
    )


def test_the_report_finishes_a_publication_a_kill_interrupted(reports) -> None:
    from mricompendium import publish

    (reports / "metrics" / "reconresnet.json").write_text(json.dumps(_metrics()))
    staging = reports.parent / "staging"
    (staging / "notebooks").mkdir(parents=True)
    (staging / "notebooks" / "reconresnet.ipynb").write_text("{}")
    tx = reports / publish.TX / "reconresnet"
    (tx / "new" / "notebooks").mkdir(parents=True)
    (staging / "notebooks" / "reconresnet.ipynb").rename(tx / "new/notebooks/reconresnet.ipynb")
    (tx / publish.PLAN).write_text('{"put": ["notebooks/reconresnet.ipynb"], "remove": []}')
    assert report.main() == 0  # as if killed right after the commit point
    assert (reports / "notebooks" / "reconresnet.ipynb").read_text() == "{}"
    assert not (reports / publish.TX).exists()
    assert (
        "[notebooks/reconresnet.ipynb](notebooks/reconresnet.ipynb)"
        in (reports / "README.md").read_text()
    )
