"""Training plans of the fMRI-decoding notebooks (``python -m mricompendium.train <id>``).

A plan simulates the notebook's study with the notebook's functions and parameters and, per
method and training seed, builds the :func:`.brainclip.fit_setup` call the notebook's own
training makes, so the checkpoints it writes are the models the notebook evaluates with
``checkpoint_dir``.
"""

from __future__ import annotations

from typing import Any

import torch

from mricompendium import plans, provenance, training
from mricompendium.data import fmri
from mricompendium.experiments.fmri import brainclip as bc
from mricompendium.experiments.fmri.study import brainclip_study

__all__ = ["BRAINCLIP_DATA", "brainclip"]

# The parameters of brainclip that make its training and validation trials (the notebook's
# `data_args`): checkpoints trained with other values are refused.
BRAINCLIP_DATA = ("seed", "n_voxels", "trials_per_session", "trials_per_run", "n_novel",
                  "n_train", "n_val", "n_test_seen", "n_test_novel", "test_repeats",
                  "signal_psc", "noise_scale", "glm_hrf")  # fmt: skip


def _noop(model: torch.nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def brainclip(p: dict[str, Any], device: torch.device) -> plans.Plan:
    """S81 BrainCLIP: the visual+text and visual-only mappers at every seed, simulated fMRI."""
    if p["data_path"]:
        raise NotImplementedError("brainclip takes no real data yet (see its notebook)")
    training.seed_everything(p["seed"])  # as the notebook does before its data
    embedding, noise = fmri.load_embedding(fmri.EmbeddingConfig()), fmri.fit_noise_model()
    sim = fmri.SimConfig(n_voxels=p["n_voxels"], trials_per_session=p["trials_per_session"],
                         trials_per_run=p["trials_per_run"], signal_psc=p["signal_psc"],
                         noise_scale=p["noise_scale"], glm_hrf=p["glm_hrf"],
                         p_second=0.0)  # fmt: skip
    study = brainclip_study(sim, embedding, noise, n_novel=p["n_novel"], n_train=p["n_train"],
                            n_val=p["n_val"], n_test_seen=p["n_test_seen"],
                            n_test_novel=p["n_test_novel"], test_repeats=p["test_repeats"],
                            seed=p["seed"])  # fmt: skip
    subj = study.subjects[study.target]
    kwargs = {"n_voxels": int(subj.n_voxels), "embed_dim": int(study.bank.image_emb.shape[1])}
    half = p["train_steps"] // 2
    jobs = []
    for s in p["seeds"]:
        for method, weight in (("BrainCLIP visual+text", p["text_weight"]),
                               ("BrainCLIP visual-only", 0.0)):  # fmt: skip
            cfg = bc.TrainConfig(steps=p["train_steps"], batch_size=p["batch_size"], lr=p["lr"],
                                 temperature=p["temperature"], text_weight=weight,
                                 val_every=p["val_every"])  # fmt: skip

            def setup(cfg: bc.TrainConfig = cfg, s: int = s) -> plans.FitCall:
                model = bc.build_mapper(p["model_size"], seed=s, **kwargs)
                config = {"factory": "mricompendium.experiments.fmri.brainclip:build_mapper",
                          "kwargs": {"size": p["model_size"], "seed": s, **kwargs}}  # fmt: skip
                on_step = {half: _noop} if half >= 1 else None
                return bc.fit_setup(model, study, cfg, seed=s, device=device, on_step=on_step,
                                    config=config)  # fmt: skip

            jobs.append(plans.Job(method, s, setup, val_metric="val identification"))
    info = provenance.data_info("simulated", study.description)
    fp = plans.data_fingerprint(info, {k: p[k] for k in BRAINCLIP_DATA})
    return plans.Plan("brainclip", jobs, fp, study.description,
                      {"study": study, "embedding": embedding})  # fmt: skip
