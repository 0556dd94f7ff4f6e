"""Registration losses: known values and invariances."""

from __future__ import annotations

import math

import pytest
import torch

from mricompendium.models.registration import (
    NCC,
    Grad,
    Incompressibility,
    LinearElastic,
    SoftDice,
    UncertaintyWeighting,
)
from mricompendium.physics.deform import affine_displacement


def test_ncc_is_zero_for_affine_intensity_change_and_bounded():
    x = torch.rand(2, 1, 20, 20)
    assert NCC(5)(x, 3.0 * x) < 1e-4  # zero padding: a pure scaling keeps borders consistent
    v = NCC(5)(x, torch.rand(2, 1, 20, 20))
    assert 0.0 <= float(v) <= 1.0


def test_grad_and_elastic_vanish_on_translation():
    u = torch.zeros(1, 2, 12, 12)
    u[:, 0] = 3.0
    assert Grad()(u) == 0
    assert LinearElastic(0.4)(u) < 1e-12


def test_elastic_energy_of_uniform_dilation_matches_closed_form():
    s, nu = 0.01, 0.3  # u = s x in 2D: eps = s I
    u = affine_displacement(torch.tensor([[1 + s, 0, 0], [0, 1 + s, 0.0]]), (16, 16))
    mu, lam = 1 / (2 * (1 + nu)), nu / ((1 + nu) * (1 - 2 * nu))
    expected = mu * 2 * s**2 + 0.5 * lam * (2 * s) ** 2
    assert math.isclose(float(LinearElastic(nu)(u)), expected, rel_tol=1e-4)


def test_elastic_penalises_volume_change_more_near_incompressible():
    dil = affine_displacement(torch.tensor([[1.02, 0, 0], [0, 1.02, 0.0]]), (16, 16))
    shear = affine_displacement(torch.tensor([[1.0, 0.02, 0], [0.0, 1.0, 0.0]]), (16, 16))
    ratio = {nu: float(LinearElastic(nu)(dil) / LinearElastic(nu)(shear)) for nu in (0.0, 0.45)}
    assert ratio[0.45] > 5 * ratio[0.0]


def test_incompressibility_zero_for_rotation_positive_for_scaling():
    c, s = math.cos(0.1), math.sin(0.1)
    rot = affine_displacement(torch.tensor([[c, -s, 0], [s, c, 0.0]]), (16, 16))
    scale = affine_displacement(torch.tensor([[1.2, 0, 0], [0, 1.0, 0.0]]), (16, 16))
    inc = Incompressibility("log")
    assert float(inc(rot)) < 1e-8
    assert math.isclose(float(inc(scale)), math.log(1.2) ** 2, rel_tol=1e-4)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:8, 4:8] = 1
    assert math.isclose(float(Incompressibility("abs")(scale, mask)), 0.04, rel_tol=1e-4)


def test_soft_dice_perfect_and_disjoint():
    a = torch.zeros(1, 2, 8, 8)
    a[:, 0, :4], a[:, 1, 4:] = 1, 1
    assert float(SoftDice()(a, a)) < 1e-5
    assert float(SoftDice()(a, a.flip(1))) > 0.99


def test_uncertainty_weighting_starts_at_fixed_weights_and_learns():
    w = UncertaintyWeighting(["sim", "dice", "reg"], [1.0, 0.5, 2.0], fixed=["reg"])
    losses = [torch.tensor(0.4), torch.tensor(0.2), torch.tensor(0.1)]
    expected = 0.4 + 0.5 * 0.2 + 2.0 * 0.1 + (0.0 - math.log(0.5))
    assert math.isclose(float(w(losses).detach()), expected, rel_tol=1e-5)
    w(losses).backward()
    assert w.log_vars.grad is not None
    assert w.log_vars.grad[2] == 0  # the fixed weight does not learn
    with pytest.raises(ValueError, match="losses"):
        w(losses[:2])
