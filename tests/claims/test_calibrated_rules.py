"""Known answers for each defect the engine's calibration review found (issue 16) and for the
evidence rules (floors, degenerate outputs, exact checks, not-measurable secondaries)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from claims_synth import claim, curve, rows

from mricompendium import claims, verdicts
from mricompendium.claims import calibrate
from mricompendium.claims.stats import cluster_stat, min_units

C = claims.Comparison


def _eval(results, cl, curves=None):
    df = pd.DataFrame(results)
    if curves is None:
        trained = df[df.seed >= 0][["method", "seed", "budget"]].drop_duplicates()
        curves = [curve(m, s, steps=int(b)) for m, s, b in trained.itertuples(index=False)]
    return claims.evaluate(cl, df, curves)


# --- seeds are a level of the design -------------------------------------------------------


def test_seed_offsets_widen_the_interval_and_stop_a_false_hold():
    """Per-unit differences are tiny; the three seeds of A disagree (+0.03, -0.01, +0.01).
    Averaging over seeds first gave a tight CI around +0.01 and a hold; the seeds are three
    draws, so the interval must carry their spread."""
    a = rows("A", [0.0] * 30, seeds=(0, 1, 2), seed_effects=(0.03, -0.01, 0.01), noise=0.0005)
    b = rows("B", [0.0] * 30, seeds=(0, 1, 2), noise=0.0005)
    r = _eval(a + b, claim([C("A", "B")])).results[0]
    assert r.stat.effect == pytest.approx(0.01, abs=0.001)
    assert r.stat.ci_low < 0 < r.stat.ci_high  # the seed spread is inside the interval
    assert r.stat.sd_seed == pytest.approx(0.02, rel=0.1)
    assert r.outcome == "undecided"
    df = pd.DataFrame(a + b).pivot_table(index="case", columns=["method", "seed"], values="ssim")
    averaged = (df["A"] - df["B"]).mean(axis=1).to_numpy()[:, None]  # the old: seeds averaged away
    naive = cluster_stat(averaged, list(df.index), mean_a=0, mean_b=0)
    assert naive.ci_low > 0.009  # the old engine saw a tight +0.01 that holds at p << 0.05
    assert naive.ci_high - naive.ci_low < 0.1 * (r.stat.ci_high - r.stat.ci_low)


def test_one_seed_says_its_interval_ignores_seed_variance():
    out = _eval(rows("A", [0.03] * 12) + rows("B", [0.0] * 12), claim([C("A", "B")]))
    caveats = out.results[0].caveats
    assert any("A was trained with one seed" in c and "ignores" in c for c in caveats)
    assert any("B was trained with one seed" in c for c in caveats)


# --- one estimand: the mean over units ---------------------------------------------------------


def test_skewed_mean_zero_differences_do_not_hold_noninferiority():
    """Eighteen units +0.01, two -0.09: mean 0, pseudo-median > 0. A one-sided Wilcoxon (the old
    test) calls A >= B - 0.001 at p < 0.01; the mean is exactly at 0, so it must not hold."""
    effects = [0.01] * 18 + [-0.09] * 2
    res = rows("A", effects, noise=0.0) + rows("B", [0.0] * 20, noise=0.0)
    out = _eval(res, claim([C("A", "B", margin=0.001)], smallest_effect=0.0))
    r = out.results[0]
    assert r.stat.effect == pytest.approx(0.0, abs=1e-12)
    from scipy import stats

    assert stats.wilcoxon(np.array(effects) + 0.001, alternative="greater").pvalue < 0.01
    assert r.outcome != "holds" and r.stat.p_value > 0.3


def test_effect_interval_and_test_agree():
    """The one-sided test rejects at alpha exactly when the (1 - 2 alpha) interval's lower end
    clears the null: the test and the interval are one construction."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        diff = rng.normal(0.004, 0.01, size=(12, 3)) + rng.normal(0, 0.004, size=(1, 3))
        units = [f"u{i}" for i in range(12)]
        s1 = cluster_stat(diff, units, mean_a=0, mean_b=0, alpha=0.10)  # 90 % two-sided
        assert (s1.p_value < 0.05) == (s1.ci_low > 0)


# --- curves that cannot hide ------------------------------------------------------------------


