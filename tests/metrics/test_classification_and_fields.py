"""AUROC and its jackknife pseudo-values; field measures (affine residual, jumps); upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_roc_auc

from mricompendium.metrics.classification import auroc, auroc_pseudovalues
from mricompendium.metrics.registration import affine_residual, max_jump
from mricompendium.physics.deform import affine_displacement, upsample_displacement


def test_auroc_matches_monai_and_pseudovalues_are_the_jackknife() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(40) < 0.4
    s = rng.standard_normal(40) + y
    s[:4] = s[4]  # ties
    expected = float(compute_roc_auc(torch.tensor(s), torch.tensor(y.astype(float))))
    assert auroc(s, y) == pytest.approx(expected)
    pv = auroc_pseudovalues(s, y)
    brute = [40 * auroc(s, y) - 39 * auroc(np.delete(s, k), np.delete(y, k)) for k in range(40)]
    np.testing.assert_allclose(pv, brute, atol=1e-12)
    assert pv.mean() == pytest.approx(auroc(s, y))


def test_auroc_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="positive and one negative"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="two positive"):
        auroc_pseudovalues([0.1, 0.2, 0.3], [1, 0, 0])


def test_affine_residual_is_zero_for_affine_and_positive_for_sliding() -> None:
    aff = affine_displacement(torch.tensor([[1.05, 0.02, 0.5], [0.0, 0.97, -1.0]]), (16, 16))
    mask = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    assert affine_residual(aff, mask, spacing=2.0)[0] < 1e-4
    slide = torch.zeros(1, 2, 16, 16)
    slide[:, 0, :, 8:] = 3.0  # the right half slides down by 3 voxels
    assert affine_residual(slide, mask)[0] > 0.5
    assert max_jump(slide)[0] == pytest.approx(3.0) and max_jump(aff)[0] < 0.2


def test_upsample_displacement_scales_and_keeps_linear_fields() -> None:
    const = torch.full((1, 2, 4, 4), 0.5)
    assert torch.allclose(upsample_displacement(const, 4), torch.full((1, 2, 16, 16), 2.0))
    coarse = affine_displacement(torch.tensor([[1.1, 0.0, 0.0], [0.0, 0.9, 0.0]]), (8, 8))
    fine = affine_displacement(torch.tensor([[1.1, 0.0, 0.0], [0.0, 0.9, 0.0]]), (16, 16))
    up = upsample_displacement(coarse, 2)
    assert torch.allclose(up[..., 2:-2, 2:-2], fine[..., 2:-2, 2:-2], atol=1e-5)
    with pytest.raises(ValueError):
        upsample_displacement(const, 0)
