"""Quantitative evaluation of two-echo reconstructions: the echo-ratio T2 map error beside SSIM,
and how far the two metrics agree (the discordance SKM-TEA argues for).

The T2 maps of a reconstruction and of its reference are computed with the same estimate
(:func:`~mricompendium.physics.qdess.t2_from_echoes`), as SKM-TEA compares T2 from a reconstruction
with T2 from the fully sampled reference; the error is the mean absolute relative difference
inside the case's region (``region`` of the batch: grey matter in the simulation, cartilage in
SKM-TEA).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from mricompendium import metrics
from mricompendium.data.recon.frames import FrameBatch
from mricompendium.physics.qdess import QDessProtocol, t2_from_echoes

__all__ = ["qdess_metrics", "rank_agreement", "reference_t2_bias", "spearman_discordance"]


def qdess_metrics(
    protocol: QDessProtocol, head: np.ndarray | None = None
) -> Callable[[FrameBatch, torch.Tensor], dict[str, float]]:
    """``extra(batch, magnitude) -> metrics`` for :func:`~.multiframe.evaluate_frames`.

    Args:
        protocol: the acquisition's timing (the T2 estimate's assumptions).
        head: bool ``(N, H, W)`` per case index (the SSIM region); ``None``: the whole image.

    Returns:
        A function giving ``ssim_head`` (mean over the two echoes, magnitudes divided by the
        reference's maximum), ``t2_error`` (mean ``|T2 - T2_ref| / T2_ref`` in the region: the
        T2-map error), ``t2_log_error`` (its natural logarithm: a difference of 0.0513 is a 5 %
        relative change) and ``t2_mean_error`` (``|mean T2 - mean T2_ref| / mean T2_ref`` over
        the region: the error of the region's mean T2, the quantity SKM-TEA's qMRI metric
        reports per tissue).
    """

    def extra(batch: FrameBatch, mag: torch.Tensor) -> dict[str, float]:
        if len(batch) != 1 or mag.shape[1] != 2:
            raise ValueError("qdess_metrics takes one case with two echoes at a time")
        ref = batch.target_abs.float().cpu()[0]
        rec = mag.float().cpu()[0]
        peak = ref.max()
        i = int(batch.indices[0])
        region = torch.ones(ref.shape[-2:], dtype=torch.bool) if head is None else (
            torch.from_numpy(np.asarray(head[i], bool)))  # fmt: skip
        win = min(7, ref.shape[-1] - (1 - ref.shape[-1] % 2))
        ssim = metrics.ssim(rec / peak, ref / peak, data_range=1.0, win_size=win,
                            mask=region.expand(2, *region.shape)).mean()  # fmt: skip
        t2_ref = t2_from_echoes(ref[0], ref[1], protocol=protocol)
        t2 = t2_from_echoes(rec[0], rec[1], protocol=protocol)
        roi = batch.region.cpu()[0].bool()
        err = float(((t2 - t2_ref).abs() / t2_ref)[roi].mean())
        mean_ref = float(t2_ref[roi].mean())
        return {"ssim_head": float(ssim), "t2_error": err,
                "t2_log_error": float(np.log(max(err, 1e-9))),
                "t2_mean_error": abs(float(t2[roi].mean()) - mean_ref) / mean_ref}  # fmt: skip

    return extra


def spearman_discordance(
    df: pd.DataFrame, method: str, setting: str, a: str = "ssim_head", b: str = "t2_error"
) -> tuple[float, tuple[float, float]]:
    """Spearman's rho between ``a`` and ``b`` over the test cases of ``method`` in ``setting``
    (each case's values averaged over seeds at the full budget), with a 95 % interval from
    Fisher's z (standard error ``1.06 / sqrt(n - 3)``, Fieller et al. 1957)."""
    d = df[(df["method"] == method) & (df["setting"] == setting)]
    d = d[d["budget"] == d["budget"].max()].groupby("case")[[a, b]].mean()
    n = len(d)
    if n < 4:
        raise ValueError(f"need at least 4 cases for a rank correlation, got {n}")
    rho = float(stats.spearmanr(d[a], d[b]).statistic)
    z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.06 / np.sqrt(n - 3)
    return rho, (float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se)))


def rank_agreement(
    df: pd.DataFrame, setting: str, methods: Sequence[str], a: str = "ssim_head",
    b: str = "t2_error",
) -> dict[str, object]:  # fmt: skip
    """The methods ranked by mean ``a`` (higher better) and by mean ``b`` (lower better), and
    whether the two orders agree."""
    d = df[(df["setting"] == setting) & df["method"].isin(methods)]
    d = d[d["budget"] == d.groupby("method")["budget"].transform("max")]
    means = d.groupby("method")[[a, b]].mean()
    by_a = list(means[a].sort_values(ascending=False).index)
    by_b = list(means[b].sort_values(ascending=True).index)
    return {"by_" + a: by_a, "by_" + b: by_b, "agree": by_a == by_b}


def reference_t2_bias(
    reference: torch.Tensor, t2_true: np.ndarray, roi: np.ndarray, purity: np.ndarray, *,
    protocol: QDessProtocol, pure: float = 0.9,
) -> dict[str, float]:  # fmt: skip
    """How far the echo-ratio T2 of fully sampled references is from the tissue T2.

    Args:
        reference: ``(N, 2, H, W)`` reference echoes (magnitudes or complex).
        t2_true: ``(N, H, W)`` the dominant tissue's T2 (ms); ``roi`` bool ``(N, H, W)``.
        purity: ``(N, H, W)`` the dominant tissue's fraction; ``pure``: the fraction above
            which a pixel counts as one tissue.

    Returns:
        ``median_fit``, ``median_true`` (ms) and ``median_rel`` (median ``|fit - true| / true``)
        over the region, ``median_rel_pure`` over its pixels of one tissue (NaN if none),
        ``median_signed_pure`` (the median signed relative difference there) and the pixel
        counts ``n`` and ``n_pure``.
    """
    ref = reference.abs().float().cpu()
    fit = t2_from_echoes(ref[:, 0], ref[:, 1], protocol=protocol).numpy()
    roi = np.asarray(roi, bool)
    sel = roi & (np.asarray(purity) >= pure)
    rel = (fit - t2_true) / t2_true
    nan = float("nan")
    return {"median_fit": float(np.median(fit[roi])), "median_true": float(np.median(t2_true[roi])),
            "median_rel": float(np.median(np.abs(rel[roi]))),
            "median_rel_pure": float(np.median(np.abs(rel[sel]))) if sel.any() else nan,
            "median_signed_pure": float(np.median(rel[sel])) if sel.any() else nan,
            "n": int(roi.sum()), "n_pure": int(sel.sum())}  # fmt: skip