def test_a_nan_in_the_validation_curve_is_a_reason_not_a_pass():
    res = rows("A", [0.03] * 20) + rows("B", [0.0] * 20)
    bad = curve("A")
    val = list(bad.val)
    val[-2] = float("nan")
    nan_val = claims.Curve("A", 0, bad.steps, bad.loss, bad.val_steps, val, "ssim")
    out = _eval(res, claim([C("A", "B")]), [nan_val, curve("B")])
    assert out.verdict == "inconclusive"
    assert any(r.startswith("non-finite validation ssim at step 90: A") for r in out.reasons)
    # stored as null in a record, read back as NaN: still a reason
    d = json.loads(json.dumps(claims.round_floats(nan_val.to_dict())))
    assert d["val"][-2] is None
    back = claims.Curve.from_dict(d)
    assert math.isnan(back.val[-2]) and back.first_nonfinite() == ("val", 90)


def test_a_model_that_diverged_is_not_reproduced_by_default():
    res = rows("A", [0.03] * 20) + rows("B", [0.0] * 20)
    good = curve("A")
    loss = [1.0] * 59 + [float("nan")] * 41
    diverged = claims.Curve("A", 0, good.steps, loss, good.val_steps, good.val, "ssim")
    out = _eval(res, claim([C("A", "B")]), [diverged, curve("B")])
    assert out.verdict == "inconclusive"
    assert "diverged: A training loss is not finite from step 60 (seed 0)" in out.reasons


# --- seed and budget rules fire on outcomes ---------------------------------------------------


def test_failing_seeds_on_both_sides_of_zero_are_not_seed_dependence():
    a = rows("A", [0.0] * 20, seeds=(0, 1, 2), seed_effects=(0.001, -0.001, 0.0005),
             noise=0.0005)  # fmt: skip
    b = rows("B", [0.0] * 20, seeds=(0, 1, 2), noise=0.0005)
    out = _eval(a + b, claim([C("A", "B")]))
    assert [s["outcome"] for s in out.results[0].per_seed] == ["fails"] * 3
    assert out.verdict == "not_reproduced", out.reasons
    assert not any(r.startswith("seed-dependent") for r in out.reasons)


# --- units from arithmetic, secondaries too ---------------------------------------------------


def test_min_units_arithmetic():
    assert [min_units(k, 0.05) for k in (1, 2, 3, 4, 6, 7)] == [5, 6, 6, 7, 7, 8]


def test_secondaries_that_cannot_hold_say_so():
    """Three secondaries on 5 units (synthstrip's real images): Holm needs 6 units each."""
    prim = rows("A", [0.03] * 12, seeds=(0,)) + rows("B", [0.0] * 12, seeds=(0,))
    sec = []
    for s in ("r1", "r2", "r3"):
        sec += rows("A", [0.05] * 5, setting=s, unit_prefix="v") + rows(
            "B", [0.0] * 5, setting=s, unit_prefix="v")  # fmt: skip
    prim = [{**r, "setting": "p"} for r in prim]
    cl = claim([C("A", "B", setting="p")], [C("A", "B", setting=s) for s in ("r1", "r2", "r3")])
    out = _eval(prim + sec, cl)
    secs = [r for r in out.results if r.role == "secondary"]
    assert all(r.outcome == "undecided" and r.units_needed == 6 for r in secs)
    assert all("cannot hold: rests on 5 volumes" in r.caveats[0] for r in secs)
    assert out.verdict == "partial"


# --- inputs -----------------------------------------------------------------------------------


def test_units_must_match_across_methods():
    a = rows("A", [0.0] * 6)
    b = [{**r, "unit": "elsewhere"} if r["case"] == "u0-c0" else r for r in rows("B", [0.0] * 6)]
    with pytest.raises(ValueError, match="different units"):
        _eval(a + b, claim([C("A", "B")]))


def test_unknown_declaration_keys_are_named():
    d = claim([C("A", "B")]).to_dict()
    d["primary"][0]["smalest_effect"] = 0.1
    with pytest.raises(
        ValueError, match=r"primary comparison 1: unknown key\(s\) \['smalest_effect'\]"
    ):
        claims.Claim.from_dict(d)
    d = claim([C("A", "B")]).to_dict()
    d["alfa"] = 0.1
    with pytest.raises(ValueError, match=r"declaration: unknown key\(s\) \['alfa'\]"):
        claims.Claim.from_dict(d)
    legacy = {**claim([C("A", "B")]).to_dict(), "n_boot": 2000, "seed": 0}
    assert claims.Claim.from_dict(legacy) == claim([C("A", "B")])


