"""Registration metrics: known values, cross-checks, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from mricompendium.metrics import registration as rm
from mricompendium.physics.deform import affine_displacement


def test_mean_dice_skips_labels_absent_from_reference():
    ref = np.zeros((1, 1, 8, 8), int)
    ref[0, 0, :4] = 1
    pred = ref.copy()
    pred[0, 0, 6:, :] = 2  # label 2 only in the prediction: not scored
    assert rm.mean_dice(pred, ref)[0] == 1.0
    half = ref.copy()
    half[0, 0, :2] = 0
    assert np.isclose(rm.mean_dice(half, ref)[0], 2 * 16 / (16 + 32))


def test_hd95_of_shifted_square_matches_the_shift_in_mm():
    ref = np.zeros((1, 1, 32, 32), int)
    ref[0, 0, 8:20, 8:20] = 1
    pred = np.roll(ref, 3, axis=3)
    d = rm.hd95(pred, ref, spacing=2.0)
    assert np.isclose(d[0], 6.0, atol=1e-6)
    # a label missing from the prediction scores the image diagonal
    d_missing = rm.hd95(np.zeros_like(ref), ref, spacing=1.0)
    assert np.isclose(d_missing[0], np.hypot(32, 32))


def test_hd95_agrees_with_a_distance_transform_computation():
    yy, xx = np.mgrid[:40, :40]
    ref = np.hypot(yy - 20, xx - 18) < 9
    pred = ((yy - 21) / 11.0) ** 2 + ((xx - 20) / 7.0) ** 2 < 1

    def surface(m):
        return m & ~ndimage.binary_erosion(m)

    def directed(a, b):
        dt = ndimage.distance_transform_edt(~surface(b))
        return dt[surface(a)]

    expected = np.percentile(np.concatenate([directed(pred, ref), directed(ref, pred)]), 95)
    got = rm.hd95(pred[None, None].astype(int), ref[None, None].astype(int), spacing=1.0)[0]
    assert abs(got - expected) <= 1.0  # surface definitions differ by at most a voxel


def test_jacobian_metrics_on_affine_and_folding_fields():
    u = affine_displacement(torch.tensor([[1.2, 0, 0], [0, 1.0, 0.0]]), (16, 16))
    assert rm.folding_pct(u)[0] == 0.0
    assert rm.logjac_sd(u)[0] < 1e-6
    assert np.isclose(rm.jacobian_deviation(u)[0], 0.2, atol=1e-5)
    flip = affine_displacement(torch.tensor([[-1.0, 0, 0], [0, 1.0, 0.0]]), (16, 16))
    assert rm.folding_pct(flip)[0] == 100.0
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[..., 2:5, 2:5] = True
    assert rm.folding_pct(flip, mask)[0] == 100.0


def test_endpoint_error_in_mm_and_masked():
    u = torch.zeros(2, 2, 8, 8)
    t = torch.zeros(2, 2, 8, 8)
    t[:, 0] = 3.0
    t[:, 1] = 4.0
    assert np.allclose(rm.endpoint_error(u, t, spacing=2.0), 10.0)
    with pytest.raises(ValueError, match="empty"):
        rm.endpoint_error(u, t, mask=torch.zeros(2, 1, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="differ"):
        rm.endpoint_error(u, t[:, :1])


def test_degenerate_flags_constant_and_folding_fields_only():
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    smooth = torch.stack([torch.sin(yy / 5), torch.cos(xx / 5)])[None]  # no folding
    shift = torch.full((1, 2, 16, 16), 3.0)  # a translation: constant
    fold = torch.stack([-2.0 * yy, torch.zeros_like(xx)])[None]  # J = -1 everywhere
    flags = rm.degenerate(torch.cat([smooth, torch.zeros(1, 2, 16, 16), shift, fold]))
    assert flags.tolist() == [0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="disp"):
        rm.degenerate(torch.zeros(2, 16, 16))
