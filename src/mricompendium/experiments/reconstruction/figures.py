"""Tables and figures the reconstruction notebooks share (summaries of the long results).

Every function reads the long results table (:func:`mricompendium.claims.results_frame`) or the
curves; each figure function returns its matplotlib Figure (the notebook saves and shows it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mricompendium import claims

__all__ = ["full_budget", "plot_by_setting", "plot_curves", "plot_examples", "summary"]


def full_budget(df: pd.DataFrame) -> pd.DataFrame:
    """The rows at each (setting, method)'s largest budget."""
    top = df.groupby(["setting", "method"])["budget"].transform("max")
    return df[df["budget"] == top]


def summary(df: pd.DataFrame, metrics: Sequence[str], *, by_group: bool = True) -> pd.DataFrame:
    """Mean of each metric per setting, method (and group) at full budget, seeds pooled.

    Columns: setting, method, [group], seeds, cases, units, then ``<metric>`` means.
    """
    d = full_budget(df)
    keys = ["setting", "method"] + (["group"] if by_group else [])
    g = d.groupby(keys, sort=False)
    out = g[list(metrics)].mean()
    out.insert(0, "units", g["unit"].nunique())
    out.insert(0, "cases", g["case"].nunique())
    out.insert(0, "seeds", g["seed"].nunique())
    return out.reset_index()


def plot_by_setting(
    df: pd.DataFrame, metric: str, *, methods: Sequence[str], title: str = ""
) -> Any:
    """Mean ``metric`` per method in each setting (bars; error bars: sd over cases)."""
    import matplotlib.pyplot as plt

    d = full_budget(df)
    settings = list(dict.fromkeys(d["setting"]))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(settings) * len(methods) / 3 + 2), 3.0))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals = [d[(d["setting"] == s) & (d["method"] == m)][metric] for s in settings]
        ax.bar(np.arange(len(settings)) + (i - (len(methods) - 1) / 2) * width,
               [v.mean() for v in vals], width, yerr=[v.std() for v in vals], capsize=2,
               label=m)  # fmt: skip
    lo = float(d[d["method"].isin(methods)].groupby(["setting", "method"])[metric].mean().min())
    ax.set_ylim(max(0.0, lo - 0.15), min(1.05, ax.get_ylim()[1]))
    ax.set_xticks(np.arange(len(settings)), settings, fontsize=7, rotation=15)
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_curves(curves: Sequence[claims.Curve], *, title: str = "") -> Any:
    """Training loss (left) and validation metric (right) of every model and seed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    names = list(dict.fromkeys(c.method for c in curves))
    for c in curves:
        colour = f"C{names.index(c.method)}"
        loss = np.asarray(c.loss)
        k = max(1, len(loss) // 10)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        label = f"{c.method} (seed {c.seed})"
        axes[0].plot(np.arange(len(smooth)) + k, smooth, color=colour, alpha=0.8, label=label)
        if c.val:
            axes[1].plot(c.val_steps, c.val, "o-", ms=2, color=colour, alpha=0.8, label=label)
    axes[0].set(xlabel="step", ylabel="training L1 (smoothed)", yscale="log")
    metric = curves[0].val_metric if curves else ""
    axes[1].set(xlabel="step", ylabel=f"validation {metric}")
    axes[1].legend(fontsize=5, ncol=2)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_examples(
    target: np.ndarray, recons: Mapping[str, np.ndarray], scores: Mapping[str, float], title: str
) -> Any:
    """A reference and each method's reconstruction (magnitudes) with its score."""
    import matplotlib.pyplot as plt

    n = len(recons) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.45 * n, 3.0), squeeze=False)
    vmax = float(target.max())
    axes[0, 0].imshow(target, cmap="gray", vmin=0, vmax=vmax)
    axes[0, 0].set_title("reference", fontsize=6)
    axes[1, 0].axis("off")
    for j, (name, rec) in enumerate(recons.items(), start=1):
        axes[0, j].imshow(rec, cmap="gray", vmin=0, vmax=vmax)
        axes[0, j].set_title(f"{name}\n{scores.get(name, float('nan')):.3f}", fontsize=6)
        axes[1, j].imshow(np.abs(rec - target), cmap="magma", vmin=0, vmax=0.25 * vmax)
        axes[1, j].set_title("|error| x4", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return fig