def test_noninferiority_undecided_reason_cites_the_margin():
    a = rows("A", [0.0, -0.02, 0.01, -0.01, 0.015, -0.005] * 2, noise=0.0)
    b = rows("B", [0.0] * 12, noise=0.0)
    out = _eval(a + b, claim([C("A", "B", margin=0.004)], smallest_effect=0.05))
    assert out.verdict == "inconclusive"
    reason = next(r for r in out.reasons if r.startswith("undecided"))
    assert "-0.004 (the margin)" in reason and "0.05" not in reason


def test_evaluate_errors_do_not_repeat_the_id():
    with pytest.raises(ValueError) as err:
        _eval(rows("A", [0.0] * 6), claim([C("A", "B")]))
    assert str(err.value).startswith("the claim names methods not in the results")


def _write(reports, nb_id, record, results):
    (reports / "records").mkdir(parents=True, exist_ok=True)
    (reports / "results").mkdir(parents=True, exist_ok=True)
    (reports / "records" / f"{nb_id}.json").write_text(json.dumps(record))
    pd.DataFrame(results).to_csv(reports / "results" / f"{nb_id}.csv", index=False)


def test_verdict_stage_goes_on_after_a_bad_record_and_exits_nonzero(tmp_path, capsys):
    res = rows("A", [0.03] * 12) + rows("B", [0.0] * 12)
    training = {f"{c.method}#seed0": c.to_dict() for c in (curve("A"), curve("B"))}
    good = {"id": "cirim", "declaration": claim([C("A", "B")]).to_dict(), "training": training}
    bad = {**good, "id": "xpdnet", "training": [1, 2]}
    _write(tmp_path, "xpdnet", bad, res)
    _write(tmp_path, "cirim", good, res)
    assert verdicts.main(["xpdnet", "cirim", "--reports", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xpdnet: ") and "xpdnet.json" in err[0]
    assert "'training' must be a JSON object" in err[0]
    assert (tmp_path / "metrics" / "cirim.json").exists()  # the next id still got its verdict
    assert not (tmp_path / "metrics" / "xpdnet.json").exists()


def test_verdict_stage_refuses_paths_and_unknown_ids(tmp_path, capsys):
    assert verdicts.main(["../../x", "not_a_paper", "--reports", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "not a notebook id" in err[0] and "not in the catalogue" in err[1]
    assert not any(tmp_path.iterdir())


def test_verdict_stage_names_the_results_file_once(tmp_path, capsys):
    res = rows("A", [0.03] * 12)
    rec = {"id": "cirim", "declaration": claim([C("A", "B")]).to_dict(), "training": {}}
    _write(tmp_path, "cirim", rec, res)
    assert verdicts.main(["cirim", "--reports", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("cirim") == 2  # "cirim: .../results/cirim.csv: ..."
    assert "results/cirim.csv: the claim names methods not in the results" in err


# --- floors, degenerate outputs, exact checks, not-measurable secondaries ----------------------


def test_a_model_that_does_not_beat_its_floor_did_not_learn():
    zf = rows("zero-filled", [0.0] * 12, seeds=(-1,), budget=0)
    a = rows("A", [0.03] * 12, seeds=(0, 1), seed_effects=(0.0, -0.028))
    b = rows("B", [0.0] * 12, seeds=(0, 1))
    out = _eval(a + b + zf, claim([C("A", "B", floor="zero-filled")]))
    assert out.verdict == "inconclusive"
    learned = {(f["method"], f["seed"]): f["learned"] for f in out.results[0].floor}
    assert learned == {("A", 0): True, ("A", 1): False, ("B", 0): False, ("B", 1): False}
    assert any(r.startswith("did not learn: A (seed 1) beats its floor 'zero-filled' by +0.002")
               for r in out.reasons)  # fmt: skip


def test_a_constant_floor_is_chance_level():
    a = rows("A", [0.0] * 12, base=0.30, seeds=(0,))
    b = rows("B", [0.0] * 12, base=0.10, seeds=(0,))
    out = _eval(a + b, claim([C("A", "B", floor=0.125)], smallest_effect=0.05))
    learned = {f["method"]: f["learned"] for f in out.results[0].floor}
    assert learned == {"A": True, "B": False}
    assert any("beats its floor 0.125" in r for r in out.reasons)


def test_a_floor_that_is_not_in_the_results_is_an_error():
    with pytest.raises(ValueError, match="floor 'identity' is not a method"):
        _eval(rows("A", [0.03] * 6) + rows("B", [0.0] * 6), claim([C("A", "B", floor="identity")]))


def test_degenerate_outputs_are_counted_per_model_and_seed():
    a = rows("A", [0.03] * 12)
    for r in a[:4]:
        r["degenerate"] = 1.0
    for r in a[4:]:
        r["degenerate"] = 0.0
    b = [{**r, "degenerate": 0.0} for r in rows("B", [0.0] * 12)]
    out = _eval(a + b, claim([C("A", "B")]))
    counts = {d["method"]: (d["degenerate"], d["cases"]) for d in out.degenerate}
    assert counts == {"A": (4, 12), "B": (0, 12)}
    assert "degenerate outputs: A (seed 0) @ s: 4 of 12 cases" in out.notes


def test_a_failing_primary_check_is_not_reproduced_whatever_the_statistics():
    res = rows("A", [0.03] * 12) + rows("B", [0.0] * 12)
    ok = _eval(res, claim([C("A", "B")], checks=[claims.Check("overhead (%)", 1.4, 2.0)]))
    assert ok.verdict == "reproduced"
    bad = _eval(res, claim([C("A", "B")], checks=[claims.Check("overhead (%)", 5.8, 2.0)]))
    assert bad.verdict == "not_reproduced"
    assert bad.reasons == ["fails: overhead (%): 5.8 (needs <= 2): fails"]


def test_a_secondary_without_its_metric_is_not_measurable():
    res = rows("A", [0.03] * 12) + rows("B", [0.0] * 12)
    out = _eval(res, claim([C("A", "B")], [C("A", "B", metric="epe")]))
    assert out.results[1].outcome == "not measurable"
    assert out.verdict == "partial"
    assert "1 not measurable on these data" in out.evidence()
    with pytest.raises(ValueError, match="'epe' is not a column"):
        _eval(res, claim([C("A", "B", metric="epe")]))


def test_proxy_claims_list_their_deviations():
    with pytest.raises(ValueError, match="proxy claim must list"):
        claim([C("A", "B")], proxy=True)
    cl = claim([C("A", "B")], proxy=True, deviations=["metric: SSIM not WER"],
               paper_claim="The paper's claim.")  # fmt: skip
    assert claims.Claim.from_dict(cl.to_dict()) == cl and cl.paper_text == "The paper's claim."


# --- the calibration command ------------------------------------------------------------------


def test_quick_calibration_keeps_its_promises(tmp_path, capsys):
    out = tmp_path / "calibration.json"
    assert calibrate.main(["--quick", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("calibration: false holds ") and last.endswith("%")
    data = json.loads(out.read_text())
    s = data["summary"]
    assert s["false_holds_max"] <= 0.07, data["designs"]
    assert s["coverage_min"] >= 0.90, data["designs"]
    assert {d["units"] for d in data["designs"]} == {6, 12}
    assert any(d["seed_sd"] > 0 for d in data["designs"])


def test_an_untrained_comparator_below_the_floor_is_a_note_not_a_reason():
    """CS no better than zero-filled at 20x is a fact about CS, not a training that failed."""
    zf = rows("zero-filled", [0.0] * 12, seeds=(-1,), budget=0)
    cs = rows("CS", [0.002] * 12, seeds=(-1,), budget=0)
    a = rows("A", [0.06] * 12, seeds=(0, 1, 2))
    out = _eval(a + cs + zf, claim([C("A", "CS", floor="zero-filled")]))
    assert out.verdict == "reproduced", out.reasons
    assert any(n.startswith("weak comparator: CS (not trained) beats the floor") for n in out.notes)


def test_verdict_stage_refuses_a_record_whose_folder_family_is_not_the_catalogues(tmp_path, capsys):
    """The record takes its family from the notebook's folder (so that a notebook stage does not
    depend on catalogue.yaml); the verdict stage checks it against the catalogue."""
    res = rows("A", [0.03] * 12) + rows("B", [0.0] * 12)
    training = {f"{c.method}#seed0": c.to_dict() for c in (curve("A"), curve("B"))}
    rec = {"id": "cirim", "family": "segmentation", "training": training,
           "declaration": claim([C("A", "B")]).to_dict()}  # fmt: skip
    _write(tmp_path, "cirim", rec, res)
    assert verdicts.main(["cirim", "--reports", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "records/cirim.json: family 'segmentation'" in err and "'reconstruction'" in err
    assert not (tmp_path / "metrics" / "cirim.json").exists()
