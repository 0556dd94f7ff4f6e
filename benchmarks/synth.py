"""Throughput of the label-map synthesiser (:mod:`mricompendium.data.synth`).

``synth_rows()`` returns benchmark rows (``name``, ``value``, ``unit``, ``note``) like the other
functions of ``benchmarks/run.py``, which calls it; ``python benchmarks/synth.py`` prints them.
Measured: 3D volumes per second (a tumour case with T1, T1c, T2 and FLAIR at 2 and 3 mm) and 2D
slices per second (a healthy T1 slice at 3 mm, a stroke slice through the lesion, a
domain-randomised slice), each the median of ``repeats`` timed batches after one warm-up case
(the template's resampling is cached per spacing). Run on a quiet machine; CPU load inflates them.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from mricompendium.data import synth

CASES = {  # name: (config, plane)
    "3D tumour case, 4 contrasts, 2 mm (98x116x94)": (
        synth.SynthConfig(spacing_mm=2.0, p_tumour=1.0), None),
    "3D tumour case, 4 contrasts, 3 mm (66x78x63)": (
        synth.SynthConfig(spacing_mm=3.0, p_tumour=1.0), None),
    "2D axial T1 slice, 3 mm (64x80)": (
        synth.SynthConfig(spacing_mm=3.0, shape=(64, 80, 64), contrasts=("T1",)), "axial"),
    "2D axial stroke slice, random contrast, 3 mm (64x80)": (
        synth.SynthConfig(spacing_mm=3.0, shape=(64, 80, 64), contrasts=("random",),
                          p_stroke=1.0), "axial"),
    "2D domain-randomised slice, 4 mm (64x64)": (
        synth.SynthConfig(spacing_mm=4.0, shape=(64, 64, 64), contrasts=("gmm",)), "coronal"),
}  # fmt: skip


def _rate(config: synth.SynthConfig, plane: str | None, n: int, repeats: int) -> float:
    synth.synthesise(config, 0, plane=plane)  # warm-up: template resampling and caches
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        for i in range(n):
            synth.synthesise(config, 1 + r * n + i, plane=plane)
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


def synth_rows(repeats: int = 3, n3d: int = 3, n2d: int = 20) -> list[dict]:
    """Cases per second of each configuration of :data:`CASES` (one torch thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for name, (config, plane) in CASES.items():
            rate = _rate(config, plane, n3d if plane is None else n2d, repeats)
            unit = "volumes/s" if plane is None else "slices/s"
            rows.append({"name": f"synthesiser: {name}", "value": float(rate), "unit": unit,
                         "note": "1 torch thread, CPU"})  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    for row in synth_rows():
        print(f"{row['name']:70s} {row['value']:8.2f} {row['unit']}")
    sys.exit(0)
