"""SSIM speed: ``mricompendium.metrics.ssim`` against ``fastmri.evaluate.ssim`` on the same volumes.

Both get the same float64 volumes (fastMRI's ``ssim`` loops over slices with scikit-image's
``structural_similarity``, a uniform 7x7 window); repetitions are interleaved (ours, theirs,
ours, ...) so that load from other processes hits both alike, and the ratio is the ratio of the
medians. The values must agree (mean over slices, to 1e-12).

``fastmri.evaluate`` imports ``runstats`` at module level for its command-line statistics; it is
not a dependency of the compendium, so a stand-in module is registered when it is missing (the
SSIM function does not use it).

The reference is numpy/scipy code, so its speed depends on the BLAS library's settings:
:func:`subprocess_rows` (what ``benchmarks/run.py`` calls) runs the comparison in a fresh process
whose environment lacks ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (for that command alone),
once with ``OMP_NUM_THREADS=1`` and once with it unset (torch's default thread count).

Run: ``python benchmarks/ssim.py [--repeats 15] [--threads 1 | 0 (torch's default)] [--json]``;
prints one row per volume shape.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from mricompendium import metrics

SHAPES = ((40, 64, 64), (16, 128, 128), (16, 320, 320))  # (slices, H, W): ours, mid, fastMRI knee
UNSET_FOR_REFERENCE = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _fastmri_ssim():
    if importlib.util.find_spec("runstats") is None:
        sys.modules.setdefault("runstats", types.SimpleNamespace(Statistics=object))
    from fastmri.evaluate import ssim

    return ssim


def _volume(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth positive target and a noisy prediction, float64 ``(N, H, W)``."""
    rng = np.random.default_rng(seed)
    n, h, w = shape
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.4 * np.sin(6 * x + 3 * y) * np.cos(4 * y)
    target = np.clip(base[None] + 0.05 * rng.standard_normal(shape), 0, None)
    pred = target + 0.08 * rng.standard_normal(shape)
    return pred, target


def benchmark(repeats: int = 15, shapes=SHAPES) -> list[dict]:
    """Median times and their ratio (ours / fastMRI) per volume shape, interleaved repetitions."""
    fastmri_ssim = _fastmri_ssim()
    rows = []
    for shape in shapes:
        pred, target = _volume(shape, seed=0)
        peak = float(target.max())

        def ours(pred=pred, target=target, peak=peak) -> float:
            return float(metrics.ssim(pred, target, data_range=peak).mean())

        def theirs(pred=pred, target=target, peak=peak) -> float:
            return float(fastmri_ssim(target, pred, maxval=peak)[0])

        diff = abs(ours() - theirs())  # also warms both up
        t_ours, t_theirs = [], []
        for _ in range(repeats):
            for fn, times in ((ours, t_ours), (theirs, t_theirs)):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        m_ours, m_theirs = statistics.median(t_ours), statistics.median(t_theirs)
        rows.append(
            {
                "shape": "x".join(map(str, shape)),
                "ours_s": m_ours,
                "fastmri_s": m_theirs,
                "ratio": m_ours / m_theirs,
                "abs_diff": diff,
            }
        )
    return rows


def subprocess_rows(repeats: int = 15) -> list[dict]:
    """:func:`benchmark` in fresh processes without the OpenBLAS overrides, for
    ``OMP_NUM_THREADS=1`` and unset; each row gains ``threads`` (torch's thread count there)."""
    rows = []
    for omp in ("1", None):
        env = {k: v for k, v in os.environ.items() if k not in UNSET_FOR_REFERENCE}
        env.pop("OMP_NUM_THREADS", None)
        if omp is not None:
            env["OMP_NUM_THREADS"] = omp
        out = subprocess.run(
            [sys.executable, str(Path(__file__)), "--json", "--threads", "0", "--repeats",
             str(repeats)],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        for r in json.loads(out.stdout.strip().splitlines()[-1]):
            rows.append({**r, "omp_num_threads": omp or "unset"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="0: torch's default")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = benchmark(args.repeats)
    for r in rows:
        r["threads"] = torch.get_num_threads()
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'volume':>12} {'ours (s)':>10} {'fastMRI (s)':>12} {'ours/fastMRI':>13} "
              f"{'|diff|':>9}  torch threads {torch.get_num_threads()}")  # fmt: skip
        for r in rows:
            print(
                f"{r['shape']:>12} {r['ours_s']:10.4f} {r['fastmri_s']:12.4f} "
                f"{r['ratio']:13.2f} {r['abs_diff']:9.1e}"
            )
    bad = [r for r in rows if r["abs_diff"] > 1e-12]
    if bad:
        raise SystemExit(f"values differ by {bad[0]['abs_diff']:.2e} on {bad[0]['shape']}")


if __name__ == "__main__":
    main()
