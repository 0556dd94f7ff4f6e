"""SSIM computed in cache-sized pieces: bands of large images, batches of small ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from mricompendium import metrics
from mricompendium.metrics import image


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.random(shape) * 2.0
    return target + 0.2 * rng.standard_normal(shape), target


@pytest.mark.parametrize("shape", [(2, 230, 170), (1, 40, 1000), (70, 24, 24)])
def test_pieces_match_skimage_to_rounding(shape):
    pred, target = _pair(shape)
    assert len(image._chunks(*shape, 7, torch.device("cpu"))) > 1  # really split
    ours = metrics.ssim(pred, target, data_range=2.0)
    ref = [structural_similarity(target[i], pred[i], data_range=2.0) for i in range(shape[0])]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_masked_bands_match_the_full_map():
    pred, target = _pair((2, 230, 170))
    mask = np.zeros(target.shape[1:], bool)
    mask[20:200, 30:150] = True
    ours = metrics.ssim(pred, target, data_range=2.0, mask=mask)
    for i in range(2):
        _, smap = structural_similarity(target[i], pred[i], data_range=2.0, full=True)
        np.testing.assert_allclose(ours[i], smap[mask].mean(), rtol=0, atol=1e-12)


def test_the_same_numbers_whatever_the_thread_count():
    pred, target = _pair((3, 200, 200))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = metrics.ssim(pred, target, data_range=2.0)
        torch.set_num_threads(2)
        two = metrics.ssim(pred, target, data_range=2.0)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)


def test_bands_tile_every_window_position_once():
    for h, w in [(300, 200), (7, 5000), (101, 400)]:
        pieces = image._chunks(1, h, w, 7, torch.device("cpu"))
        covered = [r for _, rows in pieces for r in range(rows.start, rows.stop - 6)]
        assert covered == list(range(h - 6))
        assert all((rows.stop - rows.start) * w <= max(image._GRAIN, 7 * w) for _, rows in pieces)
