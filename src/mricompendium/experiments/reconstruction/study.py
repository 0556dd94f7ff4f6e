"""A reconstruction study: train methods over seeds, evaluate them in every test setting.

What every reconstruction notebook repeats, once: a model is trained per seed with its
validation curve (:func:`~.protocol.validation_fn`), evaluated at half budget (the rows the
verdict engine uses to check budget dependence) and at full budget, in every
:class:`TestSetting`, giving long-format rows and one :class:`~mricompendium.claims.Curve` per
(model, seed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mricompendium import claims
from mricompendium.experiments.reconstruction.protocol import (
    Evaluation,
    Method,
    evaluate,
    train_model,
    validation_fn,
)
from mricompendium.physics.masks import Sampling
from mricompendium.plans import Checkpoints

__all__ = [
    "TestSetting",
    "Trained",
    "ValidationSet",
    "add_drop",
    "evaluate_settings",
    "train_primary_and_rivals",
    "train_seeds",
]


@dataclass(frozen=True)
class TestSetting:
    """One setting to evaluate in: a label, the test data, the sampling and the cases.

    Attributes:
        label: the ``setting`` column of the results.
        source: the test data (a simulator or a real k-space set).
        sampling: the undersampling.
        meta: ``(case, unit, group)`` per index of ``source``.
        seed: seeds the test data (every method sees the same inputs).
        indices: the cases to evaluate (default all).
        extra: more per-case metric columns (see :func:`~.protocol.evaluate`).
    """

    label: str
    source: Any
    sampling: Sampling | str
    meta: Sequence[tuple[str, str, str]]
    seed: int
    indices: Sequence[int] | None = None
    extra: Any = None


@dataclass(frozen=True)
class ValidationSet:
    """Validation data: the metric recorded along training and used to pick rivals."""

    source: Any
    samplings: Sequence[Sampling | str]
    seed: int
    indices: Sequence[int] | None = None
    metric: str = "ssim_brain"


@dataclass
class Trained:
    """One model name trained over seeds: the models, curves, rows and histories."""

    name: str
    models: dict[int, nn.Module] = field(default_factory=dict)
    curves: list[claims.Curve] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[int, Any] = field(default_factory=dict)
    evaluations: dict[tuple[int, str], Evaluation] = field(default_factory=dict)

    def final_val(self, seed: int) -> float:
        """The last validation value of seed ``seed``."""
        return float(self.histories[seed].val[-1])


def evaluate_settings(
    method: nn.Module | Method,
    name: str,
    settings: Sequence[TestSetting],
    *,
    train_seed: int = -1,
    budget: int = 0,
    batch_size: int = 8,
    keep: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Evaluation]]:
    """Rows of ``method`` in every setting, and each setting's :class:`Evaluation`."""
    rows, evals = [], {}
    for t in settings:
        ev = evaluate(method, t.source, t.sampling, t.meta, seed=t.seed, name=name,
                      train_seed=train_seed, budget=budget, setting=t.label, indices=t.indices,
                      batch_size=batch_size, keep=keep, extra=t.extra)  # fmt: skip
        rows += ev.rows
        evals[t.label] = ev
    return rows, evals


