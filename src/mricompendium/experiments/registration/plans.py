"""Training plans of the registration notebooks (``python -m mricompendium.train <id>``).

A plan builds the notebook's pairs with the notebook's functions and parameters and, per method
and training seed, the :func:`.evaluate.fit_setup` call the notebook's own training makes, so the
checkpoints it writes are the models the notebook evaluates with ``checkpoint_dir``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from mricompendium import plans, provenance, training
from mricompendium.experiments.registration import evaluate, protocols
from mricompendium.experiments.registration.objective import LossConfig

__all__ = ["DDMR_DATA", "ddmr"]

# The parameters of ddmr that make its training and validation pairs (the notebook's
# `data_args`): checkpoints trained with other values are refused.
DDMR_DATA = ("seed", "image_size", "ndim", "template_mm", "n_parcels", "amplitude_mm",
             "control_spacing_mm", "test_deformation", "n_val")  # fmt: skip


def _noop(model: torch.nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def ddmr(p: dict[str, Any], device: torch.device) -> plans.Plan:
    """S08 DDMR: VoxelMorph without and with segmentation guidance, with uncertainty weighting,
    and the control at the weights it learned, at every seed (the control after UW)."""
    training.seed_everything(p["seed"])  # as the notebook does before its data
    data = protocols.brain_pairs(p["image_size"], n_parcels=p["n_parcels"],
                                 amplitude_mm=p["amplitude_mm"],
                                 control_spacing_mm=p["control_spacing_mm"],
                                 test_deformation=p["test_deformation"], seed=p["seed"],
                                 ndim=p["ndim"], template_mm=p["template_mm"])  # fmt: skip
    val = data.val.fixed_set(p["n_val"], seed=p["seed"] + 1000)
    batch_fn = functools.partial(data.train.batch, batch_size=p["batch_size"])
    guided = dict(smoothness=p["smoothness"], n_labels=data.anatomies.n_labels)
    common = dict(steps=p["train_steps"], lr=p["lr"], device=device, val_pairs=val,
                  val_every=p["val_every"], scale=p["scale"],
                  overrides={"ndim": p["ndim"]})  # fmt: skip

    def setup(cfg: LossConfig, seed: int, half: bool) -> plans.FitCall:
        return evaluate.fit_setup("VoxelMorph", cfg, batch_fn, seed=seed,
                                  half_budget=_noop if half else None, **common)  # fmt: skip

    def control(seed: int, uw: torch.nn.Module) -> plans.FitCall:  # as the notebook's control
        w = uw.weighting.weights()
        cfg = LossConfig(similarity_weight=w["similarity"], dice=w["dice"], **guided)
        return setup(cfg, seed, False)

    variants = {
        "VoxelMorph": (LossConfig(smoothness=p["smoothness"]), True),
        "VoxelMorph+seg": (LossConfig(dice=p["dice_weight"], **guided), True),
        "VoxelMorph+seg+UW": (LossConfig(dice=p["dice_weight"], adaptive=True, **guided), False),
    }
    jobs = []
    for s in p["seeds"]:
        for name, (cfg, half) in variants.items():
            jobs.append(plans.Job(name, s, functools.partial(setup, cfg, s, half),
                                  val_metric="dice"))  # fmt: skip
        jobs.append(plans.Job("VoxelMorph+seg+fixedUW", s, functools.partial(control, s),
                              needs=("VoxelMorph+seg+UW",), val_metric="dice"))  # fmt: skip
    desc = data.description(p["n_val"], p["n_test"])
    info = provenance.data_info("simulated", desc)
    fp = plans.data_fingerprint(info, {k: p[k] for k in DDMR_DATA})
    return plans.Plan("ddmr", jobs, fp, desc)
