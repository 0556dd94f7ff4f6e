"""Metrics: cross-checked against scikit-image, known values, protocols, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mricompendium import metrics


def _pair(shape=(3, 32, 40), noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.random(shape) * 2.0
    pred = target + noise * rng.standard_normal(shape)
    return pred, target


@pytest.mark.parametrize("data_range", [1.0, 2.0, 3.7])
@pytest.mark.parametrize("noise", [0.02, 0.3])
def test_ssim_matches_skimage(data_range, noise):
    pred, target = _pair(noise=noise)
    _check_against_skimage(pred, target, data_range)


def test_ssim_matches_skimage_at_low_contrast():
    # variances comparable to C2: sensitive to the sample-covariance normalisation
    pred, target = _pair(noise=1.0)
    _check_against_skimage(0.5 + 0.05 * pred, 0.5 + 0.05 * target, 1.0)


def _check_against_skimage(pred, target, data_range):
    ours = metrics.ssim(pred, target, data_range=data_range)
    ref = [
        structural_similarity(target[i], pred[i], data_range=data_range, win_size=7)
        for i in range(len(pred))
    ]
    assert ours.dtype == np.float64 and ours.shape == (3,)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_ssim_masked_matches_skimage_full_map():
    pred, target = _pair()
    mask = np.zeros(target.shape[1:], bool)
    mask[5:20, 10:30] = True
    ours = metrics.ssim(pred, target, data_range=2.0, mask=mask)
    for i in range(len(pred)):
        _, smap = structural_similarity(target[i], pred[i], data_range=2.0, full=True)
        np.testing.assert_allclose(ours[i], smap[mask].mean(), atol=1e-4)


def test_psnr_matches_skimage_and_accepts_torch():
    pred, target = _pair()
    ours = metrics.psnr(
        torch.from_numpy(pred).float(), torch.from_numpy(target).float(), data_range=2
    )
    ref = [peak_signal_noise_ratio(target[i], pred[i], data_range=2) for i in range(len(pred))]
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_identical_images_known_values():
    _, target = _pair()
    assert np.allclose(metrics.ssim(target, target, data_range=2), 1.0)
    assert np.all(metrics.nmse(target, target) == 0)
    assert np.all(np.isinf(metrics.psnr(target, target, data_range=2)))


def test_nmse_known_value():
    target = np.ones((1, 8, 8))
    assert metrics.nmse(1.1 * target, target) == pytest.approx(0.01)


def test_worse_reconstruction_scores_lower():
    good, target = _pair(noise=0.05)
    bad, _ = _pair(noise=0.5)
    assert np.all(
        metrics.ssim(good, target, data_range=2) > metrics.ssim(bad, target, data_range=2)
    )


@pytest.mark.parametrize("shape", [(16, 16), (1, 16, 16), (5, 12, 20)])
def test_per_case_shapes(shape):
    pred, target = _pair(shape=shape)
    n = 1 if len(shape) == 2 else shape[0]
    for protocol in metrics.PROTOCOLS:
        out = metrics.evaluate(pred, target, protocol=protocol)
        assert set(out) == {"ssim", "psnr", "nmse"}
        assert all(v.shape == (n,) and v.dtype == np.float64 for v in out.values())


def test_protocols_differ_in_data_range():
    pred, target = _pair()
    target[0] *= 0.25  # one dim slice: only slice normalisation rescales it
    pred[0] *= 0.25
    vol = metrics.evaluate(pred, target, protocol="fastmri_volume")
    sl = metrics.evaluate(pred, target, protocol="slice_normalised")
    np.testing.assert_allclose(vol["ssim"], metrics.ssim(pred, target, data_range=target.max()))
    peak = target.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(sl["ssim"], metrics.ssim(pred / peak, target / peak, data_range=1))
    # the dim slice's error looks small against the volume peak, not against its own peak
    assert sl["psnr"][0] < vol["psnr"][0] - 5
    np.testing.assert_allclose(sl["psnr"][1:], vol["psnr"][1:], atol=0.1)
    np.testing.assert_allclose(vol["nmse"], sl["nmse"])  # NMSE is scale-invariant


def test_evaluate_with_mask_adds_masked_metrics():
    pred, target = _pair()
    mask = np.ones(target.shape, bool)
    out = metrics.evaluate(pred, target, protocol="fastmri_volume", mask=mask)
    np.testing.assert_allclose(out["psnr_mask"], out["psnr"])
    np.testing.assert_allclose(out["nmse_mask"], out["nmse"])
    np.testing.assert_allclose(out["ssim_mask"], out["ssim"])


def test_protocol_description_is_json_ready():
    d = metrics.protocol_description("slice_normalised", mask="brain")
    assert d["name"] == "slice_normalised" and "uniform 7x7" in d["ssim_window"]
    assert d["mask"] == "brain"


def test_dice_known_values():
    a = np.zeros((3, 4, 4), bool)
    b = np.zeros((3, 4, 4), bool)
    a[0, :2] = b[0, :2] = True  # identical
    a[1, :2] = True  # 8 voxels vs 4, overlap 4 -> 2*4/12
    b[1, :1] = True
    np.testing.assert_allclose(metrics.dice(a, b), [1.0, 2 / 3, 1.0])
    pred = np.array([[[1, 2], [2, 0]]])
    true = np.array([[[2, 2], [1, 0]]])
    assert metrics.dice(pred, true, label=2)[0] == pytest.approx(0.5)
    assert metrics.dice(pred, true, label=1)[0] == 0.0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda p, t: metrics.ssim(p, t[:, :-1], data_range=1), ValueError),
        (lambda p, t: metrics.ssim(p, t, data_range=0), ValueError),
        (lambda p, t: metrics.ssim(p, t, data_range=1, win_size=6), ValueError),
        (lambda p, t: metrics.ssim(p + 0j, t, data_range=1), TypeError),
        (lambda p, t: metrics.ssim(p[0, 0], t[0, 0], data_range=1), ValueError),
        (lambda p, t: metrics.ssim(p, t, data_range=1, mask=np.zeros(t.shape[1:])), ValueError),
        (lambda p, t: metrics.nmse(p, 0 * t), ValueError),
        (lambda p, t: metrics.evaluate(p, t, protocol="mine"), ValueError),
        (lambda p, t: metrics.dice(p > 0, t[:1] > 0), ValueError),
    ],
)
def test_bad_input_raises(call, error):
    pred, target = _pair()
    with pytest.raises(error):
        call(pred, target)
