"""Registration time per pair for every method, learned vs classical, measured in one run.

The networks (VoxelMorph and NestedMorph, small CPU configurations, and optionally the paper
configurations) are untrained: inference time does not depend on the weights. Each method
registers the same synthetic brain pairs one at a time (batch of one, the notebooks' protocol);
each pair's time is the minimum of ``repeats`` calls and the method's time is the median over
pairs. Ratios classical / learned are computed from these medians, so both sides share the
machine's state. SimpleITK and torch run on ``--threads`` threads.

Usage: ``python benchmarks/registration.py [--size 48] [--pairs 8] [--threads 1] [--paper]``;
prints one line per method and returns rows for ``benchmarks/run.py``
(:func:`registration_rows`).
"""

from __future__ import annotations

import argparse
import statistics

import SimpleITK as sitk
import torch

from mricompendium import training
from mricompendium.data.registration import PairGenerator, brain_slices
from mricompendium.experiments import registration as R


def _methods(device: torch.device, paper: bool) -> dict:
    methods = {
        "demons (SimpleITK, 100 it.)": R.sitk_demons(iterations=100),
        "B-spline (SimpleITK, MI, L-BFGS-B)": R.sitk_bspline(),
    }
    scales = ["small", "paper"] if paper else ["small"]
    for name in ("VoxelMorph", "NestedMorph"):
        for scale in scales:
            net = R.build_model(name, scale, ndim=2).to(device).eval()
            methods[f"{name} ({scale}, {R.count_parameters(net):,} par.)"] = R.learned(net, device)
    return methods


def registration_rows(
    size: int = 48,
    pairs: int = 8,
    threads: int = 1,
    repeats: int = 3,
    paper: bool = False,
    device: str = "cpu",
) -> list[dict]:
    """Median seconds per pair for each method and classical / learned ratios."""
    torch.set_num_threads(threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    dev = training.select_device(device)
    gen = PairGenerator(brain_slices(size, n_parcels=8))
    test = gen.fixed_set(pairs, seed=0)
    times = {}
    for name, fn in _methods(dev, paper).items():
        _, secs = R.register_pairs(fn, test, repeats=repeats)
        times[name] = float(statistics.median(secs))
    rows = [
        {
            "name": f"registration {size}x{size}: {k}",
            "value": v,
            "unit": "s/pair",
            "note": f"median of {pairs} pairs, min of {repeats} calls, {threads} thread(s), {dev}",
        }
        for k, v in times.items()
    ]
    classical = [k for k in times if "SimpleITK" in k]
    learned = [k for k in times if k not in classical]
    for c in classical:
        for m in learned:
            rows.append(
                {
                    "name": f"ratio {c.split(' (')[0]} / {m.split(' (')[0]}",
                    "value": times[c] / times[m],
                    "unit": "x",
                    "note": f"{m}; same run",
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--paper", action="store_true", help="also time the paper configurations")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    rows = registration_rows(a.size, a.pairs, a.threads, a.repeats, a.paper, a.device)
    for r in rows:
        print(f"{r['name']:70s} {r['value']:10.4g} {r['unit']:6s} {r['note']}")


if __name__ == "__main__":
    main()
