"""The verdict engine: a declared :class:`Claim` + per-case results -> verdict with reasons.

Per comparison (``holds`` / ``fails`` / ``undecided``):

* ``holds``: the Holm-corrected one-sided test passes (``p < alpha``) and the effect is at least the
  smallest effect that matters (non-inferiority: the corrected test of ``effect > -margin`` passes);
* ``fails``: the CI rules that effect out (its upper end is below the smallest effect;
  non-inferiority: below ``-margin``);
* ``undecided``: neither, or the comparison rests on fewer units than it needs to hold
  (:func:`mricompendium.claims.stats.min_units` for Holm over its role, or the claim's
  ``min_units`` if larger).

Effect, interval and test: :mod:`mricompendium.claims.stats` (units and training seeds both
random). Holm's correction runs within the primaries and within the secondaries. Per-seed,
per-group and per-budget outcomes use the unadjusted test. Each model of a primary comparison is
also compared with the comparison's ``floor`` seed by seed, and cases flagged in a ``degenerate``
results column are counted per model. The verdict rules are in :mod:`mricompendium.claims.verdict`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from mricompendium.claims.declare import Claim, Comparison
from mricompendium.claims.pairing import Paired, budget_fractions, pair
from mricompendium.claims.stats import Stat, cluster_stat, holm, min_units

__all__ = ["DEGENERATE", "OUTCOMES", "VERDICTS", "ComparisonResult", "Outcome", "decide"]

VERDICTS = ("reproduced", "partial", "not_reproduced", "inconclusive")
OUTCOMES = ("holds", "fails", "undecided", "not measurable")
DEGENERATE = "degenerate"  # optional results column: 1 where a case's output was degenerate


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
    units_needed: int = 2
    caveats: list[str] = dataclasses.field(default_factory=list)
    floor: list[dict[str, Any]] = dataclasses.field(default_factory=list)

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
            "se": s.se,
            "df": s.df,
            "sd_unit": s.sd_unit,
            "sd_seed": s.sd_seed,
            "units": s.n_units,
            "units_needed": self.units_needed,
            "cases": s.n_cases,
            "seeds": s.n_seeds,
            "floor": c.floor,
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
    degenerate: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def primaries(self) -> list[ComparisonResult]:
        return [r for r in self.results if r.role == "primary"]

    def table(self) -> pd.DataFrame:
        """One row per comparison: effect [CI], P(A > B), p, Holm p, outcome."""
        return pd.DataFrame([r.row() for r in self.results])

    def evidence(self) -> str:
        """The primaries' summaries, the exact checks and the secondaries' tally, one line."""
        parts = [r.summary() for r in self.primaries]
        parts += [c.summary() for c in self.claim.checks]
        sec = [r for r in self.results if r.role == "secondary"]
        if sec:
            tally = {o: sum(r.outcome == o for r in sec) for o in OUTCOMES}
            text = (
                f"secondaries: {tally['holds']} of {len(sec)} hold, {tally['fails']} fail, "
                f"{tally['undecided']} undecided"
            )
            if tally["not measurable"]:
                text += f", {tally['not measurable']} not measurable on these data"
            parts.append(text)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "verdict_reasons": list(self.reasons),
            "evidence": self.evidence(),
            "notes": list(self.notes),
            "comparisons": [
                {
                    **r.row(),
                    "per_seed": r.per_seed,
                    "per_group": r.per_group,
                    "budget": r.budget,
                    "caveats": r.caveats,
                    "floor_check": r.floor,
                }
                for r in self.results
            ],  # fmt: skip
            "degenerate": list(self.degenerate),
            "checks": [{**c.to_dict(), "holds": c.holds} for c in self.claim.checks],
        }


def _stat(p: Paired, comp: Comparison, claim: Claim) -> Stat:
    return cluster_stat(p.diff, p.units, mean_a=p.mean_a, mean_b=p.mean_b, margin=comp.margin,
                        alpha=claim.alpha)  # fmt: skip


def _estimate(df: pd.DataFrame, comp: Comparison, claim: Claim, **where: Any) -> Stat:
    return _stat(pair(df, comp, **where), comp, claim)


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


def _per_seed(p: Paired, comp: Comparison, claim: Claim) -> list[dict[str, Any]]:
    if len(p.seeds) < 2:
        return []
    return [
        _view(_stat(p.seed_slice(i), comp, claim), comp, claim, seed=s)
        for i, s in enumerate(p.seeds)
    ]


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


def _floor(df: pd.DataFrame, comp: Comparison, claim: Claim) -> list[dict[str, Any]]:
    """Each model of ``comp`` against its floor, seed by seed (mean over units, metric units)."""
    if comp.floor is None:
        return []
    if isinstance(comp.floor, str) and comp.floor not in set(df["method"]):
        raise ValueError(f"{comp.name}: its floor {comp.floor!r} is not a method of the results")
    out = []
    for m in dict.fromkeys((comp.a, comp.b)):
        if m == comp.floor:
            continue
        if isinstance(comp.floor, str):
            p = pair(df, dataclasses.replace(comp, a=m, b=comp.floor, margin=0.0, label=None))
        else:
            p = _against_constant(df, comp, m, float(comp.floor))
        for i, seed in enumerate(p.seeds):
            effect = cluster_stat(p.diff[:, [i]], p.units, mean_a=0.0, mean_b=0.0).effect
            out.append({"method": m, "seed": seed, "effect": effect,
                        "learned": bool(effect >= comp.smallest_effect)})  # fmt: skip
    return out


def _against_constant(df: pd.DataFrame, comp: Comparison, method: str, value: float) -> Paired:
    """``method``'s values minus a constant floor, as paired differences (cases x seeds)."""
    ghost = df[df["method"] == method].copy()
    if comp.setting is not None:
        ghost = ghost[ghost["setting"] == comp.setting]
    ghost["method"], ghost["seed"], ghost["budget"] = "\0floor", -1, 0
    ghost[comp.metric] = value
    ghost = ghost.drop_duplicates(["setting", "case"])
    full = pd.concat([df, ghost], ignore_index=True)
    return pair(full, dataclasses.replace(comp, a=method, b="\0floor", margin=0.0, label=None))


