"""Routines every segmentation notebook shares: train, predict, evaluate into per-case rows.

Two label layouts, as in the papers' code:

* **softmax** (mutually exclusive classes: tissues, skull-stripping): the target is an integer
  label map ``(B, 1, *spatial)`` or ``(B, *spatial)`` and the network has one output channel per
  class, background included; prediction is the arg-max.
* **multilabel** (overlapping regions: BraTS ET / TC / WT): the target is a multi-hot float map
  ``(B, C, *spatial)`` and each output channel is a sigmoid; prediction is ``logit > 0``.

Losses are MONAI's ``DiceCELoss`` (soft Dice + cross-entropy, each weight 1). Evaluation scores
binary masks ``(N, C, *spatial)`` with :mod:`mricompendium.metrics.segmentation` and returns one
row per case in the long format of :mod:`mricompendium.claims`, with per-class columns
``dice_<name>`` / ``hd95_<name>`` / ``msd_<name>``, their means ``dice`` / ``hd95`` / ``msd``, and
``degenerate`` (1.0 where a class the reference has was predicted empty: its Dice is 0 and its
surface distance the image diagonal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from torch import nn

from mricompendium import training
from mricompendium.metrics import segmentation as segmetrics

__all__ = [
    "SegLoss",
    "case_rows",
    "evaluate",
    "label_masks",
    "logits_of",
    "mean_dice_fn",
    "missed_classes",
    "predict",
    "predict_logits",
    "sampler",
    "train_segmenter",
]

METRICS = {"dice": None, "hd95": segmetrics.hd95, "msd": segmetrics.mean_surface_distance}


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a network's output: the tensor itself, or the first item of a tuple."""
    return output[0] if isinstance(output, tuple | list) else output


