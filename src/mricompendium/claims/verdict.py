"""From comparison outcomes and training curves to the verdict and its reasons in words.

The verdict is ``inconclusive`` when any reason applies, else ``not_reproduced`` when a primary
fails, ``reproduced`` when every comparison holds and ``partial`` when the primaries hold and some
secondary does not. Reasons, each about the primaries:

* too few independent units to hold (arithmetic, :func:`mricompendium.claims.stats.min_units`);
* did not learn: a trained model (any seed of it) does not beat the comparison's floor by the
  smallest effect (an untrained comparator below its floor is a note, not a reason);
* diverged or non-finite validation: a NaN or inf anywhere in a loss or validation curve;
* under-trained: the validation metric still moves by more than the tolerance over the last
  quarter of training (or convergence could not be judged);
* seed-dependent: per-seed outcomes disagree (one seed holds, another fails);
* budget-dependent: half and full budget disagree (holds at one, fails at the other);
* undecided: a primary neither holds nor is ruled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from mricompendium.claims.declare import Check, Claim, Curve
from mricompendium.claims.engine import ComparisonResult, Outcome, _compare, degenerate_counts
from mricompendium.claims.results import results_frame

__all__ = ["as_curves", "evaluate"]


def as_curves(
    curves: Iterable[Curve | Mapping[str, Any]] | Mapping[str, Any] | None,
) -> list[Curve]:
    """Curves given as a list, a dict of curves (or lists of curves), or their dicts."""
    if curves is None:
        return []
    items: list[Any] = []
    source = curves.values() if isinstance(curves, Mapping) else curves
    for c in source:
        items.extend(c if isinstance(c, list | tuple) else [c])
    return [c if isinstance(c, Curve) else Curve.from_dict(c) for c in items]


def _side(effect: float, margin: float) -> int:
    """Which side of the null the effect lies on: +1 (A better; for non-inferiority, above
    ``-margin``), -1, or 0 exactly at it."""
    return int((effect + margin > 0) - (effect + margin < 0))


def _fmt(x: float) -> str:
    return f"{x:+.3g}"


def _too_few_units(claim: Claim, results: list[ComparisonResult]) -> list[str]:
    return [
        f"too few independent units: {r.comparison.name} {r.caveats[0][len('cannot hold: ') :]}"
        for r in results
        if r.role == "primary" and r.stat.n_units < r.units_needed
    ]


def _trained(df: pd.DataFrame, methods: set[str]) -> list[str]:
    rows = df[df["method"].isin(methods) & (df["seed"] >= 0) & (df["budget"] > 0)]
    return sorted(rows["method"].unique())


def _nonfinite(c: Curve) -> str | None:
    found = c.first_nonfinite()
    if found is None:
        return None
    kind, step = found
    if kind == "loss":
        return f"diverged: {c.method} training loss is not finite from step {step} (seed {c.seed})"
    return f"non-finite validation {c.val_metric} at step {step}: {c.method} (seed {c.seed})"


def _convergence(
    claim: Claim, df: pd.DataFrame, curves: list[Curve]
) -> tuple[list[str], list[str]]:
    """Reasons (primary models) and notes (other models) about training that has not settled."""
    reasons, notes = [], []
    by_method: dict[str, list[Curve]] = {}
    for c in curves:
        by_method.setdefault(c.method, []).append(c)
    for m in _trained(df, claim.methods):
        out = reasons if m in claim.primary_methods else notes
        mine = by_method.get(m, [])
        broken = [x for x in (_nonfinite(c) for c in mine) if x]
        if broken:
            out.extend(broken)
            continue
        if not mine or not any(c.val for c in mine):
            out.append(f"convergence not judged: no validation curve for {m}")
            continue
        changes = [(c.last_quarter_change(), c) for c in mine]
        if any(ch is None for ch, _ in changes):
            out.append(
                f"convergence not judged: {m} has fewer than two validation points "
                "in the last quarter of training"
            )
            continue
        worst, c = max(changes, key=lambda t: t[0])
        if worst > claim.convergence_tol:
            out.append(
                f"under-trained: {m} validation {c.val_metric} still improving "
                f"{100 * worst:.1f} % over the last quarter of training (seed {c.seed}; "
                f"tolerance {100 * claim.convergence_tol:.1f} %)"
            )
    return reasons, notes


def _floors(results: list[ComparisonResult]) -> tuple[list[str], list[str]]:
    """Reasons (a trained model, any seed, below its floor) and notes (an untrained comparator
    below it: a fact about that method, e.g. CS at 20x, not a training that failed)."""
    reasons, notes = [], []
    for r in results:
        c = r.comparison
        for f in r.floor:
            if f["learned"]:
                continue
            where = f" @ {c.setting}" if c.setting is not None else ""
            floor = f"{c.floor!r}" if isinstance(c.floor, str) else f"{c.floor:g}"
            if f["seed"] >= 0:
                reasons.append(
                    f"did not learn: {f['method']} (seed {f['seed']}) beats its floor {floor} by "
                    f"{_fmt(f['effect'])} {c.metric}{where}, less than the smallest effect "
                    f"{c.smallest_effect:g}"
                )
            else:
                notes.append(
                    f"weak comparator: {f['method']} (not trained) beats the floor {floor} by only "
                    f"{_fmt(f['effect'])} {c.metric}{where} (smallest effect "
                    f"{c.smallest_effect:g}): {c.name} is a comparison with a method no better "
                    f"than the trivial answer"
                )
    return list(dict.fromkeys(reasons)), list(dict.fromkeys(notes))


def _seed_dependent(results: list[ComparisonResult]) -> list[str]:
    """Per-seed outcomes that disagree (one seed holds, another fails); a sign alone is not."""
    out = []
    for r in results:
        if r.role != "primary" or len(r.per_seed) < 2:
            continue
        outs = {s["outcome"] for s in r.per_seed}
        if {"holds", "fails"} <= outs:
            detail = ", ".join(f"seed {s['seed']} {_fmt(s['effect'])} {s['outcome']}"
                               for s in r.per_seed)  # fmt: skip
            out.append(f"seed-dependent: {r.comparison.name} ({detail})")
    return out


def _budget_dependent(results: list[ComparisonResult]) -> list[str]:
    """Half and full budget with opposite decisive outcomes; a sign change alone is not."""
    out = []
    for r in results:
        lower = [b for b in r.budget if b["fraction"] < 1]
        if r.role != "primary" or not lower:
            continue
        half = min(lower, key=lambda b: abs(b["fraction"] - 0.5))
        full = next((b for b in r.budget if b["fraction"] == 1), None)
        full_outcome = full["outcome"] if full else r.outcome
        if {half["outcome"], full_outcome} == {"holds", "fails"}:
            out.append(
                f"budget-dependent: {r.comparison.name} {half['outcome']} at {half['budget']} "
                f"steps ({_fmt(half['effect'])}) but {full_outcome} at the full budget "
                f"({_fmt(r.stat.effect)})"
            )
    return out


def _group_notes(results: list[ComparisonResult]) -> list[str]:
    notes = []
    for r in results:
        g = r.per_group
        decisive = [x for x in g if x["outcome"] != "undecided"]
        signs = {_side(x["effect"], r.comparison.margin) for x in g} - {0}
        if len({x["outcome"] for x in decisive}) > 1 or (decisive and len(signs) > 1):
            detail = "; ".join(
                f"{x['group']} {_fmt(x['effect'])} [{x['ci_low']:.3g}, {x['ci_high']:.3g}] "
                f"({x['units']} units) {x['outcome']}"
                for x in g
            )
            notes.append(f"groups disagree on {r.comparison.name}: {detail}")
    return notes


def _verdict(
    results: list[ComparisonResult], reasons: list[str], checks: tuple[Check, ...] = ()
) -> tuple[str, list[str]]:
    primaries = [r for r in results if r.role == "primary"]
    failed = [c for c in checks if c.role == "primary" and not c.holds]
    if failed:  # measured exactly: no budget or seed can rescue it
        return "not_reproduced", [f"fails: {c.summary()}" for c in failed]
    if reasons:
        return "inconclusive", reasons
    if any(r.outcome == "fails" for r in primaries):
        return "not_reproduced", []
    undecided = [r for r in primaries if r.outcome == "undecided"]
    if undecided:
        return "inconclusive", [_undecided(r) for r in undecided]
    if all(r.outcome == "holds" for r in results) and all(c.holds for c in checks):
        return "reproduced", []
    return "partial", []


def _undecided(r: ComparisonResult) -> str:
    c, s = r.comparison, r.stat
    head = f"undecided: {c.name} ({_fmt(s.effect)} [{s.ci_low:.3g}, {s.ci_high:.3g}], Holm p "
    if c.noninferiority:
        return (f"{head}{r.p_holm:.2g}) is neither shown above -{c.margin:g} (the margin) nor "
                f"ruled out below it")  # fmt: skip
    return (f"{head}{r.p_holm:.2g}) neither clears the smallest effect {c.smallest_effect:g} nor "
            f"is ruled out")  # fmt: skip


def _degenerate_notes(counts: list[dict[str, Any]]) -> list[str]:
    return [
        f"degenerate outputs: {d['method']} (seed {d['seed']}) @ {d['setting']}: "
        f"{d['degenerate']} of {d['cases']} cases"
        for d in counts
        if d["degenerate"]
    ]


def evaluate(
    claim: Claim,
    results: pd.DataFrame | Iterable[Mapping[str, Any]],
    curves: Iterable[Curve | Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> Outcome:
    """Test ``claim`` on per-case ``results``, judging the primary models' ``curves``.

    Args:
        claim: the declared claim.
        results: the long results table (see :mod:`mricompendium.claims.results`).
        curves: every trained model's :class:`Curve` (list or dict; dicts from a record work too).

    Returns:
        An :class:`Outcome`: verdict, reasons, one :class:`ComparisonResult` per comparison, notes.
    """
    if not isinstance(claim, Claim):
        raise TypeError(f"claim must be a Claim, got {type(claim).__name__}")
    df = results_frame(results)
    missing = sorted(claim.methods - set(df["method"]))
    if missing:
        raise ValueError(f"the claim names methods not in the results: {missing}")
    curve_list = as_curves(curves)
    compared = _compare(df, claim)
    conv_reasons, conv_notes = _convergence(claim, df, curve_list)
    floor_reasons, floor_notes = _floors(compared)
    reasons = (
        _too_few_units(claim, compared)
        + floor_reasons
        + conv_reasons
        + _seed_dependent(compared)
        + _budget_dependent(compared)
    )
    verdict, why = _verdict(compared, reasons, claim.checks)
    degenerate = degenerate_counts(df, claim)
    notes = floor_notes + _group_notes(compared) + conv_notes + _degenerate_notes(degenerate)
    return Outcome(claim=claim, verdict=verdict, reasons=why, results=compared, notes=notes,
                   degenerate=degenerate)  # fmt: skip
