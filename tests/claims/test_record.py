"""Records round-trip: the verdict stage recomputes the notebook's outcome from files alone."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from claims_synth import claim, curve, rows

from mricompendium import claims, paths, provenance, verdicts

C = claims.Comparison


def _write(tmp_path, res, cl, curves):
    out = paths.ReportPaths(tmp_path, cl.nb_id)
    data = provenance.data_info("simulated", "20 simulated cases")
    rec = claims.write_record(
        out, claim=cl, results=res, curves=curves, scale={"train_steps": 100},
        data=data, protocol={"metric": "ssim"}, runtime_s=1.5, seed=0, device="cpu", smoke=False,
    )  # fmt: skip
    return out, rec


def test_record_has_no_verdict_and_the_stage_recomputes_it(tmp_path):
    res = rows("A", [0.03] * 20) + rows("B", [0.0] * 20)
    cl = claim([C("A", "B")], [C("A", "B", metric="ssim", smallest_effect=0.05)])
    out, rec = _write(tmp_path, res, cl, [curve("A"), curve("B")])
    assert "verdict" not in rec and rec["family"] == "reconstruction"
    assert rec["ours"]["values"]["A"] == pytest.approx(
        pd.DataFrame(res).query("method == 'A'").ssim.mean(), rel=1e-5
    )
    assert set(rec["training"]) == {"A#seed0", "B#seed0"}
    assert json.loads(out.record.read_text())["declaration"]["primary"][0]["a"] == "A"
    m = verdicts.write_verdict(cl.nb_id, tmp_path)
    direct = claims.evaluate(cl, pd.DataFrame(res), [curve("A"), curve("B")])
    assert m["verdict"] == direct.verdict == "partial"
    assert m["evidence"] == direct.evidence()
    assert (tmp_path / "verdicts" / "cirim.png").stat().st_size > 1000
    summary = json.loads((tmp_path / "summary" / "cirim.json").read_text())
    assert summary["verdict_code"] == claims.VERDICTS.index("partial") and summary["n_holds"] == 1
    assert all(isinstance(v, int | float) for v in summary.values())


def test_a_single_unit_gives_an_inconclusive_verdict_and_valid_json(tmp_path):
    # A user's data set split into one test volume: the CI does not exist, the stage still writes.
    res = rows("A", [0.03]) + rows("B", [0.0])
    cl = claim([C("A", "B")])
    _write(tmp_path, res, cl, [curve("A"), curve("B")])
    m = verdicts.write_verdict(cl.nb_id, tmp_path)
    assert m["verdict"] == "inconclusive"
    assert any(r.startswith("too few independent units") for r in m["verdict_reasons"])
    summary = json.loads((tmp_path / "summary" / "cirim.json").read_text())
    assert summary["primary_units"] == 1 and summary["primary_ci_low"] is None
    assert summary["primary_effect"] == pytest.approx(0.03, abs=0.005)


def test_write_record_refuses_unjudgeable_results_and_leaves_nothing(tmp_path):
    res = rows("A", [0.03] * 6) + rows("B", [0.0] * 5)
    with pytest.raises(ValueError, match="different cases"):
        _write(tmp_path, res, claim([C("A", "B")]), [curve("A"), curve("B")])
    assert not any(tmp_path.rglob("*.json")) and not any(tmp_path.rglob("*.csv"))


def test_verdict_stage_names_the_broken_file(tmp_path, capsys):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "cirim.json").write_text("{not json")
    assert verdicts.main(["cirim", "--reports", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cirim: ") and "cirim.json" in err and "not valid JSON" in err
    assert len(err.splitlines()) == 1


def test_the_family_is_the_notebook_folder_and_an_unknown_id_is_refused():
    from mricompendium.claims.record import _family

    assert _family("cirim") == "reconstruction" and _family("scse") == "segmentation"
    with pytest.raises(ValueError, match="expected one notebooks/<family>/no_such_nb.ipynb"):
        _family("no_such_nb")
