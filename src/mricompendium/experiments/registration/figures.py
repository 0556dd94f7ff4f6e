"""Figures the registration notebooks share: example pairs with Jacobian maps, training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from mricompendium.physics.deform import jacobian_determinant, warp

__all__ = ["plot_curves", "plot_examples"]


def _view(x: torch.Tensor) -> torch.Tensor:
    """A 2D view of ``(*S)``: the array itself, or the central slice of the last axis in 3D."""
    return x[..., x.shape[-1] // 2] if x.ndim == 3 else x


def plot_examples(
    pairs: Mapping[str, Any], disps: Mapping[str, torch.Tensor], index: int = 0, title: str = ""
) -> plt.Figure:
    """One pair: moving, fixed and each method's warped moving image (top); the labels and each
    method's Jacobian determinant (bottom, red where ``J <= 0``); 3D pairs show the central slice
    of the last axis."""
    cols = 2 + len(disps)
    fig, ax = plt.subplots(2, cols, figsize=(1.9 * cols, 4.0), squeeze=False)
    mov, fix = _view(pairs["moving"][index, 0]), _view(pairs["fixed"][index, 0])
    vmax = float(max(mov.max(), fix.max()))
    ax[0, 0].imshow(mov, cmap="gray", vmin=0, vmax=vmax)
    ax[0, 0].set_title("moving", fontsize=8)
    ax[0, 1].imshow(fix, cmap="gray", vmin=0, vmax=vmax)
    ax[0, 1].set_title("fixed", fontsize=8)
    nlab = int(max(pairs["moving_labels"].max(), pairs["fixed_labels"].max()))
    for j, key in enumerate(("moving_labels", "fixed_labels")):
        ax[1, j].imshow(
            _view(pairs[key][index, 0]),
            cmap="tab20",
            vmin=0,
            vmax=max(nlab, 1),
            interpolation="nearest",
        )
        ax[1, j].set_title(key.replace("_", " "), fontsize=8)
    for k, (name, disp) in enumerate(disps.items(), start=2):
        d = disp[index : index + 1].float()
        ax[0, k].imshow(
            _view(warp(pairs["moving"][index : index + 1], d)[0, 0]), cmap="gray", vmin=0, vmax=vmax
        )
        ax[0, k].set_title(name, fontsize=8)
        jac = _view(jacobian_determinant(d)[0]).numpy()
        ax[1, k].imshow(jac, cmap="coolwarm", vmin=0.0, vmax=2.0)
        if (jac <= 0).any():
            ax[1, k].contour(jac <= 0, levels=[0.5], colors="red", linewidths=0.8)
        ax[1, k].set_title(f"det J, {name}", fontsize=7)
    for a in ax.ravel():
        a.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_curves(curves: Sequence[Any], title: str = "") -> plt.Figure:
    """Validation metric against training step, one line per (method, seed)."""
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.0))
    methods = list(dict.fromkeys(c.method for c in curves))
    for c in curves:
        colour = f"C{methods.index(c.method)}"
        label = c.method if c.seed == min(x.seed for x in curves if x.method == c.method) else None
        k = max(1, len(c.loss) // 50)
        loss = np.convolve(c.loss, np.ones(k) / k, mode="valid")
        ax[0].plot(np.arange(len(loss)) + k, loss, color=colour, lw=0.8, label=label)
        ax[1].plot(c.val_steps, c.val, "o-", color=colour, ms=2, lw=0.8, label=label)
    ax[0].set(xlabel="step", ylabel="training loss (running mean)")
    metric = curves[0].val_metric if curves else ""
    ax[1].set(xlabel="step", ylabel=f"validation {metric}")
    ax[1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
