"""fMRI noise calibrated on the real 4D fMRI that ships offline, and its simulation.

The simulator's noise is not invented: its amplitude (percent signal change per scan), its
temporal autocorrelation (AR(1) per voxel), its slow drift and the fraction of its variance that
is shared across voxels (a global, physiological-like component) are fitted on

* nitime's ``fmri1.nii.gz`` and ``fmri2.nii.gz`` (10 x 10 x 18 voxels, 40 volumes, TR 1.35 s), and
* nibabel's test image ``functional.nii`` (17 x 21 x 3 voxels, 20 volumes, TR 2 s),

inside a brain mask (mean intensity above half the 98th percentile), after removing a quadratic
trend per voxel. Lag-one autocorrelations of such short series are biased low (the Kendall (1954)
correction ``(T r + 1) / (T - 3)`` is applied) and scattered by sampling error (SD about
``1 / sqrt(T)``): the voxels' AR(1) coefficients are drawn from a normal distribution with the
fitted mean and the fitted spread *minus* that sampling variance. The shared component's AR(1) is
fitted on nitime's resting-state ROI time series (``fmri_timeseries.csv``: 250 volumes at TR
1.89 s, per nitime's example), long enough for a stable estimate. Autocorrelations are converted
to a decay per second (``rho ** (1 / TR)``) so that they can be used at any repetition time.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from mricompendium.data.errors import DataError

__all__ = [
    "NoiseModel",
    "RealRun",
    "ar1_noise",
    "fit_ar1",
    "fit_noise_model",
    "legendre_drift",
    "real_runs",
]


@dataclasses.dataclass(frozen=True)
class RealRun:
    """One real 4D run: ``data`` ``(X, Y, Z, T)``, repetition time ``tr`` in s, its file."""

    name: str
    data: np.ndarray
    tr: float
    path: Path


def real_sources() -> list[tuple[str, Path, float]]:
    """``(name, file, TR in s)`` of the real fMRI runs that ship with nitime and nibabel."""
    import nibabel.tests
    import nitime

    nitime_dir = Path(nitime.__file__).parent / "data"
    nib_dir = Path(nibabel.tests.__file__).parent / "data"
    return [
        ("nitime fmri1", nitime_dir / "fmri1.nii.gz", 1.35),
        ("nitime fmri2", nitime_dir / "fmri2.nii.gz", 1.35),
        ("nibabel functional", nib_dir / "functional.nii", 2.0),
    ]


ROI_SERIES_TR = 1.89  # s, nitime's resting-state example (doc/examples/simple_csv.py)


def roi_series() -> tuple[np.ndarray, Path]:
    """nitime's resting-state ROI time series ``(250, 28)`` (the 28 grey-matter ROIs) and file."""
    import nitime

    path = Path(nitime.__file__).parent / "data" / "fmri_timeseries.csv"
    try:
        data = np.genfromtxt(path, delimiter=",", skip_header=1)
    except (OSError, ValueError) as err:
        raise DataError(path, f"not a readable CSV ({err})") from err
    if data.ndim != 2 or data.shape[1] < 4 or not np.isfinite(data).all():
        raise DataError(path, f"expected a finite (T, ROI) table, got shape {data.shape}")
    return data[:, 3:], path  # the first three columns are WM, ventricles and whole brain


def real_runs(sources: list[tuple[str, Path, float]] | None = None) -> list[RealRun]:
    """Load the real runs (default: :func:`real_sources`) as float64 arrays."""
    from mricompendium.data.loaders import load_nifti

    runs = []
    for name, path, tr in sources or real_sources():
        data, _ = load_nifti(path, dtype=np.float64, ndim=(4,))
        if data.shape[-1] < 10:
            raise DataError(path, f"has only {data.shape[-1]} volumes; need >= 10 to fit noise")
        runs.append(RealRun(name, data, float(tr), Path(path)))
    return runs


