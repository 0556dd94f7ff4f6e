"""Speech metrics: MCD's constant and scale, LPC formants on a signal of known formants."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal

from mricompendium.metrics import speech


def test_mcd_constant_is_the_standard_one():
    assert speech.MCD_CONSTANT == pytest.approx(10 * math.sqrt(2) / math.log(10))
    assert speech.MCD_CONSTANT == pytest.approx(6.141851, abs=1e-6)


def test_mcd_of_known_cepstral_differences():
    ref = np.zeros((4, 5))
    syn = ref.copy()
    syn[:2, 1] = 1.0  # distance 1 in two frames
    syn[2:, 1:3] = [0.6, 0.8]  # distance 1 in the other two
    assert speech.mcd_db(ref, syn) == pytest.approx(speech.MCD_CONSTANT)
    syn[:, 0] = 5.0  # the level coefficient c0 is excluded by convention
    assert speech.mcd_db(ref, syn) == pytest.approx(speech.MCD_CONSTANT)
    mask = np.array([True, False, False, False])
    syn[0, 1] = 2.0
    assert speech.mcd_db(ref, syn, mask=mask) == pytest.approx(2 * speech.MCD_CONSTANT)


def test_mel_cepstra_match_librosa_mfcc_scaled_as_a_cepstrum():
    rng = np.random.default_rng(0)
    log_mel = rng.normal(size=(7, 40))
    ours = speech.mel_cepstra(log_mel, 20)
    ref = librosa.feature.mfcc(S=log_mel.T, n_mfcc=20, dct_type=2, norm=None).T / (2 * 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_a_cosine_ripple_of_known_depth_gives_its_mcd():
    n = 40
    w = np.pi * (np.arange(n) + 0.5) / n
    flat = np.zeros((3, n))
    ripple = flat + 2 * 0.25 * np.cos(3 * w)  # c3 = 0.25 exactly
    c = speech.mel_cepstra(ripple, 10)
    assert c[0, 3] == pytest.approx(0.25)
    assert speech.mcd_from_log_mel(flat, ripple, n_coeffs=10) == pytest.approx(
        0.25 * speech.MCD_CONSTANT
    )


def test_mcd_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        speech.mcd_db(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="no frame"):
        speech.mcd_db(np.zeros((3, 4)), np.ones((3, 4)), mask=np.zeros(3, bool))
    with pytest.raises(ValueError, match="n_coeffs"):
        speech.mel_cepstra(np.zeros((3, 4)), 9)


def _vowel(formants, bandwidths, rate=16000, f0=110.0, seconds=0.3):
    """An impulse train with a -6 dB/octave source tilt (glottal pulse and lip radiation, which the
    analysis' pre-emphasis expects) through second-order resonators at known formants."""
    x = np.zeros(int(rate * seconds))
    x[:: int(rate / f0)] = 1.0
    x = scipy.signal.lfilter([1.0], [1.0, -0.95], x)
    for f, b in zip(formants, bandwidths, strict=True):
        r = math.exp(-math.pi * b / rate)
        a = [1.0, -2 * r * math.cos(2 * math.pi * f / rate), r * r]
        x = scipy.signal.lfilter([1.0], a, x)
    return x


@pytest.mark.parametrize("formants", [(700, 1200, 2500), (300, 2200, 3000), (320, 800, 2400)])
def test_lpc_formants_recover_the_resonances(formants):
    x = _vowel(formants, (80, 100, 150))
    est = speech.lpc_formants(x, 16000)
    np.testing.assert_allclose(est[:2], formants[:2], rtol=0.08)


def test_formant_error_and_accuracy():
    assert speech.formant_error_pct([500, 1500], [550, 1350]) == pytest.approx(10.0)
    assert speech.formant_error_pct([500, 1500], [np.nan, 1500]) == pytest.approx(50.0)
    assert math.isnan(speech.formant_error_pct([np.nan, np.nan], [1, 1]))
    assert speech.accuracy(["a", "i", "u"], ["a", "i", "o"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        speech.accuracy(["a"], ["a", "i"])


def test_edit_distance_counts_substitutions_insertions_and_deletions():
    assert speech.edit_distance("kitten", "sitting") == 3
    assert speech.edit_distance([], ["a", "b"]) == 2
    assert speech.edit_distance(["a", "b"], []) == 2
    assert speech.edit_distance(["b", "a"], ["b", "a"]) == 0
    assert speech.edit_distance(["b", "a", "d"], ["b", "d"]) == 1  # one deletion


def test_error_rate_is_the_distance_per_reference_label():
    assert speech.error_rate_pct(["b", "a", "d", "i"], ["b", "a", "t", "i"]) == pytest.approx(25.0)
    assert speech.error_rate_pct(["a"], ["a", "b", "c"]) == pytest.approx(200.0)  # insertions
    with pytest.raises(ValueError, match="empty"):
        speech.error_rate_pct([], ["a"])
