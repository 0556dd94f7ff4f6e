"""Showing an :class:`Outcome`: a printed table with the verdict in words, and the budget plot."""

from __future__ import annotations

from typing import Any

from mricompendium.claims.engine import Outcome

__all__ = ["format_outcome", "plot_effect_vs_budget", "show"]

SMOKE = (
    "SMOKE RUN (CI-size defaults): the numbers below exercise the pipeline on a tiny budget and "
    "are not a result; the verdict of record comes from the params.yaml-size run."
)


def _ci(r: dict[str, Any]) -> str:
    return f"{r['effect']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"


def format_outcome(outcome: Outcome, *, smoke: bool = False) -> str:
    """The comparison table, the verdict and its reasons, and any notes, as text."""
    lines = [SMOKE, ""] if smoke else []
    rows = outcome.table().to_dict("records")
    width = max(len(r["comparison"]) for r in rows)
    lines.append(
        f"{'role':9s} {'comparison':{width}s} {'metric':10s} {'effect [95% CI]':27s} "
        f"{'P(A>B)':>6s} {'Holm p':>8s} {'units':>5s}  outcome"
    )
    for r in rows:
        lines.append(
            f"{r['role']:9s} {r['comparison']:{width}s} {r['metric']:10s} {_ci(r):27s} "
            f"{r['p_a_gt_b']:6.2f} {r['p_holm']:8.2g} {r['units']:5d}  {r['outcome']}"
        )
    lines += [f"{c.role:9s} check: {c.summary()}" for c in outcome.claim.checks]
    for r in outcome.results:
        lines += [f"  {r.comparison.name}: {x}" for x in r.caveats]
    lines += _floor_lines(outcome)
    claim = outcome.claim
    label = "verdict (smoke run, not a result)" if smoke else "verdict"
    on = " (on a proxy claim)" if claim.proxy else ""
    lines += ["", f"{label}{on}: {outcome.verdict}"]
    lines += [f"  reason: {x}" for x in outcome.reasons]
    lines += [f"  note: {x}" for x in outcome.notes]
    if claim.proxy or claim.deviations:
        lines += ["", "the paper's claim: " + claim.paper_text]
        lines += [f"  differs: {x}" for x in claim.deviations]
    return "\n".join(lines)


def _floor_lines(outcome: Outcome) -> list[str]:
    """Each primary model against its floor, one line per comparison."""
    lines = []
    for r in outcome.primaries:
        c = r.comparison
        if c.floor is None:
            lines.append(f"floor: {c.name}: none declared")
            continue
        parts = []
        for f in r.floor:
            seed = "" if f["seed"] < 0 else f" s{f['seed']}"
            flag = "" if f["learned"] else " DID NOT LEARN"
            parts.append(f"{f['method']}{seed} {f['effect']:+.3g}{flag}")
        floor = c.floor if isinstance(c.floor, str) else f"{c.floor:g}"
        head = f"floor {floor} ({c.name}, must beat by {c.smallest_effect:g}): "
        lines.append(head + ", ".join(parts))
    return lines


def show(outcome: Outcome, *, smoke: bool = False) -> None:
    """Print :func:`format_outcome` (for notebooks)."""
    print(format_outcome(outcome, smoke=smoke))


def plot_effect_vs_budget(outcome: Outcome, *, smoke: bool = False) -> Any:
    """The primary comparisons' effect [95 % CI] against training steps, one panel each.

    The dashed line is the smallest effect that matters (non-inferiority: ``-margin``), the solid
    line zero. Comparisons evaluated at a single budget show one point.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    prim = outcome.primaries
    fig, axes = plt.subplots(1, len(prim), figsize=(3.2 * len(prim), 2.6), squeeze=False)
    for ax, r in zip(axes[0], prim, strict=True):
        pts = r.budget or [{"budget": None, **r.row()}]
        x = [p["budget"] if p["budget"] is not None else 0 for p in pts]
        y = [p["effect"] for p in pts]
        err = [[p["effect"] - p["ci_low"] for p in pts], [p["ci_high"] - p["effect"] for p in pts]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3)
        c = r.comparison
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(-c.margin if c.noninferiority else c.smallest_effect, color="tab:red", ls="--",
                   lw=0.8)  # fmt: skip
        ax.set_title(c.name, fontsize=7)
        ax.set_xlabel("training steps")
        ax.set_ylabel(f"{c.metric} effect (A - B)" if c.higher_is_better else
                      f"{c.metric} effect (B - A)", fontsize=7)  # fmt: skip
        ax.tick_params(labelsize=7)
    title = f"{outcome.claim.nb_id}: primary effect vs training budget"
    fig.suptitle(title + (" (smoke run)" if smoke else ""), fontsize=8)
    fig.tight_layout()
    return fig
