"""fMRI simulator throughput: trials per second, per stage and end to end.

Stages (one CPU thread): rendering scenes, low-level feature maps, the stand-in CLIP's image
encoder, and the BOLD simulation with its single-trial GLM (``simulate_trials``: responses, HRF
library, AR(1) noise, LSA fit with the library's best HRF per voxel, session z-scoring). The
embedding is untrained here (its cost does not depend on its weights), so the benchmark needs no
data stage.

Usage: ``python benchmarks/fmri.py [--trials 1000] [--voxels 500]``; ``rows()`` gives the rows for
``benchmarks/run.py`` (``{"name", "value", "unit", "note"}``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from mricompendium.data import fmri
from mricompendium.data.fmri.render import render
from mricompendium.data.fmri.voxels import feature_maps


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def rows(n_trials: int = 1000, n_voxels: int = 500) -> list[dict]:
    """Throughput of each simulator stage for ``n_trials`` trials of one subject."""
    torch.set_num_threads(1)
    embedding = fmri.JointEmbedding(fmri.EmbeddingConfig()).eval()
    noise = fmri.fit_noise_model()
    sim = fmri.SimConfig(n_voxels=n_voxels, trials_per_session=750, trials_per_run=63)
    subject = fmri.make_subjects(1, sim, noise, seed=0)[0]
    scenes = fmri.sample_scenes(n_trials, 0, p_second=sim.p_second)
    images, t_render = _timed(lambda: render(scenes, sim.image_size))
    _, t_feat = _timed(lambda: feature_maps(images))
    _, t_embed = _timed(lambda: embedding.encode_images(images))
    stimuli = fmri.Stimuli.render(scenes, sim.image_size)  # what the subject sees
    idx = np.arange(n_trials)
    _, t_bold = _timed(lambda: fmri.simulate_trials(subject, stimuli, idx, sim, noise, seed=0))
    total = t_render + t_feat + t_embed + t_bold
    note = f"{n_trials} trials, {subject.n_voxels} voxels, 1 thread"
    out = []
    for name, t in (
        ("render", t_render),
        ("feature maps", t_feat),
        ("image embedding", t_embed),
        ("BOLD + noise + single-trial GLM", t_bold),
        ("end to end", total),
    ):
        out.append({"name": f"fMRI simulator: {name}", "value": n_trials / t, "unit": "trials/s",
                    "note": note})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--voxels", type=int, default=500)
    args = parser.parse_args(argv)
    for r in rows(args.trials, args.voxels):
        print(f"{r['name']:50s} {r['value']:10.0f} {r['unit']:9s} {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
