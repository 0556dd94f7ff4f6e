"""Retrieval, identification, pixel and category metrics on known values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from mricompendium.metrics import retrieval as r


def test_perfect_embeddings_retrieve_everything_both_ways():
    x = np.eye(6)
    assert np.all(r.image_retrieval(x, x) == 1.0) and np.all(r.brain_retrieval(x, x) == 1.0)


def test_retrieval_is_the_exact_expectation_over_random_candidate_sets():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    sim = r.cosine_similarity(q, k)
    exact = r.retrieval_top1(q, k, n_candidates=3)
    for i in range(7):
        others = [j for j in range(7) if j != i]
        wins = [
            all(sim[i, i] > sim[i, j] for j in pair) for pair in itertools.combinations(others, 2)
        ]
        assert exact[i] == pytest.approx(np.mean(wins))
    full = r.retrieval_top1(q, k, n_candidates=300)  # clipped to N: plain top-1 among all
    assert np.array_equal(full, (sim.argmax(1) == np.arange(7)).astype(float))


def test_retrieval_direction_and_chance_level():
    q = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    k = np.array([[1.0, 0.05], [0.9, 0.0], [0.1, 1.0]])
    assert r.image_retrieval(q, k).tolist() == r.retrieval_top1(q, k).tolist()
    assert r.brain_retrieval(q, k).tolist() == r.retrieval_top1(k, q).tolist()
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    assert abs(r.retrieval_top1(a, b, n_candidates=10).mean() - 0.1) < 0.03


def test_two_way_identification_known_values():
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.all(r.two_way_identification(t, t) == 1.0)
    swapped = t[[1, 0, 2]]
    assert r.two_way_identification(swapped, t).tolist() == [0.0, 0.0, 1.0]  # ties lose
    half = np.array([[1.0, 0.0, 0.2], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert r.two_way_identification(half, t).tolist() == [1.0, 0.0, 1.0]


def test_pixcorr_matches_numpy_and_ssim_matches_skimage():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 3, 16, 16)), rng.random((3, 3, 16, 16))
    for i in range(3):
        assert r.pixcorr(a, b)[i] == pytest.approx(np.corrcoef(a[i].ravel(), b[i].ravel())[0, 1])
    ga = 0.299 * a[:, 0] + 0.587 * a[:, 1] + 0.114 * a[:, 2]
    gb = 0.299 * b[:, 0] + 0.587 * b[:, 1] + 0.114 * b[:, 2]
    ours = r.ssim_grey(a, b)
    for i in range(3):
        ref = structural_similarity(ga[i], gb[i], data_range=1.0, win_size=7)
        assert ours[i] == pytest.approx(ref, abs=1e-6)
    assert np.allclose(r.ssim_grey(torch.tensor(a), torch.tensor(a)), 1.0)


def test_zero_shot_top1():
    classes = np.array([[1.0, 0.0], [0.0, 1.0]])
    brain = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert r.zero_shot_top1(brain, classes, [0, 1, 1]).tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="labels"):
        r.zero_shot_top1(brain, classes, [0, 1, 2])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        r.retrieval_top1(np.full((3, 2), np.nan), np.ones((3, 2)))
    with pytest.raises(ValueError, match="dimension"):
        r.retrieval_top1(np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="shape"):
        r.pixcorr(np.ones((2, 3, 4, 4)), np.ones((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="real"):
        r.pixcorr(np.ones((2, 4, 4), complex), np.ones((2, 4, 4)))
