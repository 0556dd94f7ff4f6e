"""Training plans of the reconstruction notebooks (``python -m mricompendium.train <id>``).

A plan builds the notebook's data with the notebook's functions and parameters and, per method
and training seed, the :func:`~.protocol.fit_setup` call the notebook's own training makes, so
that the checkpoints it writes are the models the notebook evaluates with ``checkpoint_dir``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from mricompendium import plans, provenance, training
from mricompendium.experiments.reconstruction import datasets, protocol, registry
from mricompendium.physics.masks import Sampling

__all__ = ["CIRIM_DATA", "cirim"]

# The parameters of cirim that make its training and validation data (the notebook's
# `data_args`): checkpoints trained with other values are refused.
CIRIM_DATA = ("data_path", "data_format", "image_size", "num_coils", "snr", "seed", "max_slices",
              "n_test_volumes", "n_val")  # fmt: skip


def _noop(model: torch.nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def cirim(p: dict[str, Any], device: torch.device) -> plans.Plan:
    """S02 CIRIM: CIRIM and its rivals at every seed (the notebook picks the strongest rival on
    validation and evaluates it at every seed), the data-consistency ablations at the first."""
    training.seed_everything(p["seed"])  # as the notebook does before its data
    if p["data_path"]:
        data = datasets.real_data(p["data_path"], p["data_format"], image_size=p["image_size"],
                                  num_coils=p["num_coils"], max_slices=p["max_slices"],
                                  n_test_volumes=p["n_test_volumes"], n_val=p["n_val"],
                                  device=device)  # fmt: skip
    else:
        data = datasets.simulated_data(image_size=p["image_size"], num_coils=p["num_coils"],
                                       snr=p["snr"], seed=p["seed"],
                                       n_test_template=p["n_test_template"],
                                       real_per_unit=p["real_per_unit"], n_val=p["n_val"],
                                       device=device)  # fmt: skip
    seen = [Sampling.parse(s) for s in p["train_samplings"]]
    primary, rivals, ablations = "CIRIM", list(p["rivals"]), list(p["ablations"])
    names = [primary, *rivals, *ablations]
    if p["scale"] == "paper":
        configs = {m: registry.MODELS[m].config("paper") for m in names}
    else:
        configs = {primary: registry.match_budget(primary, p["param_budget"])[0]}
        count = registry.match_budget(primary, p["param_budget"])[1]
        configs.update({m: registry.match_budget(m, count)[0] for m in names[1:]})
    val_fn = protocol.validation_fn(data.val, seen, seed=10_000 + p["seed"] + 1,
                                    indices=data.val_idx)  # fmt: skip
    half = p["train_steps"] // 2
    jobs = []
    for name in names:
        for s in p["seeds"] if name not in ablations else p["seeds"][:1]:
            setup = functools.partial(
                protocol.fit_setup, name, data.train, seen, steps=p["train_steps"],
                batch_size=p["batch_size"], lr=p["lr"], seed=s, device=device,
                overrides=configs[name], indices=datasets.train_indices(data),
                loss_over_steps=p["loss_over_steps"], mask_pool=p["mask_pool"], val_fn=val_fn,
                val_every=p["val_every"],
                scheduler=None if p["lr_schedule"] == "none" else p["lr_schedule"],
                on_step={half: _noop} if half >= 1 and name not in ablations else {},
            )  # fmt: skip
            jobs.append(plans.Job(name, s, setup, val_metric="ssim_brain"))
    info = provenance.data_info(data.kind, data.description, data.path)
    fp = plans.data_fingerprint(info, {k: p[k] for k in CIRIM_DATA})
    return plans.Plan("cirim", jobs, fp, data.description, cpu_bf16=True)  # 1.1x (make bench)
