"""The model registry: names, scales, every model runs, parameter-budget matching."""

from __future__ import annotations

import pytest
import torch

from mricompendium.data.recon import KspaceSimulator
from mricompendium.experiments.reconstruction import (
    MODELS,
    budget_table,
    build_model,
    count_parameters,
    match_budget,
    predict,
)

NAMES = list(MODELS)


def test_registry_names_and_specs() -> None:
    expected = {
        "U-Net", "E2E-VarNet", "E2E-VarNet (no DC)", "CascadeNet", "KIKI-Net", "LPD-Net", "RIM",
        "i-RIM", "CIRIM", "CIRIM (explicit DC)", "RecurrentVarNet", "XPDNet", "ReconResNet",
        "HyperVarNet", "Unrolled CNN",
    }  # fmt: skip
    assert set(MODELS) == expected
    for name, spec in MODELS.items():
        assert spec.name == name and spec.citation and spec.small and spec.paper
    assert MODELS["E2E-VarNet (no DC)"].config()["explicit_dc"] is False
    assert MODELS["CIRIM (explicit DC)"].config("paper")["dc"] == "explicit"


@pytest.mark.parametrize("name", NAMES)
def test_every_model_builds_small_and_runs_forward(sim: KspaceSimulator, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name)
    batch = sim.batch([0, 1], "equispaced_1d@4", seed=0)
    with torch.no_grad():
        out = predict(model, batch)
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


@pytest.mark.parametrize("name", ["RecurrentVarNet", "E2E-VarNet", "RIM", "XPDNet", "CIRIM"])
def test_match_budget_lands_near_the_budget(name: str) -> None:
    overrides, n = match_budget(name, 20_000, fixed={})
    assert abs(n / 20_000 - 1) < 0.1
    assert count_parameters(build_model(name, **overrides)) == n


def test_match_budget_keeps_fixed_structure_and_budget_table() -> None:
    overrides, _ = match_budget("RIM", 10_000, fixed={"time_steps": 3})
    assert overrides["time_steps"] == 3
    table = budget_table({"a": 100, "b": 108}, 100, 0.1)
    assert table["matched"] and not budget_table({"a": 100, "b": 130}, 100, 0.1)["matched"]
    with pytest.raises(ValueError, match="budget"):
        match_budget("RIM", 0)
