"""Noise fitted on real fMRI, AR(1) simulation, HRFs and the single-trial GLM."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.data.fmri import glm, noise


def test_ar1_fit_recovers_a_known_coefficient_on_synthetic_input():
    rng = np.random.default_rng(0)
    for rho in (0.0, 0.4, 0.7):
        e = noise.ar1_noise(1500, np.ones(60), np.full(60, rho), rng)
        assert abs(noise.fit_ar1(e).mean() - rho) < 0.03
        assert abs(e.std() - 1.0) < 0.1


def test_ar1_fit_on_short_series_is_bias_corrected():
    rng = np.random.default_rng(1)
    e = noise.ar1_noise(40, np.ones(3000), np.full(3000, 0.4), rng)
    raw = noise.fit_ar1(e, bias_correct=False).mean()
    corrected = noise.fit_ar1(e).mean()
    assert raw < 0.37 and abs(corrected - 0.4) < abs(raw - 0.4)


def test_shared_component_gives_the_requested_mean_correlation():
    rng = np.random.default_rng(2)
    e = noise.ar1_noise(3000, np.ones(40), np.full(40, 0.2), rng, shared_fraction=0.3)
    c = np.corrcoef(e.T)
    mean_abs = np.abs(c[~np.eye(40, dtype=bool)]).mean()
    assert 0.22 < mean_abs < 0.38


def test_noise_model_is_fitted_on_the_offline_real_fmri():
    runs = noise.real_runs()
    assert [r.name for r in runs] == ["nitime fmri1", "nitime fmri2", "nibabel functional"]
    m = noise.fit_noise_model(runs)
    assert m.sd_psc.size > 1000 and np.all(m.sd_psc > 0)
    assert -0.5 < m.rho_mean < 0.9 and m.rho_spread >= 0
    assert 0 <= m.shared_fraction < 1 and 0 < m.shared_rho_per_s < 1
    assert "nitime fmri_timeseries.csv" in m.sources
    rho = m.sample_rho(500, 1.6, np.random.default_rng(0))
    assert rho.min() >= 0 and rho.max() <= 0.95
    assert "% signal change" in m.summary(1.6)


def test_ar1_noise_refuses_bad_input():
    with pytest.raises(ValueError, match="rho"):
        noise.ar1_noise(10, np.ones(2), np.array([0.5, 1.0]), np.random.default_rng(0))


def test_design_regressors_are_peak_normalised_shifted_copies():
    d = glm.trial_design(10, tr=1.0)
    x = glm.design_matrix(d)
    assert x.shape == (d.n_scans, 10)
    assert np.isclose(x.max(), 1.0, atol=0.02)
    assert np.argmax(x[:, 3]) - np.argmax(x[:, 2]) == 4  # a trial every 4 s at TR 1 s


def test_glm_recovers_betas_and_the_hrf_without_noise():
    rng = np.random.default_rng(0)
    d = glm.trial_design(30, tr=1.6)
    library = glm.hrf_library(5)
    b = rng.normal(size=(30, 6))
    y = glm.design_matrix(d, library[3]) @ b
    est, _ = glm.single_trial_betas(y, glm.design_matrix(d, library[3]))
    assert np.allclose(est, b, atol=1e-6)
    _, chosen = glm.fit_with_library(y, d, library)
    assert np.all(chosen == 3)
    with pytest.raises(ValueError, match="mismatch"):
        glm.single_trial_betas(y[:5], glm.design_matrix(d))
