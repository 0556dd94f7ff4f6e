"""Deformations: warping, composition, scaling and squaring, Jacobians."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mricompendium.physics.deform import (
    SpatialTransformer,
    affine_displacement,
    compose,
    integrate_svf,
    invert,
    jacobian_determinant,
    warp,
)


def _smooth_field(shape, scale, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = len(shape)
    v = torch.randn((1, n, *shape), generator=g) * scale
    pool = F.avg_pool2d if n == 2 else F.avg_pool3d
    for _ in range(3):
        v = pool(v, 5, 1, 2, count_include_pad=False)
    return v


@pytest.mark.parametrize("shape", [(12, 15), (6, 7, 8)])
def test_identity_field_gives_identity_warp(shape):
    img = torch.rand(2, 3, *shape)
    out = warp(img, torch.zeros(2, len(shape), *shape))
    assert torch.allclose(out, img, atol=1e-5)


@pytest.mark.parametrize("shape", [(16, 20), (8, 10, 12)])
def test_known_translation_is_recovered(shape):
    img = torch.rand(1, 1, *shape)
    n = len(shape)
    for axis in range(n):
        disp = torch.zeros(1, n, *shape)
        disp[:, axis] = 2.0  # out(x) = img(x + 2 e_axis)
        out = warp(img, disp)
        src = img.narrow(2 + axis, 2, shape[axis] - 2)
        dst = out.narrow(2 + axis, 0, shape[axis] - 2)
        assert torch.allclose(dst, src, atol=1e-5)


def test_nearest_warp_keeps_label_values_and_dtype():
    labels = torch.randint(0, 5, (1, 1, 10, 10))
    disp = 0.7 * torch.ones(1, 2, 10, 10)
    out = warp(labels, disp, mode="nearest")
    assert out.dtype == labels.dtype
    assert set(out.unique().tolist()) <= set(labels.unique().tolist())


def test_spatial_transformer_is_differentiable_in_the_field():
    img = torch.rand(1, 1, 8, 8)
    disp = torch.zeros(1, 2, 8, 8, requires_grad=True)
    SpatialTransformer()(img, disp).sum().backward()
    assert disp.grad is not None and torch.isfinite(disp.grad).all()


@pytest.mark.parametrize(
    "matrix",
    [
        [[1.1, 0.2, 0.5], [-0.1, 0.9, 0.0]],
        [[0.8, 0.0, 1.0], [0.3, 1.2, -2.0]],
    ],
)
def test_jacobian_of_affine_map_is_its_determinant(matrix):
    a = torch.tensor(matrix)
    jac = jacobian_determinant(affine_displacement(a, (16, 18)))
    assert torch.allclose(jac, torch.linalg.det(a[:, :2]).expand_as(jac), atol=1e-5)


def test_jacobian_of_3d_affine_map_is_its_determinant():
    a = torch.tensor([[1.1, 0.1, 0.0, 0.0], [0.0, 0.9, 0.2, 1.0], [0.1, 0.0, 1.2, 0.0]])
    jac = jacobian_determinant(affine_displacement(a, (6, 7, 8)))
    assert torch.allclose(jac, torch.linalg.det(a[:, :3]).expand_as(jac), atol=1e-5)


def test_compose_matches_sequential_warps():
    img = F.avg_pool2d(torch.rand(1, 1, 24, 24), 3, 1, 1)  # smooth: interpolation is accurate
    a, b = _smooth_field((24, 24), 2.0, 1), _smooth_field((24, 24), 2.0, 2)
    direct = warp(img, compose(a, b))
    seq = warp(warp(img, a), b)
    assert (direct - seq)[..., 3:-3, 3:-3].abs().mean() < 0.02


@pytest.mark.parametrize("shape", [(24, 24), (10, 12, 14)])
def test_scaling_and_squaring_is_invertible(shape):
    v = _smooth_field(shape, 3.0)
    fwd, bwd = integrate_svf(v, 7), integrate_svf(-v, 7)
    assert fwd.abs().max() > 0.1  # a non-trivial deformation
    residual = compose(fwd, bwd).abs()  # phi o phi^-1 - id: interpolation error only
    assert residual.mean() < 0.01 * fwd.abs().max()
    assert residual.max() < 0.1 * fwd.abs().max()
    assert (jacobian_determinant(fwd) > 0).all()  # diffeomorphic: no folding


def test_fixed_point_inverse():
    u = integrate_svf(_smooth_field((20, 20), 2.0), 7)
    assert compose(u, invert(u)).abs().max() < 1e-2


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="displacement"):
        warp(torch.rand(1, 1, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="image"):
        warp(torch.rand(1, 1, 8, 9), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="steps"):
        integrate_svf(torch.zeros(1, 2, 4, 4), -1)
