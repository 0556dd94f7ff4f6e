"""Hyperparameter-conditioned training and per-noise-level knob selection
(experiments.reconstruction.hyper)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.recon.perturbed import Perturbation, PerturbedSource
from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction import hyper as hx

SAMPLING = "equispaced_1d@4"


def _net(conditioned: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    return rx.build_model("HyperVarNet" if conditioned else "Unrolled CNN",
                          num_cascades=2, hidden=6, depth=3, hyper_hidden=8)  # fmt: skip


def test_total_variation_known_values() -> None:
    x = torch.zeros(2, 4, 4)
    x[1, :, 2:] = 1.0  # one vertical edge: |dx| = 1 on 4 of 12 differences
    torch.testing.assert_close(hx.total_variation(x), torch.tensor([0.0, 4 / 12]))


def test_noise_level_grows_with_added_noise(sim) -> None:
    levels = []
    for level in (0.0, 0.2, 0.5):
        src = PerturbedSource(sim, Perturbation(noise=level)) if level else sim
        levels.append(float(hx.noise_level(src.batch([0, 1, 2], SAMPLING, 0)).mean()))
    assert levels[0] < levels[1] < levels[2]
    assert levels[2] == pytest.approx(0.5, rel=0.35)  # measured close to what was added


def test_alpha_training_learns_and_alpha_smooths_the_output(sim) -> None:
    parts = hx.alpha_training(sim, [SAMPLING], batch_size=2, tv_weight=2.0)
    batch, alpha = parts["stream"](0)(0, torch.Generator().manual_seed(0))
    assert alpha.shape == (2,) and bool(((alpha >= 0) & (alpha <= 1)).all())
    model, hist = rx.train_model(_net(), sim, [SAMPLING], steps=60, batch_size=2, lr=5e-3,
                                 seed=0, **parts)  # fmt: skip
    assert np.mean(hist.losses[-10:]) < 0.8 * np.mean(hist.losses[:10])
    b = sim.batch([3, 4], SAMPLING, 1)
    with torch.no_grad():
        tv = [
            float(hx.total_variation(rx.predict(model, b, alpha=a).abs()).mean())
            for a in (0.0, 1.0)
        ]
    assert tv[1] < tv[0]  # a larger alpha asks for (and gets) a smoother image
    with pytest.raises(ValueError):
        hx.alpha_training(sim, [SAMPLING], batch_size=2, tv_weight=-1.0)


def test_select_knob_and_adaptive_method(sim) -> None:
    model = _net(conditioned=False)
    table = hx.select_knob(model, "dc_scale", [0.0, 1.0], sim, [0.0, 0.5], SAMPLING, seed=3,
                           indices=[0, 1])  # fmt: skip
    assert table.knob == "dc_scale" and len(table.rows) == 4
    assert table.measured[0] < table.measured[1]
    assert set(table.best) <= {0.0, 1.0}
    table.best = [1.0, 0.0]
    mid = np.mean(table.measured)
    assert table.value_at(np.array([table.measured[0] - 1, mid, 9.0])).tolist() == [1.0, 0.5, 0.0]
    meta = [(str(i), str(i), "t") for i in range(len(sim))]
    rows = rx.evaluate(
        hx.adaptive_method(model, table),
        sim,
        SAMPLING,
        meta,
        seed=0,
        name="adaptive",
        indices=[0, 1],
    ).rows
    assert len(rows) == 2 and all(-1 <= r["ssim_brain"] <= 1 for r in rows)
