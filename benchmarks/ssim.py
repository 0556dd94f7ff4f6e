"""SSIM speed: ``mricompendium.metrics.ssim`` against ``fastmri.evaluate.ssim`` on the same volumes.

Both get the same float64 volumes (fastMRI's ``ssim`` loops over slices with scikit-image's
``structural_similarity``, a uniform 7x7 window); repetitions are interleaved (ours, theirs,
ours, ...) so that load from other processes hits both alike, and the ratio is the ratio of the
medians. The values must agree (mean over slices, to 1e-12).

``fastmri.evaluate`` imports ``runstats`` at module level for its command-line statistics; it is
not a dependency of the compendium, so a stand-in module is registered when it is missing (the
SSIM function does not use it).

Run: ``python benchmarks/ssim.py [--repeats 15] [--threads 1]``; prints one row per volume shape
and returns the rows (``benchmarks/run.py`` calls :func:`benchmark`).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import types

import numpy as np
import torch

from mricompendium import metrics

SHAPES = ((40, 64, 64), (16, 128, 128), (16, 320, 320))  # (slices, H, W): ours, mid, fastMRI knee


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'volume':>12} {'ours (s)':>10} {'fastMRI (s)':>12} {'ours/fastMRI':>13} {'|diff|':>9}")
    for r in benchmark(args.repeats):
        print(
            f"{r['shape']:>12} {r['ours_s']:10.4f} {r['fastmri_s']:12.4f} {r['ratio']:13.2f} "
            f"{r['abs_diff']:9.1e}"
        )
        if r["abs_diff"] > 1e-12:
            raise SystemExit(f"values differ by {r['abs_diff']:.2e} on {r['shape']}")


if __name__ == "__main__":
    main()
