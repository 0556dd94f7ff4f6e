"""Each rule of the verdict engine on synthetic results whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from claims_synth import claim, curve, rows
from scipy import stats

from mricompendium import claims

C = claims.Comparison


def _eval(results, cl, curves=None):
    """Evaluate; without ``curves``, every trained model gets a settled validation curve."""
    df = pd.DataFrame(results)
    if curves is None:
        trained = df[df.seed >= 0][["method", "seed", "budget"]].drop_duplicates()
        curves = [curve(m, s, steps=int(b)) for m, s, b in trained.itertuples(index=False)]
    return claims.evaluate(cl, df, curves)


def test_clear_improvement_over_many_units_is_reproduced():
    res = rows("A", [0.03] * 30, seeds=(0, 1, 2)) + rows("B", [0.0] * 30, seeds=(0, 1, 2))
    cl = claim([C("A", "B")])
    out = _eval(res, cl, [curve("A", s) for s in (0, 1, 2)] + [curve("B", s) for s in (0, 1, 2)])
    r = out.results[0]
    assert out.verdict == "reproduced", out.reasons
    assert r.outcome == "holds" and r.stat.n_units == 30 and r.stat.n_seeds == 3
    assert r.stat.ci_low < 0.03 < r.stat.ci_high
    assert r.stat.p_a_gt_b > 0.99
    assert r.stat.effect == pytest.approx(0.03, abs=0.002)


def test_per_slice_test_holds_where_the_clustered_one_does_not():
    """5 volumes favour A, 3 favour B; 10 slices each. Slices are not independent."""
    effects = [0.05] * 5 + [-0.04] * 3
    a = rows("A", effects, cases_per_unit=10, noise=0.001)
    b = rows("B", [0.0] * 8, cases_per_unit=10, noise=0.001)
    df = pd.DataFrame(a + b)
    d = df[df.method == "A"].ssim.to_numpy() - df[df.method == "B"].ssim.to_numpy()
    naive = stats.wilcoxon(d, alternative="greater").pvalue
    assert naive < 1e-4 and d.mean() > 0.01  # 80 "independent" slices: the naive test is fooled
    out = _eval(a + b, claim([C("A", "B")], min_units=6))
    r = out.results[0]
    assert r.stat.n_units == 8 and r.stat.n_cases == 80
    assert r.outcome == "undecided" and r.p_holm > 0.05
    assert out.verdict == "inconclusive"
    assert any(x.startswith("undecided") for x in out.reasons)


def test_effect_below_the_smallest_that_matters_fails():
    res = rows("A", [0.003] * 30, noise=0.0005) + rows("B", [0.0] * 30, noise=0.0005)
    out = _eval(res, claim([C("A", "B")]))
    r = out.results[0]
    assert r.stat.p_value < 1e-4  # significant...
    assert r.stat.ci_high < 0.01 and r.outcome == "fails"  # ...but too small to matter
    assert out.verdict == "not_reproduced"


def test_worse_method_fails_and_lower_is_better_metrics_flip_the_sign():
    res = rows("A", [-0.03] * 20) + rows("B", [0.0] * 20)
    assert _eval(res, claim([C("A", "B")])).verdict == "not_reproduced"
    out = _eval(res, claim([C("A", "B", higher_is_better=False)]))
    assert out.verdict == "reproduced" and out.results[0].stat.effect > 0


def test_noninferiority_holds_within_the_margin_and_fails_beyond_it():
    b = rows("B", [0.0] * 20)
    near = _eval(rows("A", [-0.002] * 20) + b, claim([C("A", "B", margin=0.01)]))
    far = _eval(rows("A", [-0.03] * 20) + b, claim([C("A", "B", margin=0.01)]))
    assert near.results[0].outcome == "holds" and near.verdict == "reproduced"
    assert far.results[0].outcome == "fails" and far.verdict == "not_reproduced"


def test_units_needed_follow_from_holm_arithmetic():
    """Five units all favouring A: enough for one comparison (2**-5 < 0.05), not for three
    (Holm needs 2**-n < 0.05 / 3, so 6 units), however clear the t-test."""
    b = rows("B", [0.0] * 5, setting="s1") + rows("B", [0.0] * 5, setting="s2") + rows(
        "B", [0.0] * 5, setting="s3")  # fmt: skip
    a = sum((rows("A", [0.05] * 5, setting=s) for s in ("s1", "s2", "s3")), [])
    one = _eval(a + b, claim([C("A", "B", setting="s1")]))
    assert one.results[0].units_needed == 5 and one.verdict == "reproduced"
    three = _eval(a + b, claim([C("A", "B", setting=s) for s in ("s1", "s2", "s3")]))
    assert all(r.p_holm < 1e-6 for r in three.results)  # the test alone would pass
    assert all(r.units_needed == 6 and r.outcome == "undecided" for r in three.results)
    assert all(r.caveats[0].startswith("cannot hold: rests on 5 volumes") for r in three.results)
    assert three.verdict == "inconclusive"
    assert any("too few independent units" in x and "needs at least 6" in x for x in three.reasons)


def test_partial_when_a_secondary_does_not_hold():
    res = rows("A", [0.03] * 20) + rows("B", [0.0] * 20) + rows("C", [0.05] * 20)
    out = _eval(res, claim([C("A", "B")], [C("A", "C")]))
    assert [r.outcome for r in out.results] == ["holds", "fails"]
    assert out.verdict == "partial"
    assert "secondaries: 0 of 1 hold, 1 fail" in out.evidence()


def test_too_few_units_is_inconclusive_even_with_a_huge_effect():
    res = rows("A", [0.2] * 4, cases_per_unit=20) + rows("B", [0.0] * 4, cases_per_unit=20)
    out = _eval(res, claim([C("A", "B")]))
    assert out.verdict == "inconclusive"
    assert any("too few independent units" in x and "4 volumes" in x for x in out.reasons)


def test_under_trained_primary_model_is_inconclusive_and_missing_curves_are_not_assumed():
    res = rows("A", [0.03] * 20) + rows("B", [0.0] * 20)
    cl = claim([C("A", "B")])
    rising = _eval(res, cl, [curve("A", rising=True), curve("B")])
    assert rising.verdict == "inconclusive"
    assert any(
        x.startswith("under-trained: A validation ssim still improving") for x in rising.reasons
    )
    settled = _eval(res, cl, [curve("A"), curve("B")])
    assert settled.verdict == "reproduced"
    unjudged = _eval(res, cl, [curve("A")])
    assert any("no validation curve for B" in x for x in unjudged.reasons)


def test_untrained_baselines_need_no_curve_and_pair_with_every_seed():
    a = rows("A", [0.03] * 20, seeds=(0, 1, 2))
    cs = rows("CS", [0.0] * 20, seeds=(-1,), budget=0)
    out = _eval(a + cs, claim([C("A", "CS")]), [curve("A", s) for s in (0, 1, 2)])
    assert out.verdict == "reproduced" and out.results[0].stat.n_seeds == 3
    assert len(out.results[0].per_seed) == 3


def test_seed_dependent_outcome_is_inconclusive():
    a = rows("A", [0.0] * 20, seeds=(0, 1, 2), seed_effects=(0.04, 0.05, -0.04))
    b = rows("B", [0.0] * 20, seeds=(0, 1, 2))
    curves = [curve(m, s) for m in "AB" for s in (0, 1, 2)]
    out = _eval(a + b, claim([C("A", "B")]), curves)
    assert [s["outcome"] for s in out.results[0].per_seed] == ["holds", "holds", "fails"]
    assert out.verdict == "inconclusive"
    assert any(x.startswith("seed-dependent: A > B") for x in out.reasons)


def test_budget_dependent_outcome_is_inconclusive():
    full = rows("A", [-0.03] * 20, budget=200)
    half = rows("A", [0.04] * 20, budget=100)
    b = rows("CS", [0.0] * 20, seeds=(-1,), budget=0)
    out = _eval(full + half + b, claim([C("A", "CS")]), [curve("A", steps=200)])
    assert [x["budget"] for x in out.results[0].budget] == [100, 200]
    assert out.verdict == "inconclusive"
    assert any(x.startswith("budget-dependent: A > CS holds at 100 steps") for x in out.reasons)
    # Both budgets fail (the CI rules out the smallest effect); the effect changing side is not a
    # disagreement of outcomes.
    moving_rows = rows("A", [0.004] * 20, budget=200) + rows("A", [-0.03] * 20, budget=100) + b
    moving_claim = claim([C("A", "CS", smallest_effect=0.02)])
    moving = _eval(moving_rows, moving_claim, [curve("A", steps=200)])
    assert [x["outcome"] for x in moving.results[0].budget] == ["fails", "fails"]
    assert moving.verdict == "not_reproduced", moving.reasons  # the outcome did not change
    stable = _eval(rows("A", [0.03] * 20, budget=200) + rows("A", [0.02] * 20, budget=100) + b,
                   claim([C("A", "CS")]), [curve("A", steps=200)])  # fmt: skip
    assert stable.verdict == "reproduced"


def test_groups_that_disagree_are_named():
    a = rows("A", [0.04] * 20, group="template") + rows(
        "A", [-0.04] * 6, group="real EPI", unit_prefix="r")  # fmt: skip
    b = rows("B", [0.0] * 20, group="template") + rows(
        "B", [0.0] * 6, group="real EPI", unit_prefix="r")  # fmt: skip
    out = _eval(a + b, claim([C("A", "B", group="template")], [C("A", "B")]))
    assert out.results[0].outcome == "holds"
    assert [g["group"] for g in out.results[1].per_group] == ["template", "real EPI"]
    assert any(n.startswith("groups disagree on A > B") and "real EPI" in n for n in out.notes)


def test_claim_round_trips_and_rejects_bad_declarations():
    cl = claim([C("A", "B", setting="x", margin=0.01)], [C("A", "C", metric="psnr")])
    assert claims.Claim.from_dict(cl.to_dict()) == cl
    with pytest.raises(ValueError, match="itself"):
        C("A", "A")
    with pytest.raises(ValueError, match="primary"):
        claim([])
    with pytest.raises(ValueError, match="not in the results"):
        _eval(rows("A", [0.0] * 6), claim([C("A", "B")]))


def test_results_frame_rejects_bad_rows():
    good = rows("A", [0.0] * 3)
    with pytest.raises(ValueError, match="key columns"):
        claims.results_frame([{k: v for k, v in r.items() if k != "unit"} for r in good])
    with pytest.raises(ValueError, match="not finite"):
        claims.results_frame([{**good[0], "ssim": float("nan")}, *good[1:]])
    with pytest.raises(ValueError, match="share a key"):
        claims.results_frame(good + good[:1])
    df = claims.results_frame(good)
    assert list(df.columns[:7]) == list(claims.KEYS) and df.ssim.dtype == np.float64


def test_unpaired_cases_are_an_error():
    res = rows("A", [0.0] * 6) + rows("B", [0.0] * 5)
    with pytest.raises(ValueError, match="different cases"):
        _eval(res, claim([C("A", "B")]))


def test_noninferiority_effects_either_side_of_zero_are_not_seed_dependence():
    """Every seed is within the margin: a sign change around zero is not a disagreement."""
    a = rows("A", [0.0] * 20, seeds=(0, 1, 2), seed_effects=(0.002, -0.002, 0.001))
    b = rows("B", [0.0] * 20, seeds=(0, 1, 2))
    out = _eval(a + b, claim([C("A", "B", margin=0.01)]))
    assert [s["outcome"] for s in out.results[0].per_seed] == ["holds"] * 3
    assert out.verdict == "reproduced", out.reasons


def test_units_are_counted_in_words_that_read_right():
    """A plain noun takes an "s"; a described unit ("test case (a variant)", "case or volume")
    is counted as units instead of gaining an "s" after its parenthesis."""
    from mricompendium.claims.engine import _count

    assert _count(5, "volume") == "5 volumes"
    assert _count(1, "volume") == "1 volume"
    described = "test case (a template variant)"
    assert _count(5, described) == f"5 units (each a {described})"
    either = "synthesised case or real volume"
    assert _count(3, either) == f"3 units (each a {either})"
