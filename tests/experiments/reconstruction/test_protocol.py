"""The protocol: one input normalisation, training with curves, long-format evaluation, CS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium import claims
from mricompendium.data.recon import KspaceSimulator
from mricompendium.experiments.reconstruction import (
    METRICS,
    build_model,
    cs_baseline,
    evaluate,
    input_scale,
    predict,
    train_model,
    tune_cs_lambda,
    validation_fn,
    zero_filled,
)


def test_input_scale_uses_only_the_undersampled_data(sim: KspaceSimulator) -> None:
    batch = sim.batch([0, 1], "poisson_2d@4", seed=0)
    s = input_scale(batch)
    assert s.shape == (2,) and bool((s > 0).all())
    batch.target = batch.target * 100  # the reference cannot change the input scale
    torch.testing.assert_close(input_scale(batch), s)


@pytest.mark.parametrize("name", ["CascadeNet", "RIM", "E2E-VarNet", "ReconResNet", "XPDNet"])
def test_predict_is_equivariant_to_the_data_scale(sim: KspaceSimulator, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    batch = sim.batch([0, 1], "equispaced_1d@4", seed=0)
    scaled = sim.batch([0, 1], "equispaced_1d@4", seed=0)
    scaled.kspace = 1e-3 * scaled.kspace
    with torch.no_grad():
        torch.testing.assert_close(
            predict(model, scaled), 1e-3 * predict(model, batch), rtol=1e-3, atol=1e-7
        )


def test_train_model_records_loss_validation_and_half_budget(sim: KspaceSimulator) -> None:
    meta = [(str(i), str(i), "t") for i in range(len(sim))]

    def half(m: torch.nn.Module) -> list[dict]:
        return evaluate(m, sim, "poisson_2d@4", meta, seed=9, name="CIRIM", budget=2).rows

    model, hist = train_model(
        "CIRIM", sim, ["equispaced_1d@4", "poisson_2d@4"], steps=4, batch_size=2, lr=1e-3,
        seed=0, loss_over_steps=True, indices=[0, 1, 2],
        val_fn=validation_fn(sim, ["poisson_2d@4"], seed=5, indices=[3, 4]), val_every=2,
        on_step={2: half},
    )  # fmt: skip
    assert len(hist.losses) == 4 and all(np.isfinite(hist.losses)) and not model.training
    assert list(hist.val_steps) == [2, 4] and all(0 < v <= 1 for v in hist.val)
    assert len(hist.snapshots[2]) == len(sim)
    curve = claims.Curve.from_history("CIRIM", 0, hist, val_metric="ssim_brain")
    assert curve.steps[-1] == 4


def test_training_lowers_the_loss_on_one_setting(sim: KspaceSimulator) -> None:
    _, hist = train_model(
        "CascadeNet", sim, ["poisson_2d@4"], steps=25, batch_size=2, lr=3e-3, seed=0,
        overrides={"num_cascades": 2, "hidden": 8, "depth": 3},
    )  # fmt: skip
    assert np.mean(hist.losses[-5:]) < np.mean(hist.losses[:5])


def test_evaluate_rows_are_long_format_and_batch_independent(sim: KspaceSimulator, meta) -> None:
    a = evaluate(zero_filled(), sim, "poisson_2d@4", meta, seed=7, name="zero-filled",
                 batch_size=3, keep=2)  # fmt: skip
    b = evaluate(zero_filled(), sim, "poisson_2d@4", meta, seed=7, name="zero-filled",
                 batch_size=1)  # fmt: skip
    frame = claims.results_frame(a.rows)
    assert list(frame.columns) == [*claims.KEYS, *METRICS] and len(frame) == 5
    assert frame["unit"].tolist() == ["unit0", "unit0", "unit1", "unit1", "unit2"]
    assert set(frame["seed"]) == {-1} and set(frame["budget"]) == {0}
    np.testing.assert_allclose(a.values("ssim"), b.values("ssim"), rtol=1e-6)
    assert a.recon.shape == a.target.shape == (2, 32, 32) and a.time_s.shape == (5,)
    assert np.all((a.values("ssim_brain") > -1) & (a.values("ssim_brain") <= 1))


def test_cs_beats_zero_filled_and_its_grid_widens_to_an_interior_weight(
    sim: KspaceSimulator, meta
) -> None:
    zf = evaluate(zero_filled(), sim, "poisson_2d@4", meta, seed=1, name="zf")
    cs = evaluate(cs_baseline(0.01, 40), sim, "poisson_2d@4", meta, seed=1, name="CS")
    assert cs.values("nmse").mean() < zf.values("nmse").mean()
    lam, table = tune_cs_lambda(sim, ["poisson_2d@4"], [1e-5, 3e-5], iters=20, seed=2,
                                indices=[0, 1])  # fmt: skip
    assert len(table) > 2 and sum(r["chosen"] for r in table) == 1
    assert table[0]["interior"] == (
        min(r["lam"] for r in table) < lam < max(r["lam"] for r in table)
    )
    with pytest.raises(ValueError):
        cs_baseline(-1.0, 10)


def test_radial_single_coil_evaluation_runs(single_coil_sim: KspaceSimulator) -> None:
    sim = single_coil_sim
    meta = [("a", "a", "t"), ("b", "b", "t")]
    model = build_model("ReconResNet", chans=4, num_blocks=1)
    rows = evaluate(model, sim, "radial@4", meta, seed=0, name="ReconResNet").rows
    zf = evaluate(zero_filled(), sim, "radial@4", meta, seed=0, name="zf").rows
    assert len(rows) == len(zf) == 2 and all(np.isfinite(r["ssim"]) for r in rows + zf)
