"""The verdict engine: a declared :class:`Claim` + per-case results -> verdict with reasons.

Per comparison (``holds`` / ``fails`` / ``undecided``):

* ``holds``: the Holm-corrected one-sided test passes (``p < alpha``) and the effect is at least the
  smallest effect that matters (non-inferiority: the corrected test of ``effect > -margin`` passes);
* ``fails``: the CI rules that effect out (its upper end is below the smallest effect;
  non-inferiority: below ``-margin``);
* ``undecided``: neither.

Holm's correction runs within the primaries and within the secondaries. The verdict is
``inconclusive`` when any reason applies (too few units, under-trained, seed-dependent,
budget-dependent, an undecided primary), else ``not_reproduced`` when a primary fails,
``reproduced`` when every comparison holds and ``partial`` when the primaries hold and some
secondary does not. Per-seed, per-group and per-budget outcomes use the unadjusted test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from mricompendium.claims.declare import Claim, Comparison
from mricompendium.claims.pairing import budget_fractions, pair
from mricompendium.claims.stats import Stat, cluster_stat, holm

__all__ = ["OUTCOMES", "VERDICTS", "ComparisonResult", "Outcome", "decide"]

VERDICTS = ("reproduced", "partial", "not_reproduced", "inconclusive")
OUTCOMES = ("holds", "fails", "undecided")


def decide(stat: Stat, comp: Comparison, p: float, alpha: float) -> str:
    """``holds`` / ``fails`` / ``undecided`` for one estimate at (adjusted) p-value ``p``."""
    if comp.noninferiority:
        if p < alpha:
            return "holds"
        return "fails" if stat.ci_high < -comp.margin else "undecided"
    if p < alpha and stat.effect >= comp.smallest_effect:
        return "holds"
    return "fails" if stat.ci_high < comp.smallest_effect else "undecided"


@dataclasses.dataclass
class ComparisonResult:
    """The outcome of one declared comparison, with its per-seed, per-group and budget views."""

    role: str
    comparison: Comparison
    stat: Stat
    p_holm: float
    outcome: str
    per_seed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    per_group: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    budget: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``"A > B @ s: ssim +0.012 [0.008, 0.016], P(A>B) 0.71, ...: holds"``."""
        c, s = self.comparison, self.stat
        seeds = f", {s.n_seeds} seeds" if s.n_seeds > 1 else ""
        return (
            f"{c.name}: {c.metric} {s.effect:+.3g} [{s.ci_low:.3g}, {s.ci_high:.3g}], "
            f"P(A>B) {s.p_a_gt_b:.2f}, Holm p {self.p_holm:.2g}, {s.n_units} units{seeds}: "
            f"{self.outcome}"
        )

    def row(self) -> dict[str, Any]:
        c, s = self.comparison, self.stat
        return {
            "role": self.role,
            "comparison": c.name,
            "a": c.a,
            "b": c.b,
            "setting": c.setting,
            "group": c.group,
            "metric": c.metric,
            "smallest_effect": c.smallest_effect,
            "margin": c.margin,
            "mean_a": s.mean_a,
            "mean_b": s.mean_b,
            "effect": s.effect,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "p_a_gt_b": s.p_a_gt_b,
            "p": s.p_value,
            "p_holm": self.p_holm,
            "units": s.n_units,
            "cases": s.n_cases,
            "seeds": s.n_seeds,
            "outcome": self.outcome,
        }


@dataclasses.dataclass
class Outcome:
    """What :func:`evaluate` found."""

    claim: Claim
    verdict: str
    reasons: list[str]
    results: list[ComparisonResult]
    notes: list[str]

    @property
    def primaries(self) -> list[ComparisonResult]:
        return [r for r in self.results if r.role == "primary"]

    def table(self) -> pd.DataFrame:
        """One row per comparison: effect [CI], P(A > B), p, Holm p, outcome."""
        return pd.DataFrame([r.row() for r in self.results])

    def evidence(self) -> str:
        """The primaries' summaries and the secondaries' tally, one line."""
        parts = [r.summary() for r in self.primaries]
        sec = [r for r in self.results if r.role == "secondary"]
        if sec:
            tally = {o: sum(r.outcome == o for r in sec) for o in OUTCOMES}
            parts.append(
                f"secondaries: {tally['holds']} of {len(sec)} hold, {tally['fails']} fail, "
                f"{tally['undecided']} undecided"
            )
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "verdict_reasons": list(self.reasons),
            "evidence": self.evidence(),
            "notes": list(self.notes),
            "comparisons": [
                {**r.row(), "per_seed": r.per_seed, "per_group": r.per_group, "budget": r.budget}
                for r in self.results
            ],
        }


