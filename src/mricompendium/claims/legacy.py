"""The first verdict helpers (per-slice paired tests), kept until every notebook uses the engine.

Superseded by :mod:`mricompendium.claims.engine`; new notebooks must not use this module.

From per-case numbers to a verdict and the notebook's metrics JSON.

A paper's claim is tested as one or more paired comparisons over the same test cases (method A vs
method B, e.g. per-slice SSIM). Each :class:`Comparison` holds a seeded bootstrap percentile CI of
the mean paired difference and a one-sided Wilcoxon signed-rank p-value; it *holds* when both agree
with the claimed direction. :func:`verdict` turns comparisons into ``reproduced`` / ``partial`` /
``not_reproduced``, and :func:`write_metrics` writes ``reports/metrics/<id>.json`` (schema in
``ARCHITECTURE.md``) atomically, with the evaluation protocol and the software environment.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

from mricompendium import paths
from mricompendium.claims.record import round_floats
from mricompendium.io import atomic_write_json

__all__ = [
    "VERDICTS",
    "Comparison",
    "environment_info",
    "paired_comparison",
    "round_floats",
    "verdict",
    "write_metrics",
]

VERDICTS: tuple[str, ...] = ("reproduced", "partial", "not_reproduced")
_PACKAGES = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "sigpy": "sigpy",
    "mricompendium": "mricompendium",
}


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A paired comparison of method ``a`` against method ``b`` over the same ``n`` cases.

    ``mean_diff`` is ``mean(a - b)``; ``[ci_low, ci_high]`` its bootstrap percentile CI at level
    ``1 - alpha``; ``p_value`` the one-sided Wilcoxon signed-rank p-value for ``direction``;
    ``holds`` is ``p_value < alpha`` and the CI excluding 0 on the claimed side.
    """

    metric: str
    label_a: str
    label_b: str
    direction: str
    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    n_boot: int
    seed: int
    holds: bool

    def summary(self) -> str:
        """One line of evidence.

        Example: ``VarNet - CS SSIM +0.012 [0.008, 0.016] (paired, n=40, Wilcoxon p=0.003)``.
        """
        return (
            f"{self.label_a} - {self.label_b} {self.metric} {self.mean_diff:+.3g} "
            f"[{self.ci_low:.3g}, {self.ci_high:.3g}] "
            f"(paired, n={self.n}, Wilcoxon p={self.p_value:.2g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields plus ``summary``, JSON-ready."""
        return {**dataclasses.asdict(self), "summary": self.summary()}


def _per_case(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one value per case (1-D), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _bootstrap_ci(d: np.ndarray, *, n_boot: int, seed: int, alpha: float) -> tuple[float, float]:
    """Percentile CI of ``mean(d)`` from ``n_boot`` resamples of the cases (seeded)."""
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // d.size)  # bound memory at ~16 MB of indices
    for i in range(0, n_boot, chunk):
        k = min(chunk, n_boot - i)
        means[i : i + k] = d[rng.integers(0, d.size, size=(k, d.size))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _wilcoxon(d: np.ndarray, direction: str) -> float:
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # ties/zeros: normal approximation
        res = stats.wilcoxon(d, alternative=direction)
    p = float(res.pvalue)
    return 1.0 if math.isnan(p) else p


def paired_comparison(
    a: Any,
    b: Any,
    *,
    direction: Literal["greater", "less"] = "greater",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    label_a: str = "a",
    label_b: str = "b",
    metric: str = "SSIM",
) -> Comparison:
    """Test the claim "``a`` is ``direction`` than ``b``" on paired per-case values.

    Args:
        a: per-case values of method A, shape ``(n,)`` (numpy, torch or list), finite.
        b: per-case values of method B on the same cases, shape ``(n,)``.
        direction: ``"greater"`` (A better when higher, e.g. SSIM) or ``"less"`` (e.g. NMSE).
        n_boot: bootstrap resamples for the CI of the mean difference.
        seed: seed of the bootstrap resampling.
        alpha: significance level of the one-sided test; the CI is two-sided at ``1 - alpha``.
        label_a: name of method A (used in :meth:`Comparison.summary`).
        label_b: name of method B.
        metric: name of the metric.

    Returns:
        A :class:`Comparison`.
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    xa, xb = _per_case(a, "a"), _per_case(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"a and b must be paired (same length), got {xa.size} and {xb.size}")
    if xa.size < 2:
        raise ValueError(f"a paired comparison needs at least 2 cases, got {xa.size}")
    d = xa - xb
    low, high = _bootstrap_ci(d, n_boot=n_boot, seed=seed, alpha=alpha)
    p = _wilcoxon(d, direction)
    excludes_zero = low > 0 if direction == "greater" else high < 0
    return Comparison(
        metric=metric,
        label_a=label_a,
        label_b=label_b,
        direction=direction,
        n=int(d.size),
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        mean_diff=float(d.mean()),
        ci_low=low,
        ci_high=high,
        p_value=p,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
        holds=bool(p < alpha and excludes_zero),
    )


def verdict(comparisons: Sequence[Comparison], *, required: Sequence[bool] | None = None) -> str:
    """Combine comparisons into a verdict.

    ``"reproduced"`` if every comparison holds, ``"partial"`` if some hold, ``"not_reproduced"`` if
    none does. With ``required`` (one flag per comparison), a required comparison that fails gives
    ``"not_reproduced"`` whatever the others show; the claim's core must hold for any credit.

    Args:
        comparisons: the claim's comparisons (at least one).
        required: optional flags marking the comparisons that must hold.

    Returns:
        One of :data:`VERDICTS`.
    """
    comparisons = list(comparisons)
    if not comparisons:
        raise ValueError("verdict needs at least one comparison")
    if not all(isinstance(c, Comparison) for c in comparisons):
        raise TypeError("verdict expects Comparison objects (from paired_comparison)")
    holds = [c.holds for c in comparisons]
    if required is not None:
        required = list(required)
        if len(required) != len(comparisons):
            raise ValueError(
                f"required has {len(required)} flags for {len(comparisons)} comparisons"
            )
        if any(r and not h for r, h in zip(required, holds, strict=True)):
            return "not_reproduced"
    if all(holds):
        return "reproduced"
    return "partial" if any(holds) else "not_reproduced"


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_info(*, seed: int, device: str) -> dict[str, Any]:
    """Versions, platform, device, seed and git commit, for the metrics JSON.

    Returns:
        ``{"python", "platform", "torch", "numpy", "scipy", "skimage", "sigpy", "mricompendium",
        "device", "device_name", "seed", "git_commit", "git_dirty"}``; a missing package, or a
        tree that is not a git checkout, gives ``None``. ``git_dirty`` ignores untracked files.
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{key: _version(dist) for key, dist in _PACKAGES.items()},
        "device": str(device),
        "device_name": _device_name(str(device)),
        "seed": int(seed),
    }
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    info["git_commit"] = commit
    info["git_dirty"] = None if status is None else bool(status)
    return info


def _device_name(device: str) -> str | None:
    if not device.startswith("cuda") or "torch" not in sys.modules:
        return None
    torch = sys.modules["torch"]
    try:
        return torch.cuda.get_device_name(torch.device(device))
    except (RuntimeError, AssertionError, ValueError):
        return None


def _check_section(name: str, value: Any, keys: tuple[str, ...] = ()) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{name} lacks keys {missing}")


def write_metrics(
    path: str | os.PathLike[str],
    *,
    id: str,
    seed_paper: str,
    family: str,
    claim: str,
    verdict: str,
    evidence: str,
    paper: dict[str, Any],
    ours: dict[str, Any],
    scale: dict[str, Any],
    runtime_s: float,
    protocol: dict[str, Any],
    seed: int,
    device: str,
    comparisons: Sequence[Comparison | Mapping[str, Any]] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and atomically write a notebook's metrics JSON; return what was written.

    Args:
        path: the target, usually ``paths.output_root(...) / "metrics" / f"{id}.json"``.
        id: the notebook id.
        seed_paper: the paper's S-number, e.g. ``"S02"``.
        family: e.g. ``"reconstruction"``.
        claim: the claim under test, in one or two sentences.
        verdict: one of :data:`VERDICTS` (from :func:`verdict`, never typed by hand).
        evidence: the key numbers, e.g. the comparisons' :meth:`Comparison.summary` lines.
        paper: ``{"metric": ..., "values": {...}}`` as the paper reports.
        ours: ``{"metric": ..., "values": {...}}`` as measured here.
        scale: sizes of this run, e.g. ``{"train_cases", "test_cases", "epochs", "device"}``.
        runtime_s: wall time of the notebook's experiment in seconds.
        protocol: the evaluation protocol, e.g. ``metrics.protocol_description(...)``.
        seed: the notebook's seed.
        device: the device the experiment ran on.
        comparisons: the :class:`Comparison` objects (or their dicts) behind the verdict.
        extra: anything else worth keeping, stored under ``"extra"``.

    Returns:
        The dict written (floats rounded to 6 significant digits, non-finite -> ``None``).
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    for name, value in (("id", id), ("seed_paper", seed_paper), ("family", family)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    for name, value in (("claim", claim), ("evidence", evidence)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
    _check_section("paper", paper, ("metric", "values"))
    _check_section("ours", ours, ("metric", "values"))
    _check_section("scale", scale)
    _check_section("protocol", protocol)
    if not (isinstance(runtime_s, int | float) and math.isfinite(runtime_s) and runtime_s >= 0):
        raise ValueError(f"runtime_s must be a finite number >= 0, got {runtime_s!r}")
    record = {
        "id": id,
        "seed_paper": seed_paper,
        "family": family,
        "claim": claim,
        "verdict": verdict,
        "evidence": evidence,
        "paper": dict(paper),
        "ours": dict(ours),
        "scale": dict(scale),
        "runtime_s": float(runtime_s),
        "protocol": dict(protocol),
        "environment": environment_info(seed=seed, device=device),
        "comparisons": [c.to_dict() if isinstance(c, Comparison) else dict(c) for c in comparisons],
    }
    if extra is not None:
        _check_section("extra", extra)
        record["extra"] = dict(extra)
    record = round_floats(record)
    atomic_write_json(path, record, indent=2, sort_keys=True, allow_nan=False)
    return record
