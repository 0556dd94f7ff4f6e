"""The reference T2 map's distance from the tissue T2 (the bias the S30 notebook states)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.data.recon.qdess import template_echo_cases
from mricompendium.experiments.reconstruction.qmri import reference_t2_bias
from mricompendium.physics.qdess import QDessProtocol, qdess_echoes


def test_pure_tissue_under_the_fits_assumptions_has_no_bias() -> None:
    p = QDessProtocol(t1_assumed_ms=1331.0, adc_assumed=8e-4)
    t2 = torch.full((1, 4, 4), 110.0)
    one = torch.ones(1, 4, 4)
    ref = qdess_echoes(one, 1331.0 * one, t2, 8e-4 * one, protocol=p).permute(1, 0, 2, 3)
    roi = np.ones((1, 4, 4), bool)
    out = reference_t2_bias(ref, t2.numpy(), roi, np.ones((1, 4, 4)), protocol=p)
    assert out["median_rel"] == pytest.approx(0.0, abs=1e-4)
    assert out["n"] == out["n_pure"] == 16
    skewed = reference_t2_bias(ref, t2.numpy(), roi, np.full((1, 4, 4), 0.6), protocol=p)
    assert skewed["n_pure"] == 0 and math.isnan(skewed["median_rel_pure"])


def test_template_cases_carry_purity_and_a_stated_bias() -> None:
    p = QDessProtocol()
    tc = template_echo_cases(2, size=24, protocol=p, b1_spread=0.15, seed=3)
    assert tc.purity is not None and tc.purity.shape == tc.roi.shape
    assert ((tc.purity > 0.3) & (tc.purity <= 1.0 + 1e-6))[tc.head].all()
    from mricompendium.physics.simulate import fourier_resample

    ref = fourier_resample(torch.from_numpy(tc.objects).to(torch.complex64), (24, 24))
    out = reference_t2_bias(ref, tc.t2_true, tc.roi, tc.purity, protocol=p)
    assert out["median_true"] == 110.0  # grey matter dominates the region
    assert 0.0 < out["median_rel"] < 0.5 and out["n"] == int(tc.roi.sum())
