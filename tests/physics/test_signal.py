"""Signal equations: known limits, nulling, the Ernst angle, and the tissue table's orderings."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.physics import signal as mr


def t(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64)


def test_spin_echo_long_tr_leaves_pd_times_t2_decay():
    s = mr.spin_echo(t(0.8), t(1000.0), t(80.0), tr=1e6, te=40.0)
    assert float(s) == pytest.approx(0.8 * math.exp(-0.5))


def test_inversion_recovery_nulls_at_flair_null_ti():
    ti = mr.flair_null_ti(4300.0, 9000.0)
    s = mr.inversion_recovery(t(1.0), t(4300.0), t(2000.0), tr=9000.0, te=100.0, ti=ti)
    assert float(s) == pytest.approx(0.0, abs=1e-9)
    assert mr.flair_null_ti(1000.0, 1e9) == pytest.approx(1000.0 * math.log(2))


def test_gradient_echo_peaks_at_the_ernst_angle():
    t1, tr = 1000.0, 20.0
    ernst = math.degrees(math.acos(math.exp(-tr / t1)))
    angles = torch.linspace(1, 60, 600, dtype=torch.float64)
    s = torch.stack(
        [mr.gradient_echo(t(1.0), t(t1), t(50.0), tr=tr, te=2.0, flip_deg=float(a)) for a in angles]
    )
    assert float(angles[s.argmax()]) == pytest.approx(ernst, abs=0.2)


def test_contrast_agent_shortens_t1_and_diffusion_attenuates():
    assert float(mr.t1_with_contrast_agent(t(1400.0), 0.3)) < 1400.0 / 2
    assert float(mr.t1_with_contrast_agent(t(1400.0), 0.0)) == pytest.approx(1400.0)
    assert float(mr.diffusion_weighting(t(1e-3), b=1000.0)) == pytest.approx(math.exp(-1))


@pytest.mark.parametrize("field", mr.FIELDS_T)
def test_tissue_table_orderings_hold_at_both_fields(field):
    tab = mr.tissue_table(field)
    assert tab["csf"].t1_ms > tab["gm"].t1_ms > tab["wm"].t1_ms
    assert tab["csf"].t2_ms > tab["gm"].t2_ms > tab["wm"].t2_ms
    assert tab["csf"].pd > tab["gm"].pd > tab["wm"].pd
    assert tab["stroke_acute"].adc < tab["wm"].adc < tab["csf"].adc


def test_bad_inputs_are_refused_with_a_message():
    with pytest.raises(ValueError, match="field_t"):
        mr.tissue_table(7.0)
    with pytest.raises(ValueError, match="ti must be shorter"):
        mr.inversion_recovery(t(1.0), t(1.0), t(1.0), tr=100.0, te=1.0, ti=200.0)
    with pytest.raises(ValueError, match="flip_deg"):
        mr.gradient_echo(t(1.0), t(1.0), t(1.0), tr=10.0, te=1.0, flip_deg=0.0)
    with pytest.raises(ValueError, match="unknown sequence"):
        mr.signal(mr.Sequence("epi", tr=1.0, te=1.0), pd=t(1), t1=t(1), t2=t(1))
