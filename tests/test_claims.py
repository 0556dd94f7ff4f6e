"""Paired comparisons, verdicts and the metrics JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mricompendium import claims

SCHEMA_KEYS = {
    "id", "seed_paper", "family", "claim", "verdict", "evidence", "paper", "ours", "scale",
    "runtime_s", "protocol", "environment", "comparisons",
}  # fmt: skip


def _cases(shift, n=40, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    b = 0.8 + 0.05 * rng.standard_normal(n)
    return b + shift + spread * rng.standard_normal(n), b


def test_clear_improvement_holds_and_is_reproduced():
    a, b = _cases(0.02)
    c = claims.paired_comparison(a, b, label_a="VarNet", label_b="CS")
    assert c.holds and c.n == 40
    assert 0 < c.ci_low < c.mean_diff < c.ci_high
    assert c.p_value < 1e-6
    assert c.mean_diff == pytest.approx(np.mean(a - b))
    assert claims.verdict([c]) == "reproduced"
    assert c.summary().startswith("VarNet - CS SSIM +0.02")
    assert "(paired, n=40, Wilcoxon p=" in c.summary()


def test_noise_around_zero_does_not_hold():
    a, b = _cases(0.0, spread=0.02, seed=1)
    c = claims.paired_comparison(a, b)
    assert not c.holds
    assert c.ci_low < 0 < c.ci_high
    assert claims.verdict([c]) == "not_reproduced"


def test_improvement_in_wrong_direction_does_not_hold():
    a, b = _cases(-0.02)
    assert not claims.paired_comparison(a, b, direction="greater").holds


def test_direction_less_for_errors():
    a, b = _cases(-0.02)
    c = claims.paired_comparison(a, b, direction="less", metric="NMSE")
    assert c.holds and c.ci_high < 0


def test_mixed_gives_partial_and_required_can_veto():
    good = claims.paired_comparison(*_cases(0.02))
    bad = claims.paired_comparison(*_cases(0.0, spread=0.02, seed=1))
    assert claims.verdict([good, bad]) == "partial"
    assert claims.verdict([good, bad], required=[False, True]) == "not_reproduced"
    assert claims.verdict([good, bad], required=[True, False]) == "partial"


def test_identical_methods_give_p_one():
    a, _ = _cases(0.0)
    c = claims.paired_comparison(a, a)
    assert c.p_value == 1.0 and c.mean_diff == 0 and not c.holds


def test_bootstrap_is_seeded():
    a, b = _cases(0.005, spread=0.02)
    c1, c2 = claims.paired_comparison(a, b, seed=3), claims.paired_comparison(a, b, seed=3)
    c3 = claims.paired_comparison(a, b, seed=4)
    assert (c1.ci_low, c1.ci_high) == (c2.ci_low, c2.ci_high)
    assert (c1.ci_low, c1.ci_high) != (c3.ci_low, c3.ci_high)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"a": [1.0, 2.0], "b": [1.0]}, ValueError),
        ({"a": [1.0], "b": [1.0]}, ValueError),
        ({"a": [1.0, np.nan], "b": [1.0, 2.0]}, ValueError),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0], "direction": "two-sided"}, ValueError),
    ],
)
def test_paired_comparison_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        claims.paired_comparison(**kwargs)


def test_verdict_rejects_bad_input():
    with pytest.raises(ValueError):
        claims.verdict([])
    c = claims.paired_comparison(*_cases(0.02))
    with pytest.raises(ValueError):
        claims.verdict([c], required=[True, False])


def _write(path, **over):
    c = claims.paired_comparison(*_cases(0.02), label_a="VarNet", label_b="CS")
    kwargs = dict(
        id="demo", seed_paper="S00", family="reconstruction", claim="VarNet beats CS.",
        verdict=claims.verdict([c]), evidence=c.summary(),
        paper={"metric": "SSIM", "values": {"VarNet": 0.93, "CS": 0.9}},
        ours={"metric": "SSIM", "values": {"VarNet": c.mean_a, "CS": c.mean_b}},
        scale={"train_cases": 8, "test_cases": 40, "epochs": 1, "device": "cpu"},
        runtime_s=1.23456789, protocol={"name": "slice_normalised"}, seed=0, device="cpu",
        comparisons=[c], extra={"psnr": np.float32(31.123456789), "inf": float("inf")},
    )  # fmt: skip
    kwargs.update(over)
    return claims.write_metrics(path, **kwargs)


def test_write_metrics_schema_and_stable_json(tmp_path):
    path = tmp_path / "metrics" / "demo.json"
    record = _write(path)
    text = path.read_text()
    loaded = json.loads(text)
    assert loaded == record
    assert SCHEMA_KEYS <= set(loaded)
    assert loaded["verdict"] == "reproduced"
    assert loaded["runtime_s"] == 1.23457  # 6 significant digits
    assert loaded["extra"] == {"inf": None, "psnr": 31.1235}
    assert loaded["comparisons"][0]["holds"] is True
    assert loaded["environment"]["seed"] == 0 and loaded["environment"]["numpy"] == np.__version__
    assert list(loaded) == sorted(loaded)
    _write(path)
    assert path.read_text() == text  # same inputs, same bytes


@pytest.mark.parametrize(
    "over",
    [
        {"verdict": "maybe"},
        {"evidence": "  "},
        {"paper": {"values": {}}},
        {"runtime_s": float("nan")},
        {"id": ""},
    ],
)
def test_write_metrics_rejects_bad_records(tmp_path, over):
    path = tmp_path / "bad.json"
    with pytest.raises((ValueError, TypeError)):
        _write(path, **over)
    assert not path.exists()


def test_environment_info_keys():
    env = claims.environment_info(seed=7, device="cpu")
    for key in ("python", "platform", "torch", "numpy", "scipy", "skimage", "sigpy"):
        assert key in env
    assert env["mricompendium"] is not None and env["device"] == "cpu"
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
