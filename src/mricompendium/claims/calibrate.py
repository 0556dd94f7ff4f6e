"""Calibrate the verdict engine on simulated results whose answer is known.

Usage::

    python -m mricompendium.claims.calibrate [--quick] [--out reports/calibration.json]

Each design simulates paired per-case results of two trained methods, A and B, with 3 training
seeds each: ``units`` units of independence with ``slices`` cases each, and the per-case
difference A - B

    d[u, c, s] = effect + a_u + e_uc + b_s + n_ucs

with ``a_u`` the unit's own advantage (share ``icc`` of the case variance), ``e_uc`` the case's,
``b_s`` a training-seed offset (SD ``seed_sd``) and ``n_ucs`` a small seed-by-case noise. The case
SD is twice the smallest effect that matters (``delta``), so one unit with one slice is as noisy as
two smallest effects. Every simulated data set goes through :func:`mricompendium.claims.evaluate`,
the function the notebooks use, and per design the command counts how often the comparison
``holds`` (a false hold when the true effect is 0), how often the 95 % interval covers the true
effect, and the power (holds at twice the smallest effect). The grid: units 6/12/36, slices
1/5/20, ICC 0/0.7, seed SD 0 and ``delta``, true effect 0, 1x and 2x ``delta``; then the seeds a
design with seed offsets would need for 80 % power, and skewed unit differences under a
non-inferiority null (robustness, reported apart). ``--quick`` runs a smaller grid with fewer data
sets (for CI, well under a minute). The last line printed is::

    calibration: false holds <max over null designs>%, coverage <min over designs>%,
    power <min over 2x designs with >= 12 units and no seed offset>%

(on one line).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mricompendium import paths
from mricompendium.claims.declare import Claim, Comparison
from mricompendium.claims.verdict import evaluate
from mricompendium.io import atomic_write_json

__all__ = ["Design", "grid", "main", "run_design", "simulate"]

DELTA = 0.01  # the smallest effect that matters (SSIM-like units)
CASE_SD = 2 * DELTA  # SD of one case's paired difference
NOISE_SD = 0.25 * DELTA  # seed-by-case noise
SEEDS = 3


@dataclasses.dataclass(frozen=True)
class Design:
    """One simulated design; ``seed_sd`` and ``effect`` in units of the smallest effect."""

    units: int
    slices: int
    icc: float
    seed_sd: float
    effect: float
    seeds: int = SEEDS
    skew: int = 0  # 0: normal unit effects; +1 / -1: centred exponential, right / left skewed
    margin: float = 0.0  # > 0: a non-inferiority comparison (margin in units of delta)

    @property
    def true_effect(self) -> float:
        return self.effect * DELTA

    def label(self) -> str:
        kind = f", NI margin {self.margin:g}d" if self.margin else ""
        skew = {0: "", 1: ", right-skewed", -1: ", left-skewed"}[self.skew]
        return (
            f"{self.units} units x {self.slices} slices, ICC {self.icc:g}, seed SD "
            f"{self.seed_sd:g}d, {self.seeds} seeds, effect {self.effect:g}d{kind}{skew}"
        )


def _claim(design: Design) -> Claim:
    comp = Comparison("A", "B", setting="sim", margin=design.margin * DELTA)
    return Claim(nb_id="calibration", paper="S00", text="A beats B (simulated).", metric="m",
                 higher_is_better=True, smallest_effect=DELTA, unit="unit",
                 primary=(comp,))  # fmt: skip


def simulate(design: Design, rng: np.random.Generator) -> pd.DataFrame:
    """One data set of the design as a results table (methods A and B, ``seeds`` seeds each)."""
    u, c, s = design.units, design.slices, design.seeds
    if design.skew:
        a = design.skew * (rng.exponential(1.0, size=u) - 1.0)  # mean 0, SD 1
    else:
        a = rng.standard_normal(u)
    a = a * np.sqrt(design.icc) * CASE_SD
    e = rng.standard_normal((u, c)) * np.sqrt(1 - design.icc) * CASE_SD
    b = rng.standard_normal(s) * design.seed_sd * DELTA
    n = rng.standard_normal((u, c, s)) * NOISE_SD
    diff = design.true_effect + a[:, None, None] + e[:, :, None] + b[None, None, :] + n
    base = 0.8 + 0.05 * rng.standard_normal((u, c))
    unit = np.repeat([f"u{i}" for i in range(u)], c)
    case = np.array([f"u{i}-c{j}" for i in range(u) for j in range(c)])
    frames = []
    for method, values in (
        ("A", base[:, :, None] + diff),
        ("B", np.repeat(base[:, :, None], s, 2)),
    ):
        for k in range(s):
            frames.append(pd.DataFrame({"setting": "sim", "method": method, "seed": k,
                                        "budget": 100, "case": case, "unit": unit, "group": "g",
                                        "m": values[:, :, k].ravel()}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def run_design(design: Design, reps: int, index: int) -> dict[str, Any]:
    """Simulate ``reps`` data sets of ``design`` and tally the engine's answers."""
    claim = _claim(design)
    holds = covered = 0
    widths = []
    truth = design.true_effect
    for rep in range(reps):
        df = simulate(design, np.random.default_rng([index, rep, 20261206]))
        r = evaluate(claim, df).results[0]
        holds += r.outcome == "holds"
        covered += bool(r.stat.ci_low <= truth <= r.stat.ci_high)
        widths.append(r.stat.ci_high - r.stat.ci_low)
    rate = holds / reps
    cover = covered / reps
    return {
        **dataclasses.asdict(design),
        "label": design.label(),
        "reps": reps,
        "holds": rate,
        "holds_mc_se": float(np.sqrt(max(rate * (1 - rate), 1e-12) / reps)),
        "coverage": cover,
        "coverage_mc_se": float(np.sqrt(max(cover * (1 - cover), 1e-12) / reps)),
        "mean_ci_width": float(np.mean(widths)),
    }


