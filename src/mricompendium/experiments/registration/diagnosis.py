"""A case-level cancer classifier on T2-weighted + ADC images, and its AUROC after registration.

The downstream question of sequence registration in prostate MRI: does aligning the ADC map to
the T2-weighted image change a diagnostic model's case-level AUROC? The model here is small and
deterministic, so that the registration is the only thing that changes between readings:

* :func:`gland_features`: inside the gland as delineated on the T2-weighted image (the
  anatomical mask a diagnosis pipeline has, never the lesion), the 5th, 25th and 50th
  percentiles of the (warped) ADC and the ratio of the 5th percentile of T2-weighted signal to
  its median. A misaligned ADC map mixes periprostatic fat and rectal wall into the gland's
  percentiles; a restricted-diffusion lesion lowers the low ADC percentiles.
* :class:`LogisticModel`: L2-regularised logistic regression on standardised features, fitted by
  L-BFGS (scipy), deterministic.
* :func:`auroc_metric`: a per-case metric for :func:`~.evaluate.score_pairs`: the fitted model's
  AUROC jackknife pseudo-values on a pair set, its ADC map warped by the registration's field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import optimize

from mricompendium.metrics.classification import auroc_pseudovalues
from mricompendium.physics.deform import warp

__all__ = ["FEATURES", "LogisticModel", "auroc_metric", "gland_features", "warped_features"]

FEATURES = ("ADC p5", "ADC p25", "ADC p50", "T2w p5 / median")


def gland_features(adc: Any, t2w: Any, mask: Any) -> np.ndarray:
    """``(N, 4)`` features (:data:`FEATURES`) of ``(N, 1, H, W)`` ADC maps and T2-weighted
    images inside the ``(N, 1, H, W)`` gland masks of the T2-weighted frame."""
    a, t, m = (np.asarray(torch.as_tensor(x).detach().cpu())[:, 0] for x in (adc, t2w, mask))
    if not (a.shape == t.shape == m.shape):
        raise ValueError(f"adc {a.shape}, t2w {t.shape} and mask {m.shape} differ")
    out = []
    for ai, ti, mi in zip(a, t, m.astype(bool), strict=True):
        if mi.sum() < 4:
            raise ValueError("a gland mask holds fewer than 4 pixels")
        av, tv = ai[mi], ti[mi]
        p5, p25, p50 = np.percentile(av, (5, 25, 50))
        out.append([p5, p25, p50, np.percentile(tv, 5) / max(np.median(tv), 1e-9)])
    return np.asarray(out, dtype=np.float64)


def warped_features(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
    """:func:`gland_features` of ``pairs["adc"]`` warped by ``disp`` with ``pairs["fixed"]``
    (T2-weighted) and ``pairs["fixed_mask"]`` (its gland)."""
    return gland_features(warp(pairs["adc"], disp), pairs["fixed"], pairs["fixed_mask"])


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression: ``score = w . (x - mean) / sd + b`` (log-odds)."""

    mean: np.ndarray
    sd: np.ndarray
    weights: np.ndarray
    bias: float

    @classmethod
    def fit(cls, x: np.ndarray, y: Any, l2: float = 1e-2) -> LogisticModel:
        """Minimise the mean logistic loss plus ``l2 * |w|^2`` on standardised ``x`` ``(N, F)``."""
        x = np.asarray(x, dtype=np.float64)
        t = np.asarray(y, dtype=np.float64).ravel()
        if x.ndim != 2 or len(x) != len(t) or not np.isin(t, (0, 1)).all():
            raise ValueError("need features (N, F) and N labels in {0, 1}")
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        mean, sd = x.mean(0), x.std(0) + 1e-9
        z = (x - mean) / sd

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            logit = z @ w[1:] + w[0]
            err = 1.0 / (1.0 + np.exp(-logit)) - t
            value = np.mean(np.logaddexp(0.0, logit) - t * logit) + l2 * np.sum(w[1:] ** 2)
            return float(value), np.r_[err.mean(), z.T @ err / len(t) + 2 * l2 * w[1:]]

        w = optimize.minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B").x
        return cls(mean=mean, sd=sd, weights=w[1:], bias=float(w[0]))

    def score(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of cancer per case."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.sd @ self.weights + self.bias


def auroc_metric(model: LogisticModel) -> Callable[[Mapping[str, Any], torch.Tensor], np.ndarray]:
    """``fn(pairs, disp) -> (N,)`` AUROC pseudo-values of ``model`` on the pairs' labels
    (``pairs["cancer"]``), the ADC maps warped by ``disp``."""

    def fn(pairs: Mapping[str, Any], disp: torch.Tensor) -> np.ndarray:
        scores = model.score(warped_features(pairs, disp))
        return auroc_pseudovalues(scores, np.asarray(pairs["cancer"]).astype(bool))

    return fn
