"""Training and evaluation of the self-configured U-Net (S88): a plan's data, network and rules.

Uses :mod:`mricompendium.experiments.segmentation.autoconfig` for the plan (patch size, spacing,
normalisation, topology) and its post-processing rule; here the preprocessed cases are stacked
for patch sampling, the plain or residual-encoder U-Net is trained with
:func:`mricompendium.training.fit`, and whole volumes are predicted with a sliding window and
scored per case, with and without the rule's connected-component post-processing.
:func:`matched_plan` widens a plan's network until it has as many parameters as another (a fair
parameter budget for the plain U-Net against the residual encoder), and :func:`floor_cases`
gives the trivial answers (the empty mask, the training labels' per-voxel majority).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mricompendium import training
from mricompendium.experiments.segmentation import common, floors
from mricompendium.experiments.segmentation.autoconfig import (
    Fingerprint,
    Plan,
    Postprocessing,
    build_network,
    plan_postprocessing,
    preprocess,
)
from mricompendium.metrics import segmentation as segmetrics

__all__ = [
    "Prepared",
    "floor_cases",
    "matched_plan",
    "n_parameters",
    "predict_cases",
    "prepare",
    "score_cases",
    "train_variant",
]


@dataclass
class Prepared:
    """Preprocessed cases: a padded training stack and per-case tensors for inference.

    Attributes:
        x: float32 ``(N, C, *shape)`` padded with zeros to a common shape (for patch sampling).
        y: int64 ``(N, 1, *shape)`` labels, padded with background.
        images: per-case float32 ``(C, *spatial)`` (unpadded); labels: per-case int64.
        cases: case ids (each its own unit).
    """

    x: torch.Tensor
    y: torch.Tensor
    images: list[torch.Tensor]
    labels: list[torch.Tensor]
    cases: list[str]


def prepare(volumes: Sequence, p: Plan, fp: Fingerprint) -> Prepared:
    """Preprocess :class:`~mricompendium.experiments.segmentation.tumour.Volume` s with a plan."""
    imgs, labs = [], []
    for v in volumes:
        img, lab = preprocess(v.image, v.labels, v.spacing_mm, p, fp)
        imgs.append(torch.from_numpy(img))
        labs.append(torch.from_numpy(lab))
    shape = np.max([i.shape[1:] for i in imgs], axis=0)
    shape = np.maximum(shape, p.patch_size)
    x = torch.zeros(len(imgs), imgs[0].shape[0], *shape)
    y = torch.zeros(len(imgs), 1, *shape, dtype=torch.int64)
    for k, (img, lab) in enumerate(zip(imgs, labs, strict=True)):
        box = tuple(slice(0, s) for s in img.shape[1:])
        x[(k, slice(None), *box)] = img
        y[(k, 0, *box)] = lab
    return Prepared(x, y, imgs, labs, [v.case for v in volumes])


def predict_cases(model: torch.nn.Module, data: Prepared, p: Plan) -> list[np.ndarray]:
    """Sliding-window (patch-size windows, 0.5 overlap) arg-max label maps, one per case."""
    return [
        common.predict(model, img[None], roi_size=p.patch_size, overlap=0.5)[0].numpy()
        for img in data.images
    ]


def score_cases(
    preds: Sequence[np.ndarray], data: Prepared, *, regions: dict[str, Sequence[int]], spacing,
    **keys,
) -> list[dict]:  # fmt: skip
    """Per-case rows: Dice and HD95 of each region (a set of class values) and their means.

    For the tumour classes (1 NCR, 2 ED, 3 ET) the BraTS regions are
    ``{"ET": (3,), "TC": (1, 3), "WT": (1, 2, 3)}``, as nnU-Net's BraTS evaluation does.
    """
    rows = []
    for pred, lab, case in zip(preds, data.labels, data.cases, strict=True):
        pm = np.stack([np.isin(pred, v) for v in regions.values()])[None]
        tm = np.stack([np.isin(lab.numpy(), v) for v in regions.values()])[None]
        rows += common.case_rows(pm, tm, names=list(regions), cases=[case], units=[case],
                                 spacing=spacing, **keys)  # fmt: skip
    return rows


def _variant_rows(model, test, val, p, *, method, regions, n_classes, budget, **keys):
    """Rows of ``method`` and ``method+CC`` (rule 7 chosen on ``val``) at ``budget``."""
    pp = plan_postprocessing(predict_cases(model, val, p), [x.numpy() for x in val.labels],
                             range(1, n_classes))  # fmt: skip
    preds = predict_cases(model, test, p)
    cc = [pp.apply(pr[None])[0] for pr in preds]
    kw = dict(regions=regions, spacing=p.spacing, budget=budget, **keys)
    rows = score_cases(preds, test, method=method, **kw)
    return rows + score_cases(cc, test, method=f"{method}+CC", **kw), pp


def train_variant(
    p: Plan,
    *,
    residual_encoder: bool,
    method: str,
    seed: int,
    train: Prepared,
    val: Prepared,
    test: Prepared,
    steps: int,
    lr: float,
    n_classes: int,
    regions: dict[str, Sequence[int]],
    setting: str,
    group: str,
    device: str | torch.device = "cpu",
    val_every: int | None = None,
    foreground_p: float = 0.33,
) -> dict:
    """Train the plan's U-Net (plain or residual encoder) and score it with and without CC.

    The network has ``n_classes`` softmax outputs (background included; Dice + CE loss, Adam with
    a cosine schedule instead of nnU-Net's SGD with poly decay); test cases are scored on
    ``regions`` (see :func:`score_cases`); validation (curves) is the mean class Dice.

    Returns ``{"rows", "history", "n_parameters", "train_s", "postprocessing"}``: rows for
    ``method`` and ``method+CC`` (connected-component post-processing chosen by rule 7 on the
    validation cases) at full and half budget, and the final rule-7 decision in words.
    """
    training.seed_everything(seed)
    model = build_network(p, in_channels=train.x.shape[1], out_channels=n_classes,
                          residual_encoder=residual_encoder)  # fmt: skip
    keys = dict(method=method, regions=regions, setting=setting, seed=seed, groups=group)
    half = steps // 2

    def val_fn(m: torch.nn.Module) -> float:
        preds, classes = predict_cases(m, val, p), range(1, n_classes)
        dice = [segmetrics.dice_per_class(a[None], b.numpy()[None], classes).mean()
                for a, b in zip(preds, val.labels, strict=True)]  # fmt: skip
        return float(np.mean(dice))

    def at(m: torch.nn.Module, budget: int) -> tuple[list[dict], Postprocessing]:
        return _variant_rows(m, test, val, p, n_classes=n_classes, budget=budget, **keys)

    on_step = {half: lambda m: at(m, half)} if half else None
    fn = common.sampler(train.x, train.y, batch_size=p.batch_size, patch_size=p.patch_size,
                        foreground_p=foreground_p)  # fmt: skip
    t0 = time.perf_counter()
    hist = common.train_segmenter(model, fn, steps=steps, lr=lr, seed=seed, device=device,
                                  val_fn=val_fn, val_every=val_every, on_step=on_step,
                                  scheduler="cosine")  # fmt: skip
    train_s = time.perf_counter() - t0
    rows, pp = at(model.eval(), steps)
    rows += hist.snapshots[half][0] if half else []
    return {"rows": rows, "history": hist, "n_parameters": _n_params(model), "train_s": train_s,
            "postprocessing": pp.describe()}  # fmt: skip


def _n_params(model: torch.nn.Module) -> int:
    return sum(q.numel() for q in model.parameters() if q.requires_grad)


def n_parameters(p: Plan, *, in_channels: int, out_channels: int, residual_encoder: bool) -> int:
    """Trainable parameters of the plan's U-Net (plain or residual encoder)."""
    return _n_params(build_network(p, in_channels=in_channels, out_channels=out_channels,
                                   residual_encoder=residual_encoder))  # fmt: skip


def matched_plan(
    p: Plan, target: int, *, in_channels: int, out_channels: int, residual_encoder: bool = False
) -> Plan:
    """``p`` with every stage's features scaled by one factor, chosen so that its network has
    the parameter count closest to ``target`` (the first stage's features stay >= 1)."""

    def scaled(base: int) -> Plan:
        feats = tuple(max(1, round(f * base / p.features[0])) for f in p.features)
        note = f"features {feats}: scaled to {target:,} parameters (a matched budget)"
        return dataclasses.replace(p, features=feats, rules=(*p.rules, note))

    def count(base: int) -> int:
        return n_parameters(scaled(base), in_channels=in_channels, out_channels=out_channels,
                            residual_encoder=residual_encoder)  # fmt: skip

    hi = 1
    while count(hi) < target:
        hi *= 2
    lo = max(1, hi // 2)
    while lo < hi:  # the smallest first-stage width whose count reaches the target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    return scaled(min({max(1, lo - 1), lo}, key=lambda b: abs(count(b) - target)))


def floor_cases(kind: str, data: Prepared, train: Prepared) -> list[np.ndarray]:
    """The trivial label maps of ``data``'s cases: ``"empty mask"`` (all background) or
    ``"majority map"`` (the per-voxel majority of ``train``'s labels, cropped or padded with
    background to each case's shape)."""
    if kind not in floors.FLOORS:
        raise ValueError(f"kind must be one of {floors.FLOORS}, got {kind!r}")
    prior = floors.majority_map(train.y[:, 0]) if kind == "majority map" else None
    out = []
    for lab in data.labels:
        pred = np.zeros(tuple(lab.shape), dtype=np.int64)
        if prior is not None:
            box = tuple(slice(0, min(a, b)) for a, b in zip(pred.shape, prior.shape, strict=True))
            pred[box] = prior[box]
        out.append(pred)
    return out
