"""The verdict engine: a declared claim + per-case results -> a verdict with reasons.

A notebook declares a :class:`Claim` (primary and secondary :class:`Comparison` s, the metric, the
smallest effect that matters, the unit of independence), produces the long per-case results table
(:func:`results_frame`) and each trained model's :class:`Curve`, shows :func:`evaluate`'s outcome
and writes its record with :func:`write_record`. The ``verdict`` stage recomputes the verdict from
the stored record (:func:`metrics_from_record`). Rules: :mod:`mricompendium.claims.engine`.
"""

from mricompendium.claims.declare import Check, Claim, Comparison, Curve
from mricompendium.claims.engine import OUTCOMES, VERDICTS, ComparisonResult, Outcome
from mricompendium.claims.record import (
    environment_info,
    metrics_from_record,
    read_record,
    round_floats,
    write_record,
)
from mricompendium.claims.results import KEYS, read_results, results_frame, write_results
from mricompendium.claims.show import format_outcome, plot_effect_vs_budget, show
from mricompendium.claims.verdict import evaluate

__all__ = [
    "KEYS",
    "OUTCOMES",
    "VERDICTS",
    "Check",
    "Claim",
    "Comparison",
    "ComparisonResult",
    "Curve",
    "Outcome",
    "environment_info",
    "evaluate",
    "format_outcome",
    "metrics_from_record",
    "plot_effect_vs_budget",
    "read_record",
    "read_results",
    "results_frame",
    "round_floats",
    "show",
    "write_record",
    "write_results",
]
