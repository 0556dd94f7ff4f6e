"""What a notebook declares: the claim, its comparisons, and its models' training curves.

A :class:`Claim` names the metric, its direction, the smallest effect that matters, the unit of
independence and the primary and secondary :class:`Comparison` s. Both are plain frozen dataclasses
that round-trip through JSON (``to_dict`` / ``from_dict``), so the verdict stage can recompute a
verdict from a stored record without rerunning the notebook.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Check", "Claim", "Comparison", "Curve"]


def _finite(name: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x) or (minimum is not None and x < minimum):
        raise ValueError(f"{name} must be finite and >= {minimum}, got {value}")
    return x


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The claim "method ``a`` is better than method ``b``" on paired test cases.

    Attributes:
        a: the method claimed better (a ``method`` value of the results table).
        b: the method it is compared with.
        setting: the ``setting`` the comparison is made in; ``None`` only when the results hold a
            single setting.
        group: restrict to one ``group`` of cases (``None``: all groups, units clustered).
        metric: the metric column (``None``: the claim's).
        higher_is_better: direction of the metric (``None``: the claim's).
        smallest_effect: smallest difference that matters, in metric units (``None``: the claim's).
        margin: ``> 0`` makes it a non-inferiority comparison: "``a`` is not worse than ``b`` by
            more than ``margin``" (``smallest_effect`` is then not used).
        label: a short name for tables (default: built from the fields).
        floor: the trivial answer each model of this comparison must beat by the smallest effect
            before its numbers count as evidence: a ``method`` of the results (identity transform,
            zero-filled, empty mask, mean prediction) or a number in metric units (chance level).
            Every primary comparison names one.
    """

    a: str
    b: str
    setting: str | None = None
    group: str | None = None
    metric: str | None = None
    higher_is_better: bool | None = None
    smallest_effect: float | None = None
    margin: float = 0.0
    label: str | None = None
    floor: str | float | None = None

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Comparison.{name} must be a method name, got {value!r}")
        if self.a == self.b:
            raise ValueError(f"Comparison of {self.a!r} with itself")
        _finite("margin", self.margin, minimum=0.0)
        if self.smallest_effect is not None:
            _finite("smallest_effect", self.smallest_effect, minimum=0.0)
        if isinstance(self.floor, str):
            if not self.floor.strip():
                raise ValueError("Comparison.floor must name a method or be a number, got ''")
        elif self.floor is not None:
            object.__setattr__(self, "floor", _finite("floor", self.floor))

    @property
    def noninferiority(self) -> bool:
        return self.margin > 0

    @property
    def name(self) -> str:
        """``"A vs B @ setting [group]"`` (``"A >= B - m"`` for non-inferiority)."""
        if self.label:
            return self.label
        core = (
            f"{self.a} >= {self.b} - {self.margin:g}"
            if self.noninferiority
            else (f"{self.a} > {self.b}")
        )
        where = f" @ {self.setting}" if self.setting is not None else ""
        group = f" [{self.group}]" if self.group is not None else ""
        return core + where + group

    def resolve(self, claim: Claim) -> Comparison:
        """This comparison with the claim's metric, direction and smallest effect filled in."""
        return dataclasses.replace(
            self,
            metric=self.metric or claim.metric,
            higher_is_better=(
                claim.higher_is_better if self.higher_is_better is None else self.higher_is_better
            ),
            smallest_effect=(
                claim.smallest_effect if self.smallest_effect is None else self.smallest_effect
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "comparison") -> Comparison:
        return cls(**_known(cls, d, where))


def _known(cls: type, d: Mapping[str, Any], where: str, legacy: frozenset[str] = frozenset()):
    """``d`` without ``legacy`` keys; an unknown key is an error that names it."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{where}: expected a mapping, got {type(d).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - fields - legacy)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    return {k: v for k, v in d.items() if k in fields}


@dataclasses.dataclass(frozen=True)
class Check:
    """A part of a claim measured exactly, with no sampling error (a parameter count, an operator
    count): it holds when ``value`` is on the right side of ``limit``.

    Attributes:
        name: what is measured, with its unit ("scSE parameter overhead (%)").
        value: the measured value (computed by the notebook's code, never typed in).
        limit: the paper's bound.
        higher_is_better: ``True``: holds when ``value >= limit``; ``False``: ``value <= limit``.
        role: ``"primary"`` (a failing check makes the claim not reproduced) or ``"secondary"``.
    """

    name: str
    value: float
    limit: float
    higher_is_better: bool = False
    role: str = "primary"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Check.name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "value", _finite(f"{self.name}: value", self.value))
        object.__setattr__(self, "limit", _finite(f"{self.name}: limit", self.limit))
        if self.role not in ("primary", "secondary"):
            raise ValueError(f"Check.role must be 'primary' or 'secondary', got {self.role!r}")
        if not isinstance(self.higher_is_better, bool):
            raise TypeError("Check.higher_is_better must be True or False")

    @property
    def holds(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def summary(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return f"{self.name}: {self.value:.4g} (needs {op} {self.limit:g}): " + (
            "holds" if self.holds else "fails"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "check") -> Check:
        return cls(**_known(cls, d, where))


def _comparisons(name: str, items: Sequence[Comparison]) -> tuple[Comparison, ...]:
    if isinstance(items, Comparison):
        items = [items]
    out = tuple(items)
    if not all(isinstance(c, Comparison) for c in out):
        raise TypeError(f"Claim.{name} must hold Comparison objects")
    return out


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's claim as the verdict engine tests it.

    Attributes:
        nb_id: the notebook id (``"cirim"``).
        paper: the seed paper's S-number (``"S02"``).
        text: the claim in one or two sentences of our own words.
        metric: the verdict metric (a column of the results table).
        higher_is_better: direction of ``metric``.
        smallest_effect: the smallest difference that matters, in metric units (e.g. 0.01 SSIM).
        unit: what one value of the results' ``unit`` column stands for ("subject", "volume").
        primary: comparisons that must all hold for the claim to be reproduced.
        secondary: comparisons that make the difference between reproduced and partial.
        min_units: a declared floor on the independent units of every comparison, on top of the
            arithmetic one (:func:`mricompendium.claims.stats.min_units`): fewer makes a primary
            ``inconclusive`` and any comparison ``undecided``.
        convergence_tol: a primary model whose validation metric still moves by more than this
            fraction over the last quarter of its training is under-trained.
        alpha: family-wise error rate (Holm) within the primaries and within the secondaries.
        paper_claim: the paper's own claim in our words (default: ``text``, the claim as tested).
        proxy: true when the comparison tested is not the paper's own (another metric, task,
            data or direction).
        deviations: what differs from the paper, one item each (metric, task, data, direction,
            scale); a proxy claim lists at least one.
        checks: exact parts of the claim (:class:`Check`), judged without statistics.
    """

    nb_id: str
    paper: str
    text: str
    metric: str
    higher_is_better: bool
    smallest_effect: float
    unit: str
    primary: tuple[Comparison, ...]
    secondary: tuple[Comparison, ...] = ()
    min_units: int = 2
    convergence_tol: float = 0.01
    alpha: float = 0.05
    paper_claim: str | None = None
    proxy: bool = False
    deviations: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        for name in ("nb_id", "paper", "text", "metric", "unit"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Claim.{name} must be a non-empty string, got {value!r}")
        object.__setattr__(self, "primary", _comparisons("primary", self.primary))
        object.__setattr__(self, "secondary", _comparisons("secondary", self.secondary))
        if not self.primary:
            raise ValueError("a claim needs at least one primary comparison")
        _finite("smallest_effect", self.smallest_effect, minimum=0.0)
        _finite("convergence_tol", self.convergence_tol, minimum=0.0)
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if int(self.min_units) < 2:
            raise ValueError(f"min_units must be >= 2, got {self.min_units}")
        if not isinstance(self.higher_is_better, bool):
            raise TypeError("higher_is_better must be True or False")
        if not isinstance(self.proxy, bool):
            raise TypeError(f"Claim.proxy must be True or False, got {self.proxy!r}")
        if isinstance(self.deviations, str):
            raise TypeError("Claim.deviations must be a list of strings, not one string")
        devs = tuple(self.deviations)
        if not all(isinstance(x, str) and x.strip() for x in devs):
            raise ValueError("Claim.deviations must hold non-empty strings")
        object.__setattr__(self, "deviations", devs)
        if self.proxy and not devs:
            raise ValueError("a proxy claim must list its deviations from the paper")
        checks = (self.checks,) if isinstance(self.checks, Check) else tuple(self.checks)
        if not all(isinstance(c, Check) for c in checks):
            raise TypeError("Claim.checks must hold Check objects")
        object.__setattr__(self, "checks", checks)
        if self.paper_claim is not None and not str(self.paper_claim).strip():
            raise ValueError("Claim.paper_claim must be None or a non-empty string")

    @property
    def comparisons(self) -> list[tuple[str, Comparison]]:
        """``[("primary", c), ..., ("secondary", c), ...]`` with defaults resolved."""
        return [("primary", c.resolve(self)) for c in self.primary] + [
            ("secondary", c.resolve(self)) for c in self.secondary
        ]

    @property
    def methods(self) -> set[str]:
        return {m for _, c in self.comparisons for m in (c.a, c.b)}

    @property
    def primary_methods(self) -> set[str]:
        return {m for c in self.primary for m in (c.a, c.b)}

    @property
    def paper_text(self) -> str:
        """The paper's claim in our words (the tested claim when none was declared apart)."""
        return self.paper_claim or self.text

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["primary"] = [c.to_dict() for c in self.primary]
        d["secondary"] = [c.to_dict() for c in self.secondary]
        d["deviations"] = list(self.deviations)
        d["checks"] = [c.to_dict() for c in self.checks]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        """From :meth:`to_dict`'s output; unknown keys are named (records written before the
        engine dropped its bootstrap carry ``n_boot`` and ``seed``, which are ignored)."""
        d = _known(cls, d, "declaration", legacy=frozenset({"n_boot", "seed"}))
        for role in ("primary", "secondary"):
            items = d.get(role, ())
            if not isinstance(items, list | tuple):
                raise TypeError(f"declaration: {role} must be a list of comparisons")
            d[role] = tuple(
                Comparison.from_dict(c, f"declaration: {role} comparison {i + 1}")
                for i, c in enumerate(items)
            )
        d["deviations"] = tuple(d.get("deviations", ()))
        d["checks"] = tuple(
            Check.from_dict(c, f"declaration: check {i + 1}")
            for i, c in enumerate(d.get("checks", ()))
        )
        return cls(**d)


def _downsample(steps: list[int], values: list[float], limit: int) -> tuple[list[int], list[float]]:
    """At most ``limit`` points: bin means of the values, last step of each bin."""
    if len(values) <= limit:
        return list(steps), list(values)
    edges = np.linspace(0, len(values), limit + 1).astype(int)
    v = np.asarray(values, dtype=np.float64)
    return (
        [int(steps[e - 1]) for e in edges[1:]],
        [float(v[s:e].mean()) for s, e in zip(edges[:-1], edges[1:], strict=True)],
    )


@dataclasses.dataclass(frozen=True)
class Curve:
    """One trained model's loss and validation history.

    Attributes:
        method: the method (results ``method``).
        seed: its training seed.
        steps: the step of each ``loss`` value (1-based: after that step).
        loss: training loss.
        val_steps: the step of each validation value.
        val: the validation metric of the model at those steps.
        val_metric: the name of the validation metric.
        higher_is_better: its direction.
    """

    method: str
    seed: int
    steps: list[int]
    loss: list[float]
    val_steps: list[int]
    val: list[float]
    val_metric: str
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        for name in ("loss", "val"):  # a record stores NaN as null: keep it visible as NaN
            values = [float("nan") if v is None else float(v) for v in getattr(self, name)]
            object.__setattr__(self, name, values)
        if len(self.steps) != len(self.loss):
            raise ValueError(f"{self.method}: {len(self.steps)} steps for {len(self.loss)} losses")
        if len(self.val_steps) != len(self.val):
            raise ValueError(
                f"{self.method}: {len(self.val_steps)} val_steps for {len(self.val)} values"
            )

    @classmethod
    def from_history(
        cls, method: str, seed: int, history: Any, *, val_metric: str, higher_is_better: bool = True
    ) -> Curve:
        """From a :class:`mricompendium.training.History` (``losses``, ``val_steps``, ``val``)."""
        losses = [float(x) for x in history.losses]
        return cls(
            method=method,
            seed=int(seed),
            steps=list(range(1, len(losses) + 1)),
            loss=losses,
            val_steps=[int(s) for s in getattr(history, "val_steps", [])],
            val=[float(v) for v in getattr(history, "val", [])],
            val_metric=val_metric,
            higher_is_better=higher_is_better,
        )

    @property
    def total_steps(self) -> int:
        return max([0, *self.steps, *self.val_steps])

    def first_nonfinite(self) -> tuple[str, int] | None:
        """``("loss" | "val", step)`` of the first NaN or inf in either curve, or ``None``."""
        found = [
            (step, kind)
            for kind, steps, values in (
                ("loss", self.steps, self.loss),
                ("val", self.val_steps, self.val),
            )  # fmt: skip
            for step, v in zip(steps, values, strict=True)
            if not math.isfinite(v)
        ]
        if not found:
            return None
        step, kind = min(found)
        return kind, int(step)

    def last_quarter_change(self) -> float | None:
        """Relative improvement of the validation metric over the last quarter of training.

        A least-squares line through the validation points of the last quarter (at least two) gives
        the change over that quarter; it is divided by the magnitude of their mean and signed so
        that positive means still improving. ``None`` when fewer than two points fall there.
        """
        total = self.total_steps
        pts = [(s, v) for s, v in zip(self.val_steps, self.val, strict=True) if s >= 0.75 * total]
        if any(not math.isfinite(v) for _, v in pts):
            return None
        if len(pts) < 2:
            return None
        s, v = np.asarray(pts, dtype=np.float64).T
        if np.ptp(s) == 0:
            return None
        slope = np.polyfit(s, v, 1)[0]
        change = slope * (total - 0.75 * total)
        level = max(abs(float(v.mean())), 1e-12)
        return float(change / level) * (1.0 if self.higher_is_better else -1.0)

    def to_dict(self, max_points: int = 200) -> dict[str, Any]:
        """JSON-ready, the loss binned to at most ``max_points`` points."""
        steps, loss = _downsample(list(self.steps), list(self.loss), max_points)
        d = dataclasses.asdict(self)
        d.update(steps=steps, loss=loss, last_quarter_change=self.last_quarter_change())
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Curve:
        if not isinstance(d, Mapping):
            raise TypeError(f"a training curve must be a mapping, got {type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f for f in ("method", "seed", "steps", "loss", "val_steps", "val",
                                     "val_metric") if f not in d)  # fmt: skip
        if missing:
            raise ValueError(f"training curve {d.get('method', '?')!r} lacks {missing}")
        return cls(**{k: v for k, v in d.items() if k in fields})
