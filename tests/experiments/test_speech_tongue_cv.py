"""Cross-validated ranks of the tongue model: per-speaker errors, the one-SE rule, the bootstrap,
and the count of components a clean tensor holds above the noise."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.experiments.speech import tongue_cv


def _bilinear(s=7, p=12, d=20, ra=2, rp=3, seed=0):
    rng = np.random.default_rng(seed)
    a, q, core = rng.normal(size=(s, ra)), rng.normal(size=(p, rp)), rng.normal(size=(ra, rp, d))
    a, q = a - a.mean(0), q - q.mean(0)  # centred weights: the centred tensor has rank (ra, rp)
    return 5.0 + np.einsum("si,pj,ijd->spd", a, q, core)


def test_cross_validation_with_the_one_se_rule_finds_the_true_ranks():
    x = _bilinear()
    traced = x + 0.05 * np.random.default_rng(3).normal(size=x.shape)
    grid_a, grid_p = [1, 2, 3, 4], [1, 2, 3, 4, 5]
    err = tongue_cv.cv_errors(traced, x, grid_a, grid_p, mask=np.ones(20, bool), noise_mm=0.05,
                              pose_folds=3)  # fmt: skip
    assert err.shape == (7, 4, 5) and (err >= 0).all()
    assert tongue_cv.one_se_ranks(err, grid_a, grid_p) == (2, 3)
    assert tongue_cv.tolerance_ranks(err.mean(0), grid_a, grid_p, tolerance=0.01) == (2, 3)
    with pytest.raises(ValueError, match="ranks must be at most"):
        tongue_cv.cv_errors(x, x, [7], [1], mask=np.ones(20, bool), noise_mm=0.1)


def test_the_one_se_rule_trades_a_small_gain_for_fewer_components():
    # mean errors fall with the pose rank; the last step gains less than one standard error
    base = np.array([[3.0, 2.0, 1.00, 0.98]])  # 1 anatomy x 4 pose ranks
    spread = np.array([-0.1, 0.1, -0.05, 0.05])[:, None, None]  # four speakers, sd ~ 0.09
    err = base[None] + spread
    assert tongue_cv.one_se_ranks(err, [1], [1, 2, 3, 4]) == (1, 3)
    assert tongue_cv.tolerance_ranks(base, [1], [1, 2, 3, 4], tolerance=0.0) == (1, 4)
    tight = base[None] + 0.001 * spread  # the same means known precisely: the best one is kept
    assert tongue_cv.one_se_ranks(tight, [1], [1, 2, 3, 4]) == (1, 4)
    with pytest.raises(ValueError, match="S >= 2"):
        tongue_cv.one_se_ranks(err[:1], [1], [1, 2, 3, 4])


def test_bootstrap_choices_stay_in_the_grid_and_repeat_with_the_seed():
    rng = np.random.default_rng(0)
    err = rng.uniform(0.5, 1.0, size=(6, 3, 4)) + np.linspace(1, 0, 4)[None, None, :]
    a = tongue_cv.bootstrap_ranks(err, [1, 2, 3], [2, 4, 6, 8], n_boot=50,
                                  rng=np.random.default_rng(1))  # fmt: skip
    b = tongue_cv.bootstrap_ranks(err, [1, 2, 3], [2, 4, 6, 8], n_boot=50,
                                  rng=np.random.default_rng(1))  # fmt: skip
    assert a.shape == (50, 2) and np.array_equal(a, b)
    assert set(a[:, 0]) <= {1, 2, 3} and set(a[:, 1]) <= {2, 4, 6, 8}


def test_components_above_noise_count_the_ranks_a_clean_tensor_holds():
    x = _bilinear(s=9, p=14, ra=2, rp=4)
    assert tongue_cv.components_above_noise(x, noise_mm=0.01) == (2, 4)
    assert tongue_cv.components_above_noise(x, noise_mm=1e3) == (0, 0)
    with pytest.raises(ValueError, match="noise_mm"):
        tongue_cv.components_above_noise(x, noise_mm=0.0)
