"""run.py publishes a notebook's reports only when it succeeds; report.py renders the front page."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from mricompendium import paths, report, run

GOOD = """
import json, pathlib
from mricompendium import paths
out = paths.report_paths(output_dir, "toy")
out.figures_dir.mkdir(parents=True, exist_ok=True)
out.figure("a.png").write_bytes(b"png")
out.metrics.parent.mkdir(parents=True, exist_ok=True)
out.metrics.write_text(json.dumps({"id": "toy", "value": value}))
"""
BAD = GOOD.replace("out.metrics.write_text", 'raise RuntimeError("boom")\nout.metrics.write_text')


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('output_dir = ""\nvalue = 1')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    (tmp_path / "notebooks" / "toys").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "notebooks" / "toys" / "toy.ipynb")
    (tmp_path / "params.yaml").write_text("global:\n  value: 2\ntoy:\n  value: 3\n")
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "PARAMS", tmp_path / "params.yaml")
    monkeypatch.setattr(paths, "SCRATCH", tmp_path / ".scratch")
    return tmp_path / "reports"


def test_load_params_merges_global_and_section(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch, GOOD)
    assert run.load_params("toy") == {"value": 3}
    with pytest.raises(KeyError, match="no section 'nope'"):
        run.load_params("nope")


def test_success_publishes_and_failure_leaves_reports_untouched(tmp_path, monkeypatch):
    reports = _project(tmp_path, monkeypatch, GOOD)
    run.run_notebook("toy", reports=reports, kernel="python3")
    assert json.loads((reports / "metrics" / "toy.json").read_text()) == {"id": "toy", "value": 3}
    assert (reports / "figures" / "toy" / "a.png").exists()
    assert (reports / "notebooks" / "toy.ipynb").exists()
    before = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}

    params = nbformat.v4.new_code_cell('output_dir = ""\nvalue = 1')
    params.metadata["tags"] = ["parameters"]
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[params, nbformat.v4.new_code_cell(BAD)],
            metadata={"kernelspec": {"name": "python3", "display_name": "P", "language": "python"}},
        ),
        tmp_path / "notebooks" / "toys" / "toy.ipynb",
    )
    with pytest.raises(run.RunError, match="RuntimeError: boom") as failed:
        run.run_notebook("toy", reports=reports, kernel="python3")
    after = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    assert after == before
    assert not (tmp_path / ".scratch" / "staging" / "toy").exists()
    assert failed.value.log_path is not None and "boom" in failed.value.log_path.read_text()


def test_report_lists_every_catalogue_paper(tmp_path):
    (tmp_path / "metrics").mkdir()
    m = {
        "id": "reconresnet",
        "seed_paper": "S38",
        "family": "reconstruction",
        "claim": "c",
        "verdict": "partial",
        "evidence": "e",
        "paper": {"metric": "SSIM", "values": {"a": 0.99}},
        "ours": {"metric": "SSIM", "values": {"a": 0.95}},
        "scale": {},
        "runtime_s": 12.0,
        "extra": {"key_figures": ["figures/reconresnet/x.png"]},
    }
    (tmp_path / "metrics" / "reconresnet.json").write_text(json.dumps(m))
    text = report.render(tmp_path)
    catalogue = report.load_catalogue()
    assert len(catalogue) == 88
    for paper in catalogue:
        assert f"| {paper['s']} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| S38 |"))
    assert "partial" in row and "SSIM: a 0.950" in row and "12 s" in row
    assert "![reconresnet: x](figures/reconresnet/x.png)" in text
    assert text.count("not yet") == 2 * (len(catalogue) - 1)


def test_report_names_a_broken_metrics_file(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        report.render(tmp_path)


def test_output_root_defaults_to_scratch():
    assert paths.output_root("", "x") == paths.SCRATCH / "x"
    assert paths.output_root("reports", "x") == paths.ROOT / "reports"
    out = paths.report_paths("reports", "x")
    assert out.table("curve").name == "x_curve.csv" and out.metrics.name == "x.json"


def test_front_table_pivots_methods_by_setting(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.csv").write_text(
        "setting,seen_in_training,method,v_mean,v_sd\n"
        "a@4,True,M1,0.5,0.01\na@4,True,M2,0.6,0.02\nb@6,False,M1,0.4,0.03\n"
    )
    spec = {
        "title": "T",
        "csv": "tables/t.csv",
        "cost": "tables/none.csv",
        "value": "v",
        "protocol": "p",
    }
    lines = report._front_table(tmp_path, spec)
    assert "| method | a@4 | b@6* | parameters | ms / slice |" in lines
    assert "| M1 | 0.500 +- 0.010 | 0.400 +- 0.030 | - | - |" in lines
    assert "| M2 | 0.600 +- 0.020 | - | - | - |" in lines
