"""Segmentation metrics: known values, empty-mask conventions, and agreement with MONAI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import (
    DiceMetric,
    compute_average_surface_distance,
    compute_hausdorff_distance,
)
from scipy import ndimage

from mricompendium.metrics import segmentation as seg


def _blobs(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """Random smooth blobs: a thresholded smoothed noise field per case."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, *shape))
    smooth = np.stack([ndimage.gaussian_filter(x, 2.0) for x in noise])
    return smooth > 0.05


def test_dice_known_values():
    a = np.zeros((1, 4, 4), bool)
    b = np.zeros((1, 4, 4), bool)
    a[0, :2, :2] = True  # 4 voxels
    b[0, :2, :] = True  # 8 voxels, 4 shared
    assert seg.dice(a, b)[0] == pytest.approx(2 * 4 / 12)
    assert seg.dice(a, a)[0] == 1.0


def test_empty_mask_conventions():
    empty = np.zeros((1, 8, 8), bool)
    full = empty.copy()
    full[0, 2:4, 2:4] = True
    assert seg.dice(empty, empty)[0] == 1.0
    assert seg.dice(full, empty)[0] == 0.0
    assert seg.hd95(empty, empty)[0] == 0.0
    diag = np.hypot(8 * 2.0, 8 * 1.0)
    assert seg.hd95(full, empty, spacing=(2.0, 1.0))[0] == pytest.approx(diag)
    assert seg.mean_surface_distance(empty, full, empty_distance=50.0)[0] == 50.0


def test_hd95_of_shifted_square_is_the_shift_in_mm():
    a = np.zeros((1, 20, 20), bool)
    a[0, 5:12, 5:12] = True
    b = np.roll(a, 3, axis=1)  # shifted 3 voxels along the first spatial axis
    assert seg.hd95(a, b, spacing=(2.0, 1.0), percentile=100.0)[0] == pytest.approx(6.0)
    assert seg.hd95(a, b, spacing=(1.0, 1.0), percentile=100.0)[0] == pytest.approx(3.0)


def test_dice_per_class_matches_monai_dicemetric():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 4, size=(3, 10, 12, 8))
    true = rng.integers(0, 4, size=(3, 10, 12, 8))
    ours = seg.dice_per_class(pred, true, labels=[1, 2, 3])

    def onehot(x):
        return torch.nn.functional.one_hot(torch.as_tensor(x), 4).movedim(-1, 1).float()

    monai = DiceMetric(include_background=False, reduction="none")(onehot(pred), onehot(true))
    np.testing.assert_allclose(ours, monai.numpy(), rtol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("shape,spacing", [((24, 28), (1.0, 1.5)), ((16, 18, 14), (1.2, 1.0, 2.0))])
def test_surface_distances_match_monai(shape, spacing):
    a, b = _blobs(shape, 3, seed=1), _blobs(shape, 3, seed=2)
    assert all(x.any() for x in a) and all(x.any() for x in b)
    ta, tb = torch.as_tensor(a[:, None]).float(), torch.as_tensor(b[:, None]).float()
    m_hd = compute_hausdorff_distance(
        ta, tb, include_background=True, percentile=95, spacing=spacing
    )
    m_asd = compute_average_surface_distance(
        ta, tb, include_background=True, symmetric=True, spacing=spacing
    )
    np.testing.assert_allclose(seg.hd95(a, b, spacing), m_hd[:, 0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        seg.mean_surface_distance(a, b, spacing), m_asd[:, 0].numpy(), rtol=1e-5, atol=1e-5
    )


def test_metrics_accept_tensors_and_reject_bad_input():
    a = torch.zeros(2, 6, 6, dtype=torch.bool)
    assert seg.dice(a, a).shape == (2,)
    with pytest.raises(ValueError, match="differ in shape"):
        seg.dice(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match="binary"):
        seg.hd95(np.full((1, 4, 4), 2), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="spacing"):
        seg.hd95(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="spacing"):
        seg.hd95(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), spacing=(1.0, 1.0, 1.0))


def test_lesion_cnr_known_values_and_sign():
    img = np.zeros((2, 4, 4))
    ref = np.zeros((2, 4, 4), bool)
    les = np.zeros((2, 4, 4), bool)
    ref[:, 0] = True
    img[:, 0] = [1.0, 2.0, 3.0, 4.0]  # reference mean 2.5, sd (ddof 1) 1.291
    les[:, 2, :2] = True
    img[0, 2, :2] = 5.0  # brighter lesion
    img[1, 2, :2] = 0.0  # darker lesion
    cnr = seg.lesion_cnr(img, les, ref)
    sd = np.std([1.0, 2.0, 3.0, 4.0], ddof=1)
    np.testing.assert_allclose(cnr, [2.5 / sd, -2.5 / sd])
    les[1] = False
    assert np.isnan(seg.lesion_cnr(img, les, ref)[1])
    with pytest.raises(ValueError, match="overlap"):
        seg.lesion_cnr(img, ref, ref)
