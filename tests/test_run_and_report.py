"""run.py publishes a notebook's reports only when it succeeds; report.py renders the front page."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from mricompendium import parameters, paths, report, run

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
    assert parameters.load_params("toy") == {"value": 3}
    with pytest.raises(KeyError, match="no section 'nope'"):
        parameters.load_params("nope")


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


def _metrics(**over):
    m = {
        "id": "reconresnet", "seed_paper": "S38", "family": "reconstruction", "claim": "c",
        "verdict": "inconclusive", "evidence": "e", "runtime_s": 12.0,
        "verdict_reasons": ["too few independent units: A > B rests on 4 volumes (fewer than 6)"],
        "notes": ["groups disagree on A > B: template +0.02 holds; real EPI -0.01 fails"],
        "paper": {"figures": [
            {"method": "ReconResNet", "metric": "SSIM", "setting": "3.5x", "value": 0.99,
             "source": "the abstract", "kind": "paper", "verified": True},
            {"method": "ReconResNet", "metric": "SSIM", "setting": "20x", "value": 0.968,
             "source": "a talk", "kind": "other", "verified": False},
        ]},
        "comparisons": [{"role": "primary", "comparison": "A > B", "metric": "ssim_brain",
                         "effect": 0.021, "ci_low": 0.01, "ci_high": 0.03, "p_a_gt_b": 0.8,
                         "p_holm": 0.004, "units": 4, "outcome": "holds"}],
        "scale": {"image_size": 64, "train_steps": 320},
        "data": {"kind": "user", "path": "/data/ixi", "fingerprint": "ab" * 32,
                 "description": "12 IXI T1 volumes"},
        "extra": {"key_figures": ["figures/reconresnet/x.png"]},
    }  # fmt: skip
    m.update(over)
    return m


def test_report_lists_every_catalogue_paper_and_reads_like_a_results_section(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "reconresnet.json").write_text(json.dumps(_metrics()))
    (tmp_path / "figures" / "reconresnet").mkdir(parents=True)
    (tmp_path / "figures" / "reconresnet" / "x.png").write_bytes(b"png")
    text = report.render(tmp_path)
    catalogue = report.load_catalogue()
    assert len(catalogue) == 88
    for paper in catalogue:
        assert f"| {paper['s']} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| S38 |"))
    assert "*inconclusive*" in row and "A > B: ssim_brain +0.021 [+0.010, +0.030]" in row
    assert "SSIM 20x 0.968 UNVERIFIED [another code base]" in row
    assert "3.5x 0.99;" in row and "3.5x 0.99 UNVERIFIED" not in row
    assert (
        "| primary | A > B | ssim_brain | +0.021 [+0.010, +0.030] | 0.80 | 0.004 | 4 | holds |"
        in text
    )
    assert "- too few independent units: A > B rests on 4 volumes (fewer than 6)" in text
    assert "*What would settle it:* more independent units" in text
    assert "*Data (user from `/data/ixi` (sha256 abababababab...)):* 12 IXI T1 volumes" in text
    assert "(UNVERIFIED; other: a talk)" in text and "(paper: the abstract)" in text
    assert "![reconresnet: x](figures/reconresnet/x.png)" in text
    assert text.count("| not yet | - | not yet | - |") == len(catalogue) - 1


def test_report_marks_catalogue_figures_as_not_checked_rather_than_guessing(tmp_path):
    (tmp_path / "metrics").mkdir()
    text = report.render(tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| S88 |"))
    assert "(not yet checked)" in row and "UNVERIFIED" not in row


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


def test_units_to_decide_extrapolates_the_ci_to_its_boundary():
    from mricompendium.report import units_to_decide

    row = {"effect": 0.01, "ci_low": -0.01, "ci_high": 0.03, "units": 35, "smallest_effect": 0.02,
           "margin": 0.0}  # fmt: skip
    assert units_to_decide(row) == 140  # boundary 0.02 at distance 0.01, half-width 0.02: 4x
    above = {**row, "effect": 0.04, "ci_low": 0.0, "ci_high": 0.08}
    assert units_to_decide(above) == 35 * 1 + 1  # half 0.04 = distance to 0: at least one more
    ni = {**row, "effect": -0.005, "ci_low": -0.025, "ci_high": 0.015, "margin": 0.01}
    assert units_to_decide(ni) == 560  # boundary -0.01 at distance 0.005, half 0.02: 16x
    assert units_to_decide({**row, "ci_low": None}) is None
    assert units_to_decide({**row, "effect": 0.0, "smallest_effect": 0.0}) is None  # on it
