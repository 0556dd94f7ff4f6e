"""Training plans of the segmentation notebooks (``python -m mricompendium.train <id>``).

A plan builds the notebook's training and validation cases with the notebook's functions and
parameters and, per method and training seed, the :func:`.tumour.fit_setup` call the notebook's
own training makes, so the checkpoints it writes are the models the notebook evaluates with
``checkpoint_dir``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from mricompendium import plans, provenance, training
from mricompendium.experiments.segmentation import tumour
from mricompendium.models.segmentation import monai_nets

__all__ = ["SWIN_UNETR_DATA", "swin_unetr"]

# The parameters of swin_unetr that make its training and validation cases (the notebook's
# `data_args`): checkpoints trained with other values are refused.
SWIN_UNETR_DATA = ("data_path", "brats_convention", "seed", "n_train", "n_val", "size",
                   "spacing_mm", "grid")  # fmt: skip


def _noop(model: torch.nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def swin_unetr(p: dict[str, Any], device: torch.device) -> plans.Plan:
    """S63 Swin UNETR: Swin UNETR, SegResNet and U-Net (widened to Swin UNETR's parameter count)
    at every seed, on 2D tumour slices (the notebook picks the stronger rival on validation)."""
    training.seed_everything(p["seed"])  # as the notebook does before its data
    base = 100_000 * p["seed"]
    if p["data_path"]:
        kw = dict(dims=2, size=p["size"], spacing_mm=p["spacing_mm"],
                  convention=p["brats_convention"])  # fmt: skip
        train = tumour.brats_cases(p["data_path"], max_cases=p["n_train"], skip=0, **kw)
        val = tumour.brats_cases(p["data_path"], max_cases=p["n_val"], skip=p["n_train"], **kw)
    else:
        kw = dict(dims=2, size=p["size"], spacing_mm=p["spacing_mm"], grid=p["grid"])
        train = tumour.synth_cases(p["n_train"], first_seed=base + 1_000, **kw)
        val = tumour.synth_cases(p["n_val"], first_seed=base + 2_000, **kw)
    shape = dict(dims=train.x.ndim - 2, size=int(train.x.shape[-1]))
    swin = tumour.build_model("Swin UNETR", width=p["swin_feature_size"], **shape)
    width = {"Swin UNETR": p["swin_feature_size"]}
    for name in ("SegResNet", "U-Net"):
        width[name] = tumour.matched_width(name, monai_nets.n_parameters(swin), **shape)
    half = p["train_steps"] // 2
    jobs = []
    for name, w in width.items():
        for s in p["seeds"]:
            setup = functools.partial(
                tumour.fit_setup, name, seed=s, train=train, val=val, steps=p["train_steps"],
                batch_size=p["batch_size"], lr=p["lr"], width=w, device=device,
                val_every=p["val_every"], on_step={half: _noop} if half >= 1 else None,
            )  # fmt: skip
            jobs.append(plans.Job(name, s, setup, val_metric="dice"))
    kind = "user" if p["data_path"] else "simulated"
    desc = f"training: {train.describe()}; validation: {len(val)} cases"
    info = provenance.data_info(kind, desc, p["data_path"] or None)
    fp = plans.data_fingerprint(info, {k: p[k] for k in SWIN_UNETR_DATA})
    return plans.Plan("swin_unetr", jobs, fp, desc, cpu_bf16=True)  # 2.5x on a CPU (make bench)
