"""references.yaml: a bad entry fails its own notebook's verdict alone, naming the entry; a YAML
error or a duplicate id names the file and line; never a traceback."""

from __future__ import annotations

import pytest
from claims_synth import claim, curve, rows

from mricompendium import claims, paths, provenance, references, verdicts

C = claims.Comparison
GOOD = """\
tongue_model:
  - {value: 5, metric: anatomy components, source: s, kind: paper, verified: true}
"""


def _record(reports, nb_id: str) -> None:
    res = rows("A", [0.03] * 8) + rows("B", [0.0] * 8)
    cl = claim([C("A", "B")], nb_id=nb_id)
    claims.write_record(
        paths.ReportPaths(reports, nb_id), claim=cl, results=res, curves=[curve("A"), curve("B")],
        scale={"train_steps": 100}, data=provenance.data_info("simulated", "cases"),
        protocol={"metric": "ssim"}, runtime_s=1.0, seed=0, device="cpu", smoke=False,
    )  # fmt: skip


@pytest.fixture
def reports(tmp_path, monkeypatch):
    for nb_id in ("cirim", "tongue_model"):
        _record(tmp_path, nb_id)
    return tmp_path


def _use(monkeypatch, tmp_path, text: str) -> None:
    path = tmp_path / "references.yaml"
    path.write_text(text)
    monkeypatch.setattr(references, "PATH", path)
    references._raw.cache_clear()
    references.figures.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    references._raw.cache_clear()
    references.figures.cache_clear()


def test_a_bad_entry_fails_only_its_own_verdict(reports, tmp_path, monkeypatch, capsys) -> None:
    bad = "cirim:\n  - {value: abc, metric: SSIM, source: s, kind: paper, verified: true}\n"
    _use(monkeypatch, tmp_path, bad + GOOD)
    assert verdicts.main(["cirim", "tongue_model", "--reports", str(reports)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == ("cirim: references.yaml: cirim[0]: value must be a number, got 'abc'")
    assert out.startswith("tongue_model: ")
    assert (reports / "metrics" / "tongue_model.json").exists()
    assert not (reports / "metrics" / "cirim.json").exists()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (GOOD + "cirim:\n  - {value: 1, metric: [\n", "references.yaml line 5: "),
        (GOOD + "tongue_model: []\n", "references.yaml line 3: duplicate key 'tongue_model'"),
    ],
)
def test_a_yaml_error_names_file_and_line(reports, tmp_path, monkeypatch, capsys, text, line):
    _use(monkeypatch, tmp_path, text)
    assert verdicts.main(["tongue_model", "--reports", str(reports)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tongue_model: {line}")
    with pytest.raises(ValueError, match=f"^{line}"):
        references.table("tongue_model")