def _estimate(df: pd.DataFrame, comp: Comparison, claim: Claim, **where: Any) -> Stat:
    p = pair(df, comp, **where)
    return cluster_stat(
        p.diff,
        p.units,
        mean_a=p.mean_a,
        mean_b=p.mean_b,
        margin=comp.margin,
        n_boot=claim.n_boot,
        seed=claim.seed,
        alpha=claim.alpha,
    )


def _view(stat: Stat, comp: Comparison, claim: Claim, **label: Any) -> dict[str, Any]:
    return {
        **label,
        "units": stat.n_units,
        "effect": stat.effect,
        "ci_low": stat.ci_low,
        "ci_high": stat.ci_high,
        "p": stat.p_value,
        "outcome": decide(stat, comp, stat.p_value, claim.alpha),
    }


def _per_seed(df: pd.DataFrame, comp: Comparison, claim: Claim) -> list[dict[str, Any]]:
    p = pair(df, comp)
    if len(p.seeds) < 2:
        return []
    out = []
    for i, s in enumerate(p.seeds):
        q = p.seed_slice(i)
        stat = cluster_stat(
            q.diff, q.units, mean_a=q.mean_a, mean_b=q.mean_b, margin=comp.margin,
            n_boot=claim.n_boot, seed=claim.seed, alpha=claim.alpha,
        )  # fmt: skip
        out.append(_view(stat, comp, claim, seed=s))
    return out


def _per_group(df: pd.DataFrame, comp: Comparison, claim: Claim) -> list[dict[str, Any]]:
    if comp.group is not None:
        return []
    rows = df[df["method"].isin([comp.a, comp.b])]
    if comp.setting is not None:
        rows = rows[rows["setting"] == comp.setting]
    groups = list(dict.fromkeys(rows["group"]))
    if len(groups) < 2:
        return []
    return [_view(_estimate(df, comp, claim, group=g), comp, claim, group=g) for g in groups]


def _budgets(df: pd.DataFrame, comp: Comparison, claim: Claim) -> list[dict[str, Any]]:
    fractions = budget_fractions(df, comp.a, comp.setting)
    if len(fractions) < 2:
        fractions = budget_fractions(df, comp.b, comp.setting)
    if len(fractions) < 2:
        return []
    out = []
    for f in fractions:
        stat = _estimate(df, comp, claim, fraction=f)
        out.append(_view(stat, comp, claim, fraction=f, budget=_steps(df, comp, f)))
    return out


def _steps(df: pd.DataFrame, comp: Comparison, fraction: float) -> int:
    rows = df[df["method"].isin([comp.a, comp.b])]
    if comp.setting is not None:
        rows = rows[rows["setting"] == comp.setting]
    return int(round(fraction * rows["budget"].max()))


def _compare(df: pd.DataFrame, claim: Claim) -> list[ComparisonResult]:
    out = []
    for role in ("primary", "secondary"):
        comps = [c for r, c in claim.comparisons if r == role]
        stats = [_estimate(df, c, claim) for c in comps]
        adjusted = holm([s.p_value for s in stats])
        for c, s, p in zip(comps, stats, adjusted, strict=True):
            out.append(
                ComparisonResult(
                    role=role,
                    comparison=c,
                    stat=s,
                    p_holm=p,
                    outcome=decide(s, c, p, claim.alpha),
                    per_seed=_per_seed(df, c, claim),
                    per_group=_per_group(df, c, claim),
                    budget=_budgets(df, c, claim),
                )  # fmt: skip
            )
    return out