def grid(quick: bool) -> list[Design]:
    """The designs of the main grid (``quick``: a subset)."""
    if quick:
        levels = dict(units=(6, 12), slices=(1, 5), icc=(0.7,), seed_sd=(0.0, 1.0),
                      effect=(0.0, 2.0))  # fmt: skip
    else:
        levels = dict(units=(6, 12, 36), slices=(1, 5, 20), icc=(0.0, 0.7), seed_sd=(0.0, 1.0),
                      effect=(0.0, 1.0, 2.0))  # fmt: skip
    return [Design(*combo) for combo in itertools.product(*levels.values())]


def _extra(quick: bool) -> tuple[list[Design], list[Design]]:
    """Seeds needed for power under seed offsets, and the skewed non-inferiority nulls."""
    if quick:
        return [], [Design(12, 5, 0.7, 0.0, -1.0, skew=k, margin=1.0) for k in (1, -1)]
    seeds = [Design(u, 5, 0.7, 1.0, 2.0, seeds=k) for u in (12, 36) for k in (3, 5, 8, 12, 16)]
    skew = [Design(u, 5, 0.7, 0.0, -1.0, skew=k, margin=1.0) for u in (6, 12, 36) for k in (1, -1)]
    return seeds, skew


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Worst false-hold rate, worst coverage and worst power over the main grid."""
    null = [r["holds"] for r in rows if r["effect"] == 0]
    power = [r["holds"] for r in rows
             if r["effect"] == 2 and r["units"] >= 12 and r["seed_sd"] == 0]  # fmt: skip
    return {
        "false_holds_max": max(null),
        "coverage_min": min(r["coverage"] for r in rows),
        "power_min": min(power) if power else float("nan"),
    }


def _seeds_for_power(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for units in sorted({r["units"] for r in rows}):
        mine = sorted((r for r in rows if r["units"] == units), key=lambda r: r["seeds"])
        enough = next((r["seeds"] for r in mine if r["holds"] >= 0.8), None)
        out.append({"units": units, "power_by_seeds": {r["seeds"]: r["holds"] for r in mine},
                    "seeds_for_80pct": enough})  # fmt: skip
    return out


def _run(job: tuple[Design, int, int]) -> dict[str, Any]:
    return run_design(*job)


def calibrate(quick: bool, workers: int = 1, log: Any = None) -> dict[str, Any]:
    """Run every design (``workers`` processes); return the calibration record."""
    reps_main = 200 if quick else 2000
    reps_null = 300 if quick else 2000
    designs = grid(quick)
    seed_designs, skew_designs = _extra(quick)
    jobs = [(d, reps_null if d.effect == 0 and not d.margin else reps_main, i)
            for i, d in enumerate(designs + seed_designs, start=1)]  # fmt: skip
    jobs += [(d, reps_null, len(jobs) + i) for i, d in enumerate(skew_designs, start=1)]
    started = time.perf_counter()
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            done = pool.map(_run, jobs, chunksize=1)
    else:
        done = [_run(j) for j in jobs]
    if log:
        for r in done:
            holds, cover = 100 * r["holds"], 100 * r["coverage"]
            log(f"{r['label']}: holds {holds:.1f} %, coverage {cover:.1f} %")
    rows = done[: len(designs)]
    seed_rows = done[len(designs) : len(designs) + len(seed_designs)]
    skew_rows = done[len(designs) + len(seed_designs) :]
    return {
        "quick": quick,
        "smallest_effect": DELTA,
        "case_sd": CASE_SD,
        "seed_by_case_noise_sd": NOISE_SD,
        "alpha": 0.05,
        "designs": rows,
        "summary": summarise(rows),
        "seeds_for_power": _seeds_for_power(seed_rows) if seed_rows else [],
        "skewed_noninferiority_null": skew_rows,
        "runtime_s": time.perf_counter() - started,
    }


def last_line(record: dict[str, Any]) -> str:
    s = record["summary"]
    return (f"calibration: false holds {100 * s['false_holds_max']:.1f}%, coverage "
            f"{100 * s['coverage_min']:.1f}%, power {100 * s['power_min']:.1f}%")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small grid for CI (< 60 s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output JSON (default reports/calibration.json; --quick: "
                             ".scratch/calibration-quick.json)")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="one line per design")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes (default: up to 2)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error(f"--workers must be 1..64, got {args.workers}")
    out = args.out or (paths.SCRATCH / "calibration-quick.json" if args.quick
                       else paths.REPORTS / "calibration.json")  # fmt: skip
    try:
        record = calibrate(args.quick, args.workers, log=print if args.verbose else None)
    except KeyboardInterrupt:
        print("calibration: interrupted; nothing written", file=sys.stderr)
        return 130
    atomic_write_json(out, record, indent=1, sort_keys=True)
    print(f"wrote {out} ({record['runtime_s']:.0f} s, {len(record['designs'])} designs)")
    print(last_line(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
