"""The verdict stage: records + per-case results -> ``reports/metrics/<id>.json`` with the verdict.

Usage::

    python -m mricompendium.verdicts [ID ...] [--reports DIR]

For each notebook id (default: every ``reports/records/*.json``) it reads the record the notebook
wrote and its ``results/<id>.csv``, refreshes the paper's figures from ``references.yaml``,
evaluates the declared claim with :mod:`mricompendium.claims`, and writes atomically

* ``metrics/<id>.json``: the record plus verdict, reasons, evidence and every comparison;
* ``summary/<id>.json``: numbers only, for ``dvc metrics show`` (readable in 120 columns);
* ``verdicts/<id>.png``: the primary effect against the training budget.

No notebook runs: changing the verdict rules or the reference figures reruns only this stage.
A failure prints one line ``<id>: <file>: <problem>``, leaves that id's outputs unchanged and goes
on with the other ids; the command then exits 1. Ids must be catalogue ids.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mricompendium import catalogue, paths, process, publish, references
from mricompendium.claims import (
    metrics_from_record,
    plot_effect_vs_budget,
    read_record,
    round_floats,
)
from mricompendium.claims.engine import OUTCOMES, VERDICTS, Outcome
from mricompendium.claims.results import read_results
from mricompendium.io import atomic_savefig, atomic_write_json

__all__ = ["main", "summary_numbers", "write_verdict"]


def summary_numbers(metrics: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The numeric summary DVC shows: verdict code, tallies, the first primary's effect.

    An estimate that cannot be made (the CI of a comparison resting on one unit) is ``null``.
    """
    first = outcome.primaries[0]
    tally = {o: sum(r.outcome == o for r in outcome.results) for o in OUTCOMES}
    summary = {
        "verdict_code": VERDICTS.index(outcome.verdict),
        "primary_effect": first.stat.effect,
        "primary_ci_low": first.stat.ci_low,
        "primary_ci_high": first.stat.ci_high,
        "primary_units": first.stat.n_units,
        **{f"n_{k}": v for k, v in tally.items()},
        "runtime_s": metrics.get("runtime_s"),
    }
    return round_floats(summary, digits=17)  # non-finite -> None; 17 digits keep every float


def write_verdict(nb_id: str, reports: Path) -> dict[str, Any]:
    """Compute and write one notebook's verdict outputs; return its metrics dict.

    Raises:
        VerdictError: one line naming the file at fault and the problem.
    """
    record_path = reports / "records" / f"{nb_id}.json"
    results_path = reports / "results" / f"{nb_id}.csv"
    record = _step(record_path, read_record, record_path)
    results = _step(results_path, read_results, results_path)
    paper = _step(references.PATH, references.paper_section, nb_id)
    family = str(catalogue.entry(nb_id)["family"]).split(" ")[0]
    if record.get("family", family) != family:
        raise VerdictError(
            f"{record_path}: family {record.get('family')!r} (the notebook's folder) is not the "
            f"catalogue's {family!r} (src/mricompendium/catalogue.yaml)"
        )
    record = {**record, "paper": paper, "family": family}
    metrics, outcome = _step(results_path, metrics_from_record, record, results)
    fig = plot_effect_vs_budget(outcome, smoke=bool(record.get("smoke")))
    atomic_savefig(fig, reports / "verdicts" / f"{nb_id}.png", dpi=80)
    import matplotlib.pyplot as plt

    plt.close(fig)
    atomic_write_json(reports / "summary" / f"{nb_id}.json", summary_numbers(metrics, outcome),
                      indent=1, allow_nan=False)  # fmt: skip
    atomic_write_json(reports / "metrics" / f"{nb_id}.json", metrics, indent=1, sort_keys=True,
                      allow_nan=False)  # fmt: skip
    return metrics


class VerdictError(Exception):
    """A verdict that cannot be computed: ``<file>: <problem>``."""


def _step(path: Path, fn: Any, *args: Any) -> Any:
    """``fn(*args)``; any failure becomes a :class:`VerdictError` naming ``path`` once."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - one line per bad input, whatever the cause
        text = str(exc) or type(exc).__name__
        shown = _rel(path)
        text = text.replace(str(path), shown)
        if not text.startswith((shown, Path(path).name)):  # name the file once
            text = f"{shown}: {text}"
        raise VerdictError(text) from exc


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="notebook ids (default: every record)")
    parser.add_argument("--reports", type=Path, default=paths.REPORTS)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # a command-line stage: no display
    ids = args.ids or sorted(p.stem for p in (args.reports / "records").glob("*.json"))
    failed = 0
    try:
        with process.signals():
            for nb_id in ids:
                failed += not _one(nb_id, args.reports)
    except KeyboardInterrupt as exc:
        print("verdicts: interrupted: the verdicts written so far are whole", file=sys.stderr)
        return exc.exit_code if isinstance(exc, process.Interrupted) else 130
    return 1 if failed else 0


def _one(nb_id: str, reports: Path) -> bool:
    """Write one verdict; on failure print ``<id>: <file>: <problem>`` (and a log if unforeseen)."""
    try:
        catalogue.check_id(nb_id)
        if publish.recover_if_free(nb_id, reports) == "busy":
            raise VerdictError(f"a run of {nb_id} is publishing its reports: try again")
        m = write_verdict(nb_id, reports)
    except (VerdictError, ValueError) as exc:
        msg = str(exc)
        print(msg if msg.startswith(f"{nb_id}:") else f"{nb_id}: {msg}", file=sys.stderr)
        return False
    except Exception as exc:  # noqa: BLE001 - unforeseen: one line, the traceback in a log
        line = f"{nb_id}: {type(exc).__name__}: {exc}".splitlines()[0]
        log = process.write_log(f"verdict-{nb_id}", line, exc)
        print(f"{line}\nlog: {process.show(log)}", file=sys.stderr)
        return False
    print(f"{nb_id}: {m['verdict']}" + "".join(f"\n  - {r}" for r in m["verdict_reasons"]))
    return True


if __name__ == "__main__":
    sys.exit(main())
