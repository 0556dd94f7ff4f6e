"""The qDESS-like two-echo model and its echo-ratio T2 estimate."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics.qdess import QDessProtocol, qdess_echoes, ratio_factor, t2_from_echoes


def _echoes(t2: float, *, t1: float, b1: float = 1.0, adc: float = 0.0, p: QDessProtocol):
    one = torch.ones(())
    return qdess_echoes(one, t1 * one, t2 * one, adc * one, protocol=p, b1=b1)


def test_the_estimate_is_exact_when_its_assumptions_hold() -> None:
    p = QDessProtocol(b_s_mm2=0.0)
    for t2 in (20.0, 40.0, 110.0, 300.0):
        e = _echoes(t2, t1=p.t1_assumed_ms, p=p)
        assert float(t2_from_echoes(e[0], e[1], protocol=p)) == pytest.approx(t2, rel=1e-4)


def test_b1_t1_and_diffusion_bias_the_estimate() -> None:
    p = QDessProtocol()
    exact = float(t2_from_echoes(*_echoes(80.0, t1=1200.0, p=QDessProtocol(b_s_mm2=0)), protocol=p))
    assert exact == pytest.approx(80.0, rel=1e-4)
    for kw in ({"t1": 800.0}, {"t1": 1200.0, "b1": 1.2}, {"t1": 1200.0, "adc": 3e-3}):
        e = _echoes(80.0, p=p, **kw)
        assert abs(float(t2_from_echoes(e[0], e[1], protocol=p)) - 80.0) > 1.0


def test_echo_two_is_weaker_and_the_ratio_factor_is_known() -> None:
    p = QDessProtocol()
    e = _echoes(110.0, t1=1331.0, p=p)
    assert 0 < float(e[1]) < float(e[0])
    a = math.radians(20.0)
    e1 = math.exp(-20.0 / 1000.0)
    want = math.sin(a / 2) ** 2 * (1 + e1) / (1 - math.cos(a) * e1)
    assert float(ratio_factor(a, 1000.0, 20.0)) == pytest.approx(want)


def test_estimates_are_clipped_and_protocols_validated() -> None:
    p = QDessProtocol()
    t2 = t2_from_echoes(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([2.0, 0.0, 0.0]), protocol=p)
    assert ((t2 >= 1.0) & (t2 <= p.t2_max_ms)).all()
    with pytest.raises(ValueError):
        QDessProtocol(tr_ms=5.0, te_ms=6.0)
    with pytest.raises(ValueError):
        QDessProtocol(flip_deg=95.0)


def test_an_assumed_diffusivity_removes_the_diffusion_bias() -> None:
    p = QDessProtocol(t1_assumed_ms=1331.0)
    e = _echoes(110.0, t1=1331.0, adc=8e-4, p=p)
    plain = float(t2_from_echoes(e[0], e[1], protocol=p))
    q = QDessProtocol(t1_assumed_ms=1331.0, adc_assumed=8e-4)
    fitted = float(t2_from_echoes(e[0], e[1], protocol=q))
    assert fitted == pytest.approx(110.0, rel=1e-4)
    assert plain < 106.0  # ignoring diffusion reads echo 2's extra loss as a shorter T2
    with pytest.raises(ValueError):
        QDessProtocol(adc_assumed=-1e-3)