def train_seeds(
    name: str,
    source: Any,
    samplings: Sequence[Sampling | str],
    settings: Sequence[TestSetting],
    *,
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    lr: float,
    validation: ValidationSet,
    val_every: int,
    half_budget: bool = True,
    half_settings: Sequence[str] | None = None,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
    indices: Sequence[int] | None = None,
    loss_over_steps: bool = False,
    mask_pool: int = 8,
    scheduler: str | None = None,
    keep: int = 0,
    trained: Trained | None = None,
    label: str | None = None,
    loss: Any = None,
    init: dict[int, nn.Module] | None = None,
    stream: Callable[[int], Any] | None = None,
    precision: str = "fp32",
    checkpoints: Checkpoints | None = None,
) -> Trained:
    """Train registry model ``name`` once per seed and evaluate it in ``settings``.

    Each seed gives a curve (training loss, validation ``validation.metric`` every
    ``val_every`` steps), rows at the full budget and, with ``half_budget``, rows at
    ``steps // 2`` (through ``fit``'s ``on_step``). Pass ``trained`` to add seeds to an earlier
    result (a rival chosen on validation gets its extra seeds this way). ``label`` names the
    method in rows and curves (default ``name``), e.g. one registry model trained twice.
    ``half_settings`` limits the half-budget evaluation to those setting labels (the verdict
    engine needs it only where a primary comparison is made). ``loss`` replaces the training
    loss (see :func:`~.protocol.fit_setup`); ``init`` starts seed ``s`` from a copy of
    ``init[s]`` (fine-tuning) instead of a fresh ``name``; ``stream`` replaces the batch
    stream, e.g. for consistency training on labelled and undersampled-only cases.
    ``precision`` goes to ``training.fit``; with ``checkpoints`` nothing is trained: each seed's
    model (and its half-budget one) is loaded from what ``python -m mricompendium.train`` wrote
    for ``label``.
    """
    shown = label or name
    out = trained if trained is not None else Trained(shown)
    val_fn = validation_fn(validation.source, validation.samplings, seed=validation.seed,
                           indices=validation.indices, metric=validation.metric)  # fmt: skip
    half = steps // 2
    at_half = [t for t in settings if half_settings is None or t.label in half_settings]
    for seed in seeds:
        if seed in out.models:
            continue
        snap = {}
        if half_budget and half >= 1:
            snap = {half: lambda m, s=seed: evaluate_settings(m, shown, at_half, train_seed=s,
                                                              budget=half)[0]}  # fmt: skip
        start = copy.deepcopy(init[seed]).train() if init is not None else name
        model, hist = train_model(start, source, samplings, steps=steps, batch_size=batch_size,
                                  lr=lr, seed=seed, device=device, overrides=overrides,
                                  indices=indices, loss_over_steps=loss_over_steps,
                                  mask_pool=mask_pool, scheduler=scheduler, val_fn=val_fn,
                                  val_every=val_every, on_step=snap, loss=loss,
                                  stream=stream, precision=precision,
                                  checkpoints=checkpoints, method=shown)  # fmt: skip
        rows, evals = evaluate_settings(model, shown, settings, train_seed=seed, budget=steps,
                                        keep=keep)  # fmt: skip
        out.models[seed], out.histories[seed] = model, hist
        out.rows += rows + (hist.snapshots.get(half, []) if snap else [])
        out.evaluations.update({(seed, k): v for k, v in evals.items()})
        out.curves.append(claims.Curve.from_history(shown, seed, hist,
                                                    val_metric=validation.metric))  # fmt: skip
    return out


def train_primary_and_rivals(
    primary: str,
    rivals: Sequence[str],
    source: Any,
    samplings: Sequence[Sampling | str],
    settings: Sequence[TestSetting],
    *,
    seeds: Sequence[int],
    configs: dict[str, dict[str, Any]],
    baseline_scores: dict[str, float] | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Trained], str]:
    """ "``primary`` beats all": train it with every seed, each rival once, then the strongest
    rival (best final validation metric; untrained baselines compete with ``baseline_scores``)
    with the remaining seeds.

    Returns:
        ``(trained per name, the strongest rival's name)``.
    """
    out = {primary: train_seeds(primary, source, samplings, settings, seeds=seeds,
                                overrides=configs.get(primary), **kwargs)}  # fmt: skip
    for name in rivals:
        out[name] = train_seeds(name, source, samplings, settings, seeds=seeds[:1],
                                overrides=configs.get(name), **kwargs)  # fmt: skip
    scores = {name: out[name].final_val(seeds[0]) for name in rivals}
    scores.update(baseline_scores or {})
    rival = max(scores, key=scores.get)
    if rival in out and len(seeds) > 1:
        train_seeds(rival, source, samplings, settings, seeds=seeds, overrides=configs.get(rival),
                    trained=out[rival], **kwargs)  # fmt: skip
    return out, rival


def add_drop(
    df: Any, anchors: dict[str, str], *, metric: str = "ssim_brain", column: str = "drop"
) -> Any:
    """A column ``column``: the metric lost relative to the same case in the anchor setting.

    For a row in setting ``s`` with anchor ``anchors[s]``, ``drop = metric(anchor row) -
    metric(row)`` (same method, seed, budget and case); anchor rows and settings without an
    anchor get 0. Higher drop = more quality lost in the shift (so lower is better).
    """
    keys = ["method", "seed", "budget", "case"]
    out = df.copy()
    out[column] = 0.0
    for setting, anchor in anchors.items():
        here = out["setting"] == setting
        ref = out[out["setting"] == anchor].set_index(keys)[metric]
        idx = out.loc[here].set_index(keys).index
        missing = ~idx.isin(ref.index)
        if missing.any():
            raise ValueError(
                f"{int(missing.sum())} rows of {setting!r} have no anchor row in {anchor!r}"
            )
        out.loc[here, column] = ref.loc[idx].to_numpy() - out.loc[here, metric].to_numpy()
    return out
