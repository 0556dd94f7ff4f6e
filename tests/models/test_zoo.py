"""The model registry and the shared training / evaluation helpers (models.reconstruction.zoo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.kspace import MultiCoilSimulator
from mricompendium.models.reconstruction.zoo import (
    MODELS,
    build_model,
    count_parameters,
    cs_baseline,
    evaluate_model,
    train_model,
    zero_filled,
)

NAMES = list(MODELS)


def _phantom(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    masks = np.stack([x**2 + (y / 1.2) ** 2 < (size * (0.3 + 0.02 * i)) ** 2 for i in range(n)])
    images = masks * (0.6 + 0.4 * np.cos(x / 3) * np.sin(y / 4))
    return images.astype(np.float32), masks


@pytest.fixture(scope="module")
def sim() -> MultiCoilSimulator:
    images, masks = _phantom(5, 32)
    return MultiCoilSimulator(images, masks, num_coils=2, snr=20.0, seed=0)


def test_registry_names_and_specs() -> None:
    expected = {
        "U-Net", "E2E-VarNet", "E2E-VarNet (no DC)", "CascadeNet", "KIKI-Net", "LPD-Net", "RIM",
        "i-RIM", "CIRIM", "CIRIM (explicit DC)", "RecurrentVarNet", "XPDNet",
    }  # fmt: skip
    assert set(MODELS) == expected
    for name, spec in MODELS.items():
        assert spec.name == name and spec.citation and spec.small and spec.paper
    assert MODELS["E2E-VarNet (no DC)"].config()["explicit_dc"] is False
    assert MODELS["CIRIM (explicit DC)"].config("paper")["dc"] == "explicit"


@pytest.mark.parametrize("name", NAMES)
def test_every_model_builds_small_and_runs_forward(sim: MultiCoilSimulator, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name)
    batch = sim.batch([0, 1], "equispaced_1d@4", seed=0)
    with torch.no_grad():
        out = model(batch.kspace, batch.mask, batch.maps)
    assert out.shape == (2, 32, 32) and torch.is_complex(out)
    assert torch.isfinite(torch.view_as_real(out)).all()
    assert count_parameters(model) > 0


@pytest.mark.parametrize("name", ["U-Net", "CIRIM", "E2E-VarNet"])
def test_paper_scale_is_larger(name: str) -> None:
    assert count_parameters(build_model(name, scale="paper")) > count_parameters(build_model(name))


def test_build_model_errors_and_overrides() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("AUTOMAP")
    with pytest.raises(ValueError, match="scale"):
        build_model("RIM", scale="huge")
    assert len(build_model("CIRIM", num_cascades=3).cascades) == 3


@pytest.mark.parametrize(("name", "over_steps"), [("CIRIM", True), ("U-Net", False)])
def test_train_model_runs(sim: MultiCoilSimulator, name: str, over_steps: bool) -> None:
    model, hist = train_model(
        name, sim, ["equispaced_1d@4", "poisson_2d@4"], steps=3, batch_size=2, lr=1e-3,
        seed=0, device="cpu", loss_over_steps=over_steps,
    )  # fmt: skip
    assert len(hist.losses) == 3 and all(np.isfinite(hist.losses)) and not model.training


def test_training_lowers_the_loss_on_one_setting(sim: MultiCoilSimulator) -> None:
    _, hist = train_model(
        "CascadeNet", sim, ["poisson_2d@4"], steps=25, batch_size=2, lr=3e-3, seed=0,
        overrides={"num_cascades": 2, "hidden": 8, "depth": 3},
    )  # fmt: skip
    assert np.mean(hist.losses[-5:]) < np.mean(hist.losses[:5])


def test_evaluate_returns_per_case_arrays_independent_of_batch_size(
    sim: MultiCoilSimulator,
) -> None:
    idx = [0, 2, 3, 4]
    a = evaluate_model(zero_filled(), sim, idx, "poisson_2d@4", seed=7, batch_size=3, keep=2)
    b = evaluate_model(zero_filled(), sim, idx, "poisson_2d@4", seed=7, batch_size=1)
    for key in ("ssim", "psnr", "nmse", "ssim_brain", "psnr_brain", "nmse_brain", "time_s"):
        assert a[key].shape == (4,) and np.all(np.isfinite(a[key]))
    np.testing.assert_allclose(a["ssim"], b["ssim"], rtol=1e-6)
    assert a["recon"].shape == a["target"].shape == (2, 32, 32)
    model = build_model("RIM")
    c = evaluate_model(model, sim, idx, "equispaced_1d@4", seed=7, batch_size=2)
    assert c["ssim_brain"].shape == (4,)


def test_cs_baseline_beats_zero_filled(sim: MultiCoilSimulator) -> None:
    idx = [0, 1, 2, 3]
    zf = evaluate_model(zero_filled(), sim, idx, "poisson_2d@4", seed=1)
    cs = evaluate_model(cs_baseline(0.005, 40), sim, idx, "poisson_2d@4", seed=1)
    assert cs["nmse"].mean() < zf["nmse"].mean()
    with pytest.raises(ValueError):
        cs_baseline(-1.0, 10)
