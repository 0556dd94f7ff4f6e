"""Haemodynamic responses, event-related designs and single-trial GLM betas (NSD's pipeline).

NSD shows each image for 3 s followed by a 1 s gap and estimates one beta per trial with
GLMsingle: a library of haemodynamic response functions (HRFs), the best one chosen per voxel,
polynomial drift regressors, and ridge regularisation of the trial regressors. This module does
the same at small scale:

* :func:`double_gamma_hrf` and :func:`hrf_library`: SPM's canonical double-gamma HRF and a family
  whose peak times span the range seen across voxels and subjects;
* :func:`trial_design` and :func:`design_matrix`: onsets of an NSD-like run and the trials'
  regressors (a 3 s boxcar convolved with an HRF, sampled at each scan);
* :func:`single_trial_betas`: least squares on all trials at once ("LSA") with polynomial
  nuisance regressors and an optional ridge, and :func:`fit_with_library`, which fits every HRF
  of the library and keeps, per voxel, the one that explains most variance.

Units: time in seconds; betas in the units of the data (percent signal change here) per unit
regressor height, where a regressor's peak is 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

from mricompendium.data.fmri.noise import legendre_drift

__all__ = [
    "RunDesign",
    "design_matrix",
    "double_gamma_hrf",
    "fit_with_library",
    "hrf_library",
    "single_trial_betas",
    "trial_design",
]

_DT = 0.1  # s, the fine time grid the boxcars are convolved on


def double_gamma_hrf(
    t: np.ndarray, *, peak: float = 6.0, undershoot: float = 16.0, ratio: float = 1 / 6
) -> np.ndarray:
    """SPM's double-gamma HRF at times ``t`` (s), peak-normalised to 1.

    Args:
        t: times in seconds.
        peak: delay of the response's gamma (shape parameter, dispersion 1), s.
        undershoot: delay of the undershoot's gamma, s.
        ratio: undershoot amplitude relative to the response.
    """
    t = np.asarray(t, dtype=np.float64)
    h = stats.gamma.pdf(t, peak) - ratio * stats.gamma.pdf(t, undershoot)
    grid = np.arange(0, 32, _DT)
    norm = (stats.gamma.pdf(grid, peak) - ratio * stats.gamma.pdf(grid, undershoot)).max()
    return h / norm


def hrf_library(n: int = 5, *, peaks: tuple[float, float] = (4.5, 7.5)) -> list[dict[str, float]]:
    """``n`` HRF parameter sets whose peak delays span ``peaks`` (s); undershoot 10 s later."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    delays = np.linspace(*peaks, n) if n > 1 else np.array([np.mean(peaks)])
    return [{"peak": float(d), "undershoot": float(d + 10.0)} for d in delays]


@dataclasses.dataclass(frozen=True)
class RunDesign:
    """An event-related run: trial ``onsets`` (s), stimulus duration, scans and TR."""

    onsets: np.ndarray
    stim_s: float
    n_scans: int
    tr: float

    @property
    def n_trials(self) -> int:
        return int(self.onsets.size)


def trial_design(
    n_trials: int,
    *,
    tr: float = 1.6,
    trial_s: float = 4.0,
    stim_s: float = 3.0,
    lead_s: float = 8.0,
    tail_s: float = 16.0,
) -> RunDesign:
    """NSD-like run: a trial every ``trial_s`` seconds (image ``stim_s``, then a gap).

    Args:
        n_trials: trials in the run.
        tr: repetition time, s.
        trial_s: trial duration (stimulus + gap), s (NSD: 4).
        stim_s: stimulus duration, s (NSD: 3).
        lead_s: blank before the first trial, s.
        tail_s: blank after the last trial (lets the last response decay), s.
    """
    if n_trials < 1 or tr <= 0 or stim_s <= 0 or trial_s < stim_s:
        raise ValueError(
            f"need n_trials >= 1, tr > 0 and 0 < stim_s <= trial_s; got {n_trials}, {tr}, "
            f"{stim_s}, {trial_s}"
        )
    onsets = lead_s + trial_s * np.arange(n_trials, dtype=np.float64)
    n_scans = int(np.ceil((onsets[-1] + trial_s + tail_s) / tr))
    return RunDesign(onsets, float(stim_s), n_scans, float(tr))


def design_matrix(design: RunDesign, hrf: dict[str, float] | None = None) -> np.ndarray:
    """Trial regressors ``(n_scans, n_trials)``: each trial's boxcar convolved with the HRF.

    Every regressor has the same shape, shifted to its onset; its peak is normalised to 1.
    """
    t = np.arange(0.0, 40.0, _DT)
    h = double_gamma_hrf(t, **(hrf or {}))
    box = (t < design.stim_s).astype(np.float64)
    response = np.convolve(box, h)[: t.size] * _DT
    response /= np.abs(response).max()
    scan_t = np.arange(design.n_scans) * design.tr
    lag = scan_t[:, None] - design.onsets[None, :]
    return np.interp(lag, t, response, left=0.0, right=0.0)


def single_trial_betas(
    y: np.ndarray, x: np.ndarray, *, degree: int = 2, ridge: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """One beta per trial and voxel by least squares on all trials at once.

    Args:
        y: data ``(n_scans, V)``.
        x: trial regressors ``(n_scans, n_trials)`` (:func:`design_matrix`).
        degree: Legendre degree of the drift regressors (projected out first).
        ridge: ridge penalty on the trial betas, as a fraction of the mean diagonal of ``x'x``
            (0: ordinary least squares).

    Returns:
        ``(betas (n_trials, V), r2 (V,))``: r2 is the variance of the drift-free data explained.
    """
    if y.ndim != 2 or x.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y (n_scans, V) and x (n_scans, n_trials) mismatch: {y.shape}, {x.shape}")
    p = legendre_drift(y.shape[0], degree)
    q, _ = np.linalg.qr(p)
    yr = y - q @ (q.T @ y)
    xr = x - q @ (q.T @ x)
    gram = xr.T @ xr
    lam = ridge * np.trace(gram) / gram.shape[0]
    betas = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), xr.T @ yr)
    resid = yr - xr @ betas
    ss = np.maximum((yr * yr).sum(0), 1e-12)
    return betas, 1.0 - (resid * resid).sum(0) / ss


def fit_with_library(
    y: np.ndarray,
    design: RunDesign,
    library: list[dict[str, float]],
    *,
    degree: int = 2,
    ridge: float = 0.0,
    matrices: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """GLMsingle's HRF step: fit each library HRF, keep per voxel the one with the highest R^2.

    Args:
        matrices: the design matrices of ``library`` if already computed (one per HRF).

    Returns:
        ``(betas (n_trials, V), chosen (V,))``: the chosen library index per voxel.
    """
    best_r2 = np.full(y.shape[1], -np.inf)
    betas = np.zeros((design.n_trials, y.shape[1]))
    chosen = np.zeros(y.shape[1], dtype=np.int64)
    xs = matrices if matrices is not None else [design_matrix(design, h) for h in library]
    for k, x in enumerate(xs):
        b, r2 = single_trial_betas(y, x, degree=degree, ridge=ridge)
        better = r2 > best_r2
        betas[:, better], best_r2[better], chosen[better] = b[:, better], r2[better], k
    return betas, chosen