def _detrend(y: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Residual and fitted trend of ``y`` ``(T, V)`` after a Legendre polynomial of ``degree``."""
    basis = legendre_drift(y.shape[0], degree)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    trend = basis @ coef
    return y - trend, trend


def fit_ar1(y: np.ndarray, *, degree: int = 2, bias_correct: bool = True) -> np.ndarray:
    """Lag-one autocorrelation per column of ``y`` ``(T, V)``, after polynomial detrending.

    Args:
        y: time series, time first.
        degree: Legendre degree of the trend removed first (-1: none, 0: the mean only).
        bias_correct: apply Kendall's small-sample correction ``(T r + 1) / (T - 3)``.

    Returns:
        ``(V,)`` AR(1) coefficients (the Yule-Walker estimate), clipped to ``[-0.99, 0.99]``.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] < 5:
        raise ValueError(f"y must be (T, V) with T >= 5, got {y.shape}")
    r = _detrend(y, max(degree, 0))[0] if degree >= 0 else y - y.mean(0)
    num = (r[1:] * r[:-1]).sum(0)
    den = (r * r).sum(0)
    rho = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    if bias_correct:
        t = y.shape[0]
        rho = (t * rho + 1.0) / (t - 3.0)
    return np.clip(rho, -0.99, 0.99)


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Noise statistics fitted on real fMRI.

    Attributes:
        sd_psc: per-scan noise SD of every fitted voxel, percent signal change (voxels draw
            theirs from these).
        rho_mean: mean AR(1) coefficient of the fitted voxels at ``tr_ref`` (bias-corrected).
        rho_spread: SD of the voxels' true AR(1) coefficients (observed spread minus sampling).
        tr_ref: the repetition time the AR(1) values refer to, s (voxel-weighted mean of the runs).
        shared_fraction: mean pairwise correlation of the voxels' residuals (a one-factor model's
            share of variance common to all voxels), averaged over runs.
        shared_rho_per_s: AR(1) decay per second of the shared component (median over the ROIs
            of nitime's resting-state series).
        drift_sd_psc: SD of the fitted quadratic trend, percent signal change, mean over runs.
        sources: ``name: TR`` of every series it was fitted on.
    """

    sd_psc: np.ndarray
    rho_mean: float
    rho_spread: float
    tr_ref: float
    shared_fraction: float
    shared_rho_per_s: float
    drift_sd_psc: float
    sources: dict[str, float]

    def rho_at(self, tr: float) -> float:
        """The voxels' mean AR(1) coefficient at repetition time ``tr`` (s), >= 0."""
        return float(max(self.rho_mean, 0.0) ** (tr / self.tr_ref))

    def sample_rho(self, n: int, tr: float, rng: np.random.Generator) -> np.ndarray:
        """``n`` voxels' AR(1) coefficients at ``tr``, clipped to [0, 0.95]."""
        rho = rng.normal(self.rho_mean, self.rho_spread, size=n)
        return np.clip(np.clip(rho, 0.0, 0.95) ** (tr / self.tr_ref), 0.0, 0.95)

    def summary(self, tr: float) -> str:
        """One sentence with the fitted values, AR(1) at repetition time ``tr``."""
        return (
            f"noise fitted on {len(self.sd_psc)} voxels of real fMRI and a resting-state ROI "
            f"series ({', '.join(self.sources)}): median SD {np.median(self.sd_psc):.2f} % "
            f"signal change per scan, voxel AR(1) {self.rho_at(tr):.2f} "
            f"(fitted {self.rho_mean:.3f} +- {self.rho_spread:.3f} at TR {self.tr_ref:.2f} s), "
            f"shared fraction {self.shared_fraction:.3f} with AR(1) "
            f"{self.shared_rho_per_s**tr:.2f} at TR {tr:g} s"
        )


def _fit_run(run: RealRun) -> dict[str, np.ndarray | float]:
    mean = run.data.mean(-1)
    mask = mean > 0.5 * np.percentile(mean, 98)
    y = run.data[mask].T  # (T, V)
    resid, trend = _detrend(y, 2)
    base = mean[mask]
    psc = 100.0 * resid / base
    sd = psc.std(0, ddof=3)
    z = (psc - psc.mean(0)) / np.maximum(sd, 1e-12)
    t, v = z.shape
    mean_corr = (np.sum(z.sum(1) ** 2) - np.sum(z * z)) / (v * (v - 1) * t)
    rho = fit_ar1(y, degree=2)
    return {
        "sd": sd,
        "rho": rho,
        "sampling_var": float(np.mean((1 - rho**2) / t)),
        "shared": float(max(mean_corr, 0.0)),
        "drift": float(np.mean((100.0 * (trend - trend.mean(0)) / base).std(0))),
    }


def fit_noise_model(runs: list[RealRun] | None = None) -> NoiseModel:
    """Fit :class:`NoiseModel` on real runs (default: the offline runs of :func:`real_runs`)."""
    runs = runs if runs is not None else real_runs()
    if not runs:
        raise ValueError("need at least one real run to fit the noise model")
    fits = [_fit_run(r) for r in runs]
    rho = np.concatenate([f["rho"] for f in fits])
    sampling = np.average([f["sampling_var"] for f in fits], weights=[f["rho"].size for f in fits])
    tr_ref = float(np.average([r.tr for r in runs], weights=[f["rho"].size for f in fits]))
    rois, roi_path = roi_series()
    roi_rho = np.clip(fit_ar1(rois, degree=2), 0.01, 0.99)
    return NoiseModel(
        sd_psc=np.concatenate([f["sd"] for f in fits]),
        rho_mean=float(rho.mean()),
        rho_spread=float(np.sqrt(max(rho.var() - sampling, 0.0))),
        tr_ref=tr_ref,
        shared_fraction=float(np.mean([f["shared"] for f in fits])),
        shared_rho_per_s=float(np.median(roi_rho) ** (1.0 / ROI_SERIES_TR)),
        drift_sd_psc=float(np.mean([f["drift"] for f in fits])),
        sources={**{r.name: r.tr for r in runs}, "nitime fmri_timeseries.csv": ROI_SERIES_TR},
    )


def legendre_drift(n_scans: int, degree: int) -> np.ndarray:
    """Legendre polynomials of degree ``0..degree`` over the run: ``(n_scans, degree + 1)``."""
    x = np.linspace(-1.0, 1.0, n_scans)
    return np.stack([np.polynomial.legendre.Legendre.basis(d)(x) for d in range(degree + 1)], 1)


def ar1_noise(
    n_scans: int,
    sd: np.ndarray,
    rho: np.ndarray,
    rng: np.random.Generator,
    *,
    shared_fraction: float = 0.0,
    shared_rho: float | None = None,
) -> np.ndarray:
    """Stationary AR(1) noise ``(n_scans, V)`` with SD ``sd`` and coefficient ``rho`` per voxel.

    A fraction ``shared_fraction`` of each voxel's variance comes from one common AR(1) time
    course (coefficient ``shared_rho``, default the median ``rho``) with a random sign per voxel.
    """
    sd, rho = np.asarray(sd, np.float64), np.asarray(rho, np.float64)
    if sd.shape != rho.shape or sd.ndim != 1:
        raise ValueError(f"sd {sd.shape} and rho {rho.shape} must be equal 1D shapes")
    if np.any(np.abs(rho) >= 1):
        raise ValueError("rho must lie strictly inside (-1, 1)")
    if not 0.0 <= shared_fraction < 1.0:
        raise ValueError(f"shared_fraction must lie in [0, 1), got {shared_fraction}")

    def unit_ar(r: np.ndarray, width: int) -> np.ndarray:
        w = rng.standard_normal((n_scans, width))
        out = np.empty_like(w)
        out[0] = w[0]
        scale = np.sqrt(1.0 - r * r)
        for t in range(1, n_scans):
            out[t] = r * out[t - 1] + scale * w[t]
        return out

    own = unit_ar(rho, rho.size)
    if shared_fraction > 0:
        g = unit_ar(np.array([np.median(rho) if shared_rho is None else shared_rho]), 1)
        sign = rng.choice([-1.0, 1.0], size=rho.size, p=[0.2, 0.8])
        own = np.sqrt(1 - shared_fraction) * own + np.sqrt(shared_fraction) * g * sign
    return own * sd


def data_files_exist() -> bool:
    """Whether every offline real fMRI file is present (for tests and error messages)."""
    return all(os.path.exists(p) for _, p, _ in real_sources())
