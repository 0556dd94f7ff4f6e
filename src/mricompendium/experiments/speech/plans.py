"""Training plans of the speech notebooks (``python -m mricompendium.train <id>``).

A plan prepares the notebook's utterances with the notebook's functions and parameters and, per
training seed, builds the :func:`.mri2speech.fit_setup` call the notebook's own training makes,
so the checkpoints it writes are the models the notebook evaluates with ``checkpoint_dir``.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from mricompendium import paths, plans, provenance, training
from mricompendium.data import rtmri
from mricompendium.data.rtmri import usc
from mricompendium.experiments.speech import audio
from mricompendium.experiments.speech import mri2speech as ms

__all__ = ["MRI2SPEECH_DATA", "mri2speech"]

# The parameters of mri2speech that make its training and validation utterances (the notebook's
# `data_args`): checkpoints trained with other values are refused.
MRI2SPEECH_DATA = ("data_path", "data_frame_rate", "corpus", "downsample", "n_mels")


def _noop(model: torch.nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def mri2speech(p: dict[str, Any], device: torch.device) -> plans.Plan:
    """S49 MRI2Mel: the network at every seed, on the simulated (or a user's) rtMRI corpus."""
    training.seed_everything(p["seed"])  # as the notebook does before its data
    mel = audio.MelConfig(n_mels=p["n_mels"])
    if p["data_path"]:
        recs = usc.load_folder(paths.resolve(p["data_path"]), frame_rate_hz=p["data_frame_rate"])
        utterances, kind, desc = usc.to_utterances(recs), "user", f"rtMRI from {p['data_path']}"
    else:
        sim = rtmri.load_corpus(rtmri.default_path(p["corpus"]))
        utterances, kind, desc = sim.utterances, "simulated", sim.describe()
    split = ms.split_items(ms.prepare_items(utterances, mel, downsample=p["downsample"]))
    norm = ms.MelNorm.fit(split["train"])
    up = mel.frames_per_video_frame(utterances[0].frame_rate_hz)
    half = max(1, p["train_steps"] // 2)
    jobs = []
    for s in p["seeds"]:
        setup = functools.partial(
            ms.fit_setup, p["scale"], split, norm, upsample=up, steps=p["train_steps"], seed=s,
            lr=p["lr"], batch_size=p["batch_size"], crop=p["crop_frames"], device=device,
            val_every=p["val_every"], on_step={half: _noop},
        )  # fmt: skip
        jobs.append(plans.Job("MRI2Mel", s, setup, val_metric="mcd_db", higher_is_better=False))
    info = provenance.data_info(kind, desc, p["data_path"] or None)
    fp = plans.data_fingerprint(info, {k: p[k] for k in MRI2SPEECH_DATA})
    return plans.Plan("mri2speech", jobs, fp, desc)