def _caveats(p: Paired) -> list[str]:
    return [
        f"{m} was trained with one seed: the interval ignores its seed-to-seed variation"
        for m in p.single_seed
    ]


def _needed(claim: Claim, k: int) -> int:
    return max(int(claim.min_units), min_units(k, claim.alpha))


def _unmeasurable(comp: Comparison) -> ComparisonResult:
    """A secondary whose metric these results do not have (real data without ground truth)."""
    nan = float("nan")
    stat = Stat(0, 0, 0, nan, nan, nan, nan, nan, nan, nan)
    why = f"not measurable on these data: the results have no {comp.metric!r} column"
    return ComparisonResult(role="secondary", comparison=comp, stat=stat, p_holm=nan,
                            outcome="not measurable", caveats=[why])  # fmt: skip


def _compare(df: pd.DataFrame, claim: Claim) -> list[ComparisonResult]:
    """Every comparison of the claim, in declared order (primaries first)."""
    out = []
    for role in ("primary", "secondary"):
        declared = [c for r, c in claim.comparisons if r == role]
        comps = [c for c in declared if role == "primary" or c.metric in df.columns]
        done = dict(zip(map(id, comps), _role(df, claim, role, comps), strict=True))
        out += [done[id(c)] if id(c) in done else _unmeasurable(c) for c in declared]
    return out


def _role(
    df: pd.DataFrame, claim: Claim, role: str, comps: list[Comparison]
) -> list[ComparisonResult]:
    """The measurable comparisons of one role, Holm-corrected together."""
    if not comps:
        return []
    paired = [pair(df, c) for c in comps]
    stats = [_stat(p, c, claim) for p, c in zip(paired, comps, strict=True)]
    adjusted = holm([s.p_value for s in stats])
    needed = _needed(claim, len(comps))
    out = []
    for c, p, s, padj in zip(comps, paired, stats, adjusted, strict=True):
        outcome = decide(s, c, padj, claim.alpha)
        caveats = _caveats(p)
        if s.n_units < needed:
            outcome = "undecided"
            caveats.insert(0, _cannot_hold(claim, s.n_units, len(comps), role))
        out.append(
            ComparisonResult(
                role=role,
                comparison=c,
                stat=s,
                p_holm=padj,
                outcome=outcome,
                per_seed=_per_seed(p, c, claim),
                per_group=_per_group(df, c, claim),
                budget=_budgets(df, c, claim),
                units_needed=needed,
                caveats=caveats,
                floor=_floor(df, c, claim) if role == "primary" else [],
            )  # fmt: skip
        )
    return out


def _count(n: int, unit: str) -> str:
    """``n`` units in words: "5 volumes", or "5 units (each a test case (...))" where the unit's
    description is not a plain noun that takes an "s"."""
    if n == 1:
        return f"1 {unit}"
    if any(c in unit for c in "(),;") or " or " in unit:
        return f"{n} units (each a {unit})"
    return f"{n} {unit}s"


def _cannot_hold(claim: Claim, n: int, k: int, role: str) -> str:
    """Why a comparison with ``n`` units cannot hold, in words."""
    arithmetic = min_units(k, claim.alpha)
    what = "one comparison" if k == 1 else f"{k} {role} comparisons"
    text = (
        f"cannot hold: rests on {_count(n, claim.unit)}; a distribution-free "
        f"test over n units cannot go below p = 1/2^n, so Holm over {what} at alpha "
        f"{claim.alpha:g} needs at least {arithmetic}"
    )
    if claim.min_units > arithmetic:
        text += f" (the claim declares at least {claim.min_units})"
    return text


def degenerate_counts(df: pd.DataFrame, claim: Claim) -> list[dict[str, Any]]:
    """Per (setting, method, seed) of the claim at full budget: cases flagged degenerate."""
    if DEGENERATE not in df.columns:
        return []
    settings = {c.setting for _, c in claim.comparisons}
    rows = df[df["method"].isin(claim.methods)]
    if None not in settings:
        rows = rows[rows["setting"].isin(settings)]
    full = rows.groupby(["setting", "method"])["budget"].transform("max")
    rows = rows[rows["budget"] == full]
    flagged = rows.assign(flag=rows[DEGENERATE].to_numpy() > 0)
    table = flagged.groupby(["setting", "method", "seed"], sort=False)["flag"].agg(["sum", "size"])
    return [
        {"setting": s, "method": m, "seed": int(seed), "degenerate": int(n), "cases": int(size),
         "primary": m in claim.primary_methods}
        for (s, m, seed), (n, size) in table.iterrows()
    ]  # fmt: skip
