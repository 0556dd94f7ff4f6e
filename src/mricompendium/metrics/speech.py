"""Speech metrics: mel-cepstral distortion, LPC formants and their error, classifier accuracy.

All are pure functions giving one value per utterance.

* :func:`mel_cepstra` / :func:`mcd_db`: mel-cepstral distortion in dB with the standard constant
  ``10 * sqrt(2) / ln 10`` (Kubichek 1993; Toda et al. 2007), over cepstral coefficients 1..K (c0,
  the level, excluded) of frame-aligned sequences (no time warping: video and audio are
  synchronous here). Our cepstra are the DCT-II of the natural-log mel *amplitude* spectrum,
  scaled as a real cepstrum (:func:`mel_cepstra`), not SPTK's all-pole mel-generalised cepstra:
  values compare methods within this study, not with MCDs printed elsewhere.
* :func:`lpc_formants`: F1-F3 from autocorrelation LPC (the Praat recipe: resample to twice the
  highest formant, pre-emphasis from 50 Hz, 25 ms Hamming windows every 10 ms, order 2 x formants,
  roots with bandwidth under 600 Hz; median over the windows).
* :func:`formant_error_pct`: mean relative F1/F2 error of a synthesised vowel against the reference.
* :func:`accuracy`: fraction of correct labels.
* :func:`edit_distance` / :func:`error_rate_pct`: Levenshtein distance between a recognised and a
  reference label sequence (substitutions, insertions and deletions cost 1 each) and the error
  rate it gives, in percent of the reference length: word error rate when the labels are words,
  phone error rate when they are phones.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.signal
from scipy.fft import dct

__all__ = [
    "MCD_CONSTANT",
    "accuracy",
    "edit_distance",
    "error_rate_pct",
    "formant_error_pct",
    "lpc_formants",
    "mcd_db",
    "mcd_from_log_mel",
    "mel_cepstra",
]

#: dB per unit of Euclidean cepstral distance: 10 * sqrt(2) / ln(10) = 6.1418...
MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)


def mel_cepstra(log_mel: np.ndarray, n_coeffs: int = 25) -> np.ndarray:
    """Mel cepstra ``(T, n_coeffs)`` (c0..c_{n-1}) of natural-log mel amplitudes ``(T, n_mels)``.

    Scaled as a real cepstrum: with ``N`` bands at warped frequencies ``w_n = pi (n + 1/2) / N``,
    ``log_mel[n] = c0 + 2 * sum_k c_k cos(k w_n)`` is inverted exactly, ``c = DCT-II(x) / (2N)``
    (librosa's unnormalised MFCC divided by ``2N``); so MCD values are on the usual scale.
    """
    x = np.asarray(log_mel, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"log_mel must be (T, n_mels), got shape {x.shape}")
    if not 1 <= n_coeffs <= x.shape[1]:
        raise ValueError(f"n_coeffs must be in [1, {x.shape[1]}], got {n_coeffs}")
    return dct(x, type=2, norm=None, axis=1)[:, :n_coeffs] / (2.0 * x.shape[1])


def mcd_db(
    ref: np.ndarray, syn: np.ndarray, *, mask: np.ndarray | None = None, include_c0: bool = False
) -> float:
    """Mel-cepstral distortion (dB) of frame-aligned cepstra ``(T, K)``, mean over frames.

    Args:
        ref, syn: cepstra of the reference and the synthesised utterance, same shape.
        mask: ``(T,)`` booleans: frames that count (e.g. speech, not silence); all by default.
        include_c0: count the level coefficient c0 too (it is excluded by convention).
    """
    a, b = np.asarray(ref, dtype=np.float64), np.asarray(syn, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"cepstra must be two (T, K) arrays of one shape, got {a.shape}, {b.shape}"
        )
    d = (a - b) if include_c0 else (a - b)[:, 1:]
    per_frame = np.sqrt(np.sum(d**2, axis=1))
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != per_frame.shape:
            raise ValueError(f"mask must be ({len(per_frame)},), got {m.shape}")
        if not m.any():
            raise ValueError("mask selects no frame")
        per_frame = per_frame[m]
    return float(MCD_CONSTANT * per_frame.mean())


def mcd_from_log_mel(
    ref_log_mel: np.ndarray,
    syn_log_mel: np.ndarray,
    *,
    n_coeffs: int = 25,
    mask: np.ndarray | None = None,
) -> float:
    """:func:`mcd_db` of two natural-log mel amplitude spectrograms ``(T, n_mels)``."""
    return mcd_db(mel_cepstra(ref_log_mel, n_coeffs), mel_cepstra(syn_log_mel, n_coeffs), mask=mask)


def _lpc_roots(seg: np.ndarray, order: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    r = np.correlate(seg, seg, "full")[len(seg) - 1 : len(seg) + order]
    if r[0] <= 0:
        return np.empty(0), np.empty(0)
    r = r.copy()
    r[0] *= 1.0 + 1e-9  # white-noise correction keeps the Toeplitz system well posed
    a = np.concatenate([[1.0], scipy.linalg.solve_toeplitz(r[:-1], -r[1:])])
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 1e-3]
    freq = np.angle(roots) * rate / (2 * np.pi)
    bw = -np.log(np.abs(roots)) * rate / np.pi
    return freq, bw


def lpc_formants(
    x: np.ndarray,
    rate: float,
    *,
    max_formant_hz: float = 5000.0,
    n_formants: int = 5,
    window_s: float = 0.025,
    hop_s: float = 0.01,
    max_bandwidth_hz: float = 600.0,
) -> np.ndarray:
    """F1, F2, F3 (Hz; NaN where not found) of a steady vowel ``x`` sampled at ``rate`` Hz.

    Args:
        x: the vowel's samples (at least one window long).
        rate: sampling rate in Hz.
        max_formant_hz: the ceiling (5000 Hz for adult male voices, 5500 for female).
        n_formants: formants searched below the ceiling (LPC order = 2 x n_formants).
    """
    x = np.asarray(x, dtype=np.float64)
    target = int(round(2 * max_formant_hz))
    g = math.gcd(int(rate), target)
    y = scipy.signal.resample_poly(x, target // g, int(rate) // g)
    y = np.append(y[0], y[1:] - math.exp(-2 * math.pi * 50.0 / target) * y[:-1])
    win, hop = int(window_s * target), max(1, int(hop_s * target))
    if len(y) < win:
        raise ValueError(f"signal of {len(x) / rate:.3f} s is shorter than one {window_s} s window")
    found = []
    for s in range(0, len(y) - win + 1, hop):
        f, bw = _lpc_roots(y[s : s + win] * np.hamming(win), 2 * n_formants, target)
        f = np.sort(f[(f > 90.0) & (f < max_formant_hz - 50.0) & (bw < max_bandwidth_hz)])[:3]
        if len(f) >= 2:
            found.append(np.pad(f, (0, 3 - len(f)), constant_values=np.nan))
    if not found:
        return np.full(3, np.nan)
    with warnings.catch_warnings():  # a formant missing in every window stays NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.asarray(found), axis=0)


def formant_error_pct(ref: Sequence[float], est: Sequence[float]) -> float:
    """Mean relative error of F1 and F2, in percent: ``100 * mean(|est - ref| / ref)``.

    A formant that was not found in ``est`` (NaN) counts as a 100 % error; NaN in ``ref`` drops that
    formant from the mean (NaN if both are dropped).
    """
    r, e = np.asarray(ref, float)[:2], np.asarray(est, float)[:2]
    ok = np.isfinite(r) & (r > 0)
    if not ok.any():
        return float("nan")
    err = np.where(np.isfinite(e), np.abs(e - r) / np.where(ok, r, 1.0), 1.0)
    return float(100.0 * err[ok].mean())


def accuracy(predicted: Sequence[object], true: Sequence[object]) -> float:
    """Fraction of ``predicted`` labels equal to ``true`` (NaN for no label)."""
    p, t = list(predicted), list(true)
    if len(p) != len(t):
        raise ValueError(f"{len(p)} predictions for {len(t)} labels")
    if not t:
        return float("nan")
    return float(np.mean([a == b for a, b in zip(p, t, strict=True)]))


def edit_distance(ref: Sequence[object], hyp: Sequence[object]) -> int:
    """Levenshtein distance: the fewest substitutions, insertions and deletions turning ``ref``
    into ``hyp`` (each costs 1)."""
    r, h = list(ref), list(hyp)
    row = list(range(len(h) + 1))
    for i, a in enumerate(r, start=1):
        prev, row[0] = row[0], i
        for j, b in enumerate(h, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
    return row[-1]


def error_rate_pct(ref: Sequence[object], hyp: Sequence[object]) -> float:
    """``100 * edit_distance(ref, hyp) / len(ref)``: the word (or phone) error rate in percent.

    It exceeds 100 when the recogniser inserts more labels than the reference has.
    """
    if len(ref) == 0:
        raise ValueError("the reference sequence is empty")
    return 100.0 * edit_distance(ref, hyp) / len(ref)