class SegLoss(nn.Module):
    """Soft Dice + cross-entropy for ``training.fit``: ``loss(model, (x, y)) -> scalar``.

    Args:
        multilabel: sigmoid per channel (multi-hot target) instead of a softmax (label map).
        lambda_dice: weight of the soft Dice term.
        lambda_ce: weight of the cross-entropy term.
        aux_weight: weight of an auxiliary loss the network returns as ``(logits, aux_loss)``
            (SegResNetVAE's VAE term; the paper weights its KL and L2 terms 0.1 each).
        include_background: whether the Dice term scores channel 0. Default: not for softmax
            (nnU-Net's Dice is over the foreground classes; a tiny structure is otherwise swamped
            by the background), and every channel for multilabel (all are regions).
    """

    def __init__(
        self,
        *,
        multilabel: bool = False,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        aux_weight: float = 0.1,
        include_background: bool | None = None,
    ) -> None:
        super().__init__()
        if include_background is None:
            include_background = multilabel
        self.multilabel = multilabel
        self.aux_weight = float(aux_weight)
        self.dice_ce = DiceCELoss(
            sigmoid=multilabel,
            softmax=not multilabel,
            to_onehot_y=not multilabel,
            include_background=include_background,
            lambda_dice=lambda_dice,
            lambda_ce=lambda_ce,
        )

    def forward(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        out = model(x)
        logits = logits_of(out)
        if not self.multilabel and y.ndim == logits.ndim - 1:
            y = y.unsqueeze(1)
        loss = self.dice_ce(logits, y.float() if self.multilabel else y.long())
        if isinstance(out, tuple | list) and len(out) > 1 and out[1] is not None:
            loss = loss + self.aux_weight * out[1]
        return loss


def sampler(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    patch_size: Sequence[int] | None = None,
    flip: bool = True,
    foreground_p: float = 0.0,
) -> training.BatchFn:
    """A batch function drawing random cases (random patches, random flips) from a training set.

    Args:
        x: images ``(N, C, *spatial)`` float.
        y: targets ``(N, K, *spatial)`` (multi-hot or a one-channel label map).
        batch_size: cases per batch (drawn with replacement).
        patch_size: crop this size at a uniformly random position; ``None`` = whole images.
        flip: flip each spatial axis with probability 0.5 (the same flips for image and target).
        foreground_p: probability that a patch is placed to contain a random foreground voxel
            (``y > 0`` in any channel), as nnU-Net oversamples foreground (0.33); else uniform.

    Returns:
        ``batch_fn(step, generator) -> (x_batch, y_batch)`` for :func:`mricompendium.training.fit`.
    """
    if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (N, C, *spatial)")
    spatial = x.shape[2:]
    patch = tuple(spatial) if patch_size is None else tuple(int(p) for p in patch_size)
    if len(patch) != len(spatial) or any(p > s for p, s in zip(patch, spatial, strict=True)):
        raise ValueError(f"patch_size {patch_size} must fit inside the image size {spatial}")

    fg = [torch.nonzero(y[i].ne(0).any(0)) for i in range(y.shape[0])] if foreground_p else []

    def batch_fn(step: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(x.shape[0], (batch_size,), generator=g)
        xs, ys = [], []
        for i in idx.tolist():
            lo = [
                int(torch.randint(s - p + 1, (1,), generator=g))
                for s, p in zip(spatial, patch, strict=True)
            ]
            if foreground_p and float(torch.rand(1, generator=g)) < foreground_p:
                lo = _around_foreground(fg[i], patch, spatial, g) or lo
            box = (slice(None),) + tuple(slice(a, a + p) for a, p in zip(lo, patch, strict=True))
            xi, yi = x[i][box], y[i][box]
            if flip:
                axes = [d + 1 for d in range(len(spatial)) if torch.rand(1, generator=g) < 0.5]
                xi, yi = (xi.flip(axes), yi.flip(axes)) if axes else (xi, yi)
            xs.append(xi)
            ys.append(yi)
        return torch.stack(xs), torch.stack(ys)

    return batch_fn


def _around_foreground(vox: torch.Tensor, patch, spatial, g) -> list[int] | None:
    """Patch corner so that a random foreground voxel lies inside, at a random position."""
    if len(vox) == 0:
        return None
    v = vox[int(torch.randint(len(vox), (1,), generator=g))].tolist()
    lo = []
    for c, p, s in zip(v, patch, spatial, strict=True):
        a, b = max(0, c - p + 1), min(c, s - p)
        lo.append(a + int(torch.randint(b - a + 1, (1,), generator=g)))
    return lo


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    roi_size: Sequence[int] | None = None,
    overlap: float = 0.5,
    sw_batch_size: int = 4,
    batch_size: int = 8,
) -> torch.Tensor:
    """Logits of ``model`` (eval mode, no grad) on images ``(N, C, *spatial)``, returned on CPU.

    ``roi_size=None`` runs whole images (``batch_size`` at a time); otherwise MONAI's sliding
    window with Gaussian weighting and ``overlap`` (the papers use 0.5-0.7).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    def run(t: torch.Tensor) -> torch.Tensor:
        return logits_of(model(t))

    outs = []
    for chunk in torch.split(x, batch_size):
        chunk = chunk.to(device)
        if roi_size is None:
            outs.append(run(chunk).float().cpu())
        else:
            out = sliding_window_inference(
                chunk, tuple(roi_size), sw_batch_size, run, overlap=overlap, mode="gaussian"
            )
            outs.append(out.float().cpu())
    model.train(was_training)
    return torch.cat(outs)


def predict(
    model: nn.Module, x: torch.Tensor, *, multilabel: bool = False, **kwargs
) -> torch.Tensor:
    """Discrete prediction: bool ``(N, C, *spatial)`` (multilabel: logit > 0) or an int64 label map
    ``(N, *spatial)`` (softmax: arg-max). ``kwargs`` go to :func:`predict_logits`."""
    logits = predict_logits(model, x, **kwargs)
    return logits > 0 if multilabel else logits.argmax(1)


def label_masks(labels: Any, values: Sequence[int]) -> np.ndarray:
    """Binary masks ``(N, len(values), *spatial)`` of a label map ``(N, *spatial)``."""
    lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return np.stack([lab == v for v in values], axis=1)


def _per_case(value: Sequence[Any] | Any, n: int, name: str) -> list[Any]:
    if isinstance(value, str | int):
        return [value] * n
    out = list(value)
    if len(out) != n:
        raise ValueError(f"{name} must have one entry per case ({n}), got {len(out)}")
    return out


def case_rows(
    pred: Any,
    target: Any,
    *,
    names: Sequence[str],
    setting: str,
    method: str,
    seed: int,
    budget: int,
    cases: Sequence[str],
    units: Sequence[str],
    groups: Sequence[str] | str,
    spacing: float | Sequence[float] | None = None,
    metrics: Sequence[str] = ("dice", "hd95"),
    empty_distance: float | None = None,
) -> list[dict[str, Any]]:
    """Score binary masks per case into rows of the claims long format.

    Args:
        pred: predicted masks ``(N, C, *spatial)`` (bool or 0/1; numpy or torch).
        target: reference masks, same shape.
        names: one name per channel (``"ET"``, ``"WM"`` ...): columns ``<metric>_<name>``.
        setting, method, seed, budget: the row keys of the claims format.
        cases, units: one id per case; ``groups``: one per case or one for all.
        spacing: voxel size in mm for the distances.
        metrics: any of ``"dice"``, ``"hd95"``, ``"msd"``; each also gets its mean over channels.
        empty_distance: distance when exactly one mask is empty (default: the image diagonal).

    Returns:
        A list of ``N`` dicts; each has ``degenerate`` = 1.0 where some class present in the
        reference was predicted empty (a missed structure), else 0.0.
    """
    p = pred.cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
    t = target.cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    if p.shape != t.shape or p.ndim < 4 or p.shape[1] != len(names):
        raise ValueError(f"pred {p.shape} and target {t.shape} must be (N, {len(names)}, *spatial)")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {sorted(METRICS)}")
    n = p.shape[0]
    keys = {
        "case": _per_case(cases, n, "cases"),
        "unit": _per_case(units, n, "units"),
        "group": _per_case(groups, n, "groups"),
    }
    rows = [
        {"setting": setting, "method": method, "seed": int(seed), "budget": int(budget)}
        | {k: str(v[i]) for k, v in keys.items()}
        for i in range(n)
    ]
    for metric in metrics:
        per_class = np.stack(
            [_score(metric, p[:, c], t[:, c], spacing, empty_distance) for c in range(len(names))],
            axis=1,
        )
        for i, row in enumerate(rows):
            row.update(
                {f"{metric}_{name}": float(v) for name, v in zip(names, per_class[i], strict=True)}
            )
            row[metric] = float(per_class[i].mean())
    for row, flag in zip(rows, missed_classes(p, t) > 0, strict=True):
        row["degenerate"] = float(flag)
    return rows


def missed_classes(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per case, the number of classes the reference has and the prediction leaves empty.

    Args:
        pred: binary masks ``(N, C, *spatial)``.
        target: reference masks, same shape.

    Returns:
        int64 ``(N,)``.
    """
    p = np.asarray(pred, dtype=bool).reshape(*pred.shape[:2], -1).any(-1)
    t = np.asarray(target, dtype=bool).reshape(*target.shape[:2], -1).any(-1)
    return (t & ~p).sum(axis=1)


def _score(metric: str, p: np.ndarray, t: np.ndarray, spacing, empty_distance) -> np.ndarray:
    if metric == "dice":
        return segmetrics.dice(p, t)
    return METRICS[metric](p, t, spacing, empty_distance=empty_distance)


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    target: Any,
    *,
    multilabel: bool,
    names: Sequence[str],
    labels: Sequence[int] | None = None,
    roi_size: Sequence[int] | None = None,
    postprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    **row_keys: Any,
) -> list[dict[str, Any]]:
    """Predict ``x`` and score it against ``target`` into per-case rows (see :func:`case_rows`).

    Args:
        model: the trained network.
        x: test images ``(N, C, *spatial)``.
        target: multi-hot masks ``(N, C, *spatial)`` (multilabel) or a label map ``(N, *spatial)``.
        multilabel: the model's layout (see the module docstring).
        names: one name per scored channel / label value.
        labels: softmax only: the label values to score (default ``1 .. len(names)``).
        roi_size: sliding-window size, or ``None`` for whole images.
        postprocess: a function of the predicted bool masks ``(N, C, *spatial)`` (e.g. keeping
            the largest connected component) applied before scoring.
        **row_keys: ``setting``, ``method``, ``seed``, ``budget``, ``cases``, ``units``, ``groups``,
            and optionally ``spacing``, ``metrics``.
    """
    pred = predict(model, x, multilabel=multilabel, roi_size=roi_size)
    if multilabel:
        pm, tm = (
            pred.numpy(),
            np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target),
        )
    else:
        values = list(labels) if labels is not None else list(range(1, len(names) + 1))
        pm, tm = label_masks(pred, values), label_masks(target, values)
    if postprocess is not None:
        pm = postprocess(pm)
    return case_rows(pm, tm.astype(bool), names=names, **row_keys)


