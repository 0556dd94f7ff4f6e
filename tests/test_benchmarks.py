"""The benchmark modules keep up with the package: each family's rows, at a tiny size, come out
as finite positive numbers (``make bench`` is not run by CI, so a signature change would
otherwise go unseen until someone benchmarks)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _check(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        assert set(r) >= {"name", "value", "unit"}
        assert math.isfinite(r["value"]) and r["value"] > 0, r


def test_fmri_simulator_rows():
    from fmri import rows

    out = rows(n_trials=8, n_voxels=32)
    _check(out)
    assert [r["name"] for r in out][-1] == "fMRI simulator: end to end"


def test_registration_rows():
    from registration import registration_rows

    _check(registration_rows(size=16, pairs=1))


@pytest.mark.parametrize("shape", [(2, 16, 16)])
def test_ssim_rows_agree_with_fastmri(shape):
    from ssim import benchmark

    (row,) = benchmark(repeats=1, shapes=[shape])
    assert row["abs_diff"] < 1e-10  # the same SSIM as fastmri.evaluate.ssim
    assert math.isfinite(row["ratio"]) and row["ratio"] > 0


def test_precision_rows_train_both_precisions_from_one_plan():
    """The precision benchmark drives a family's training plan in fp32 and bf16 (a few steps)."""
    from dataclasses import replace

    import precision

    case = replace(precision.CASES[0], steps=3)
    r = precision.measure(case)
    assert r["fp32"]["step_s"] > 0 and r["bf16"]["step_s"] > 0
    assert math.isfinite(r["fp32"]["metric"]) and math.isfinite(r["bf16"]["metric"])
