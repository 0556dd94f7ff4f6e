"""Select and pair the rows of two methods for one comparison (setting, group, budget)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mricompendium.claims.declare import Comparison

__all__ = ["Paired", "budget_fractions", "pair"]

_TOL = 1e-9


class Paired:
    """Signed differences ``diff`` ``(cases, seeds)``, the cases' units and both methods' means.

    ``single_seed`` names the trained methods evaluated with one training seed: the comparison's
    interval cannot include their seed-to-seed variation.
    """

    def __init__(
        self,
        diff: np.ndarray,
        units: np.ndarray,
        seeds: list[int],
        mean_a: float,
        mean_b: float,
        single_seed: list[str] | None = None,
    ):
        self.diff, self.units, self.seeds = diff, units, seeds
        self.mean_a, self.mean_b = mean_a, mean_b
        self.single_seed = list(single_seed or [])  # trained methods with one training seed

    def seed_slice(self, i: int) -> Paired:
        return Paired(self.diff[:, [i]], self.units, [self.seeds[i]], self.mean_a, self.mean_b)


def _full_budget(rows: pd.DataFrame) -> int:
    return int(rows["budget"].max()) if len(rows) else 0


def budget_fractions(df: pd.DataFrame, method: str, setting: str | None) -> list[float]:
    """The budget levels at which ``method`` was evaluated, as fractions of its full budget."""
    rows = df[df["method"] == method]
    if setting is not None:
        rows = rows[rows["setting"] == setting]
    full = _full_budget(rows)
    if full <= 0:
        return [1.0]
    return sorted({round(b / full, 9) for b in rows["budget"].unique()})


def _rows(
    df: pd.DataFrame, comp: Comparison, method: str, group: str | None, fraction: float
) -> pd.DataFrame:
    rows = df[df["method"] == method]
    if comp.setting is not None:
        rows = rows[rows["setting"] == comp.setting]
    if group is not None:
        rows = rows[rows["group"] == group]
    if rows.empty:
        where = f"setting {comp.setting!r}" if comp.setting is not None else "the results"
        extra = f", group {group!r}" if group is not None else ""
        raise ValueError(f"{comp.name}: no rows of method {method!r} in {where}{extra}")
    full = _full_budget(rows)
    if full <= 0:
        return rows
    level = rows["budget"] / full
    keep = (level - fraction).abs() < _TOL
    if not keep.any():  # this method was not evaluated at that budget: its full budget stands in
        keep = rows["budget"] == full
    return rows[keep]


def _check_setting(df: pd.DataFrame, comp: Comparison) -> None:
    if comp.setting is None and df["setting"].nunique() > 1:
        raise ValueError(
            f"{comp.name}: give a setting; the results hold {sorted(df['setting'].unique())}"
        )
    if comp.setting is not None and comp.setting not in set(df["setting"]):
        raise ValueError(f"{comp.name}: setting {comp.setting!r} is not in the results")


def pair(
    df: pd.DataFrame, comp: Comparison, *, group: str | None = None, fraction: float = 1.0
) -> Paired:
    """Pair method ``a`` with ``b`` case by case (and seed by seed) for a resolved comparison.

    Each method is taken at ``fraction`` of its own full budget (untrained methods as they are). A
    method with one training seed (or none) is paired with every seed of the other; two trained
    methods are paired on the seeds they share. Both must have been evaluated on the same cases.
    """
    _check_setting(df, comp)
    group = comp.group if group is None else group
    metric = comp.metric
    if metric not in df.columns:
        raise ValueError(f"{comp.name}: metric {metric!r} is not a column of the results")
    ra, rb = (_rows(df, comp, m, group, fraction) for m in (comp.a, comp.b))
    pa, pb = (_table(r, metric, comp.name, m) for r, m in ((ra, comp.a), (rb, comp.b)))
    if set(pa.index) != set(pb.index):
        only = sorted(set(pa.index) ^ set(pb.index))[:5]
        raise ValueError(f"{comp.name}: the methods were evaluated on different cases, e.g. {only}")
    pb = pb.loc[pa.index]
    if pa.isna().any().any() or pb.isna().any().any():
        raise ValueError(f"{comp.name}: some case lacks a seed's value (unbalanced seeds)")
    units = _units(ra, rb, pa.index, comp.name)
    sa, sb = list(pa.columns), list(pb.columns)
    if len(sb) == 1:
        seeds, va, vb = sa, pa.to_numpy(), np.repeat(pb.to_numpy(), len(sa), axis=1)
    elif len(sa) == 1:
        seeds, va, vb = sb, np.repeat(pa.to_numpy(), len(sb), axis=1), pb.to_numpy()
    else:
        seeds = sorted(set(sa) & set(sb))
        if not seeds:
            raise ValueError(f"{comp.name}: the methods share no training seed ({sa} vs {sb})")
        va, vb = pa[seeds].to_numpy(), pb[seeds].to_numpy()
    sign = 1.0 if comp.higher_is_better else -1.0
    single = [m for m, s in ((comp.a, sa), (comp.b, sb)) if len(s) == 1 and s[0] >= 0]
    return Paired(sign * (va - vb), units, [int(s) for s in seeds], va.mean(), vb.mean(), single)


def _table(rows: pd.DataFrame, metric: str, name: str, method: str) -> pd.DataFrame:
    """Cases x seeds of ``metric`` for one method's rows."""
    try:
        return rows.pivot(index="case", columns="seed", values=metric)
    except ValueError:
        dup = rows[rows.duplicated(["case", "seed"], keep=False)].iloc[0]
        raise ValueError(
            f"{name}: method {method!r} has several rows for case {dup['case']!r}, seed "
            f"{dup['seed']} (a case in two groups or units?)"
        ) from None


def _units(ra: pd.DataFrame, rb: pd.DataFrame, cases: pd.Index, name: str) -> np.ndarray:
    """The unit of each case, which both methods must agree on."""
    ua, ub = (r.drop_duplicates("case").set_index("case").loc[cases, "unit"] for r in (ra, rb))
    bad = ua.to_numpy() != ub.to_numpy()
    if bad.any():
        case = cases[int(np.argmax(bad))]
        raise ValueError(
            f"{name}: the methods put case {case!r} in different units "
            f"({ua[case]!r} vs {ub[case]!r}); {int(bad.sum())} cases disagree"
        )
    return ua.to_numpy()