def mean_dice_fn(
    x: torch.Tensor,
    target: Any,
    *,
    multilabel: bool,
    n_classes: int,
    roi_size: Sequence[int] | None = None,
) -> Callable[[nn.Module], float]:
    """A ``val_fn`` for ``training.fit``: mean Dice over cases and classes on a validation set.

    ``n_classes``: channels (multilabel) or foreground label values ``1 .. n_classes`` (softmax).
    """
    names = [str(i) for i in range(n_classes)]
    n = x.shape[0]
    keys = dict(
        setting="val",
        method="val",
        seed=0,
        budget=0,
        cases=[str(i) for i in range(n)],
        units=[str(i) for i in range(n)],
        groups="val",
        metrics=("dice",),
    )

    def val_fn(model: nn.Module) -> float:
        rows = evaluate(
            model, x, target, multilabel=multilabel, names=names, roi_size=roi_size, **keys
        )
        return float(np.mean([r["dice"] for r in rows]))

    return val_fn


def train_segmenter(
    model: nn.Module,
    batch_fn: training.BatchFn,
    *,
    steps: int,
    multilabel: bool = False,
    loss: nn.Module | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    **fit_kwargs: Any,
) -> training.History:
    """Train a segmenter with :func:`mricompendium.training.fit` and Dice + cross-entropy.

    Args:
        model: a network returning logits (or ``(logits, aux_loss)``).
        batch_fn: ``(step, generator) -> (x, y)``, e.g. from :func:`sampler`.
        steps: optimisation steps.
        multilabel: sigmoid regions (multi-hot ``y``) instead of softmax classes (label map ``y``).
        loss: a loss ``(model, batch) -> scalar``; default :class:`SegLoss` for ``multilabel``.
        lr: Adam learning rate.
        seed: seeds the batch stream (seed the initialisation before building the model).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``.
        **fit_kwargs: passed on (``val_fn``, ``val_every``, ``on_step``, ``scheduler``, ...).
    """
    loss_fn = loss if loss is not None else SegLoss(multilabel=multilabel)
    fit_kwargs.setdefault("progress", False)
    return training.fit(
        model, batch_fn, loss_fn, steps=steps, lr=lr, seed=seed, device=device, **fit_kwargs
    )
