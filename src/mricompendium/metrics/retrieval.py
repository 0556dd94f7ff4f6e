"""Decoding metrics for fMRI: retrieval, identification, pixel and category scores.

Pure functions, numpy or torch in, one float64 value per test case out (``(N,)``). Embeddings are
``(N, D)`` arrays whose row ``i`` belongs to test case ``i`` (compared by cosine similarity);
images are ``(N, 3, H, W)`` RGB (or ``(N, H, W)`` grey) in ``[0, 1]``.

Retrieval follows MindEye: "image retrieval" finds the seen image's embedding from the brain's
(fMRI -> image), "brain retrieval" the brain's embedding from the image's (image -> fMRI); top-1
among ``n_candidates`` (300 in the papers: the true one plus 299 random others, chance 1/300),
which the papers average over 30 random draws. We return its **exact expectation** over random
draws, per case: with ``b`` of the ``N - 1`` other candidates scoring at least as high as the true
one, the chance that none of them is among the ``n_candidates - 1`` drawn is
``C(N-1-b, k) / C(N-1, k)``, ``k = n_candidates - 1``. Ties count against the case.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import gammaln

from mricompendium.metrics.image import ssim

__all__ = [
    "brain_retrieval",
    "cosine_similarity",
    "image_retrieval",
    "pixcorr",
    "retrieval_top1",
    "ssim_grey",
    "two_way_identification",
    "zero_shot_top1",
]


def _np(x: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dims, got {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds non-finite values")
    return a


def cosine_similarity(a: Any, b: Any) -> np.ndarray:
    """Cosine similarity matrix ``(N, M)`` between rows of ``a`` ``(N, D)`` and ``b`` ``(M, D)``."""
    x, y = _np(a, "a", (2,)), _np(b, "b", (2,))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a {x.shape} and b {y.shape} differ in dimension")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return x @ y.T


def _log_comb(n: np.ndarray, k: int) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def retrieval_top1(query: Any, keys: Any, *, n_candidates: int = 300) -> np.ndarray:
    """Per case, the chance that ``keys[i]`` is the nearest to ``query[i]`` of ``n_candidates``.

    Args:
        query: ``(N, D)`` embeddings; row ``i`` should retrieve ``keys[i]``.
        keys: ``(N, D)`` embeddings.
        n_candidates: candidates per draw including the true one (clipped to ``N``; with
            ``n_candidates >= N`` the value is plain top-1 among all ``N``: 0 or 1).

    Returns:
        ``(N,)`` float64 in [0, 1]; chance level is ``1 / min(n_candidates, N)``.
    """
    sim = cosine_similarity(query, keys)
    n = sim.shape[0]
    if sim.shape != (n, n) or n < 2:
        raise ValueError(f"query and keys must both be (N, D) with N >= 2, got {sim.shape}")
    if n_candidates < 2:
        raise ValueError(f"n_candidates must be >= 2, got {n_candidates}")
    k = min(n_candidates, n) - 1
    beaters = (sim >= np.diag(sim)[:, None]).sum(1) - 1  # others scoring >= the true key
    free = n - 1 - beaters
    out = np.zeros(n)
    ok = free >= k
    out[ok] = np.exp(_log_comb(free[ok], k) - _log_comb(np.array(n - 1), k))
    return np.clip(out, 0.0, 1.0)


def image_retrieval(brain: Any, image: Any, *, n_candidates: int = 300) -> np.ndarray:
    """fMRI -> image: the seen image's embedding among ``n_candidates`` (per test case)."""
    return retrieval_top1(brain, image, n_candidates=n_candidates)


def brain_retrieval(brain: Any, image: Any, *, n_candidates: int = 300) -> np.ndarray:
    """Image -> fMRI: the brain embedding of the image among ``n_candidates`` (per test case)."""
    return retrieval_top1(image, brain, n_candidates=n_candidates)


def two_way_identification(pred: Any, target: Any) -> np.ndarray:
    """Two-way identification per case: the share of other cases ``j`` for which ``pred[i]``
    correlates more with ``target[i]`` than with ``target[j]`` (Pearson, flattened; chance 0.5).

    Args:
        pred: ``(N, ...)`` features (or images) of the reconstructions.
        target: ``(N, ...)`` the same features of the seen images.
    """
    p = _np(pred, "pred", (2, 3, 4)).reshape(len(pred), -1)
    t = _np(target, "target", (2, 3, 4)).reshape(len(target), -1)
    if p.shape != t.shape or len(p) < 2:
        raise ValueError(f"pred {p.shape} and target {t.shape} must match, with N >= 2")

    def standardise(a: np.ndarray) -> np.ndarray:
        a = a - a.mean(1, keepdims=True)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    r = standardise(p) @ standardise(t).T  # r[i, j] = corr(pred_i, target_j)
    wins = (np.diag(r)[:, None] > r).sum(1)
    return wins / (len(p) - 1.0)


def pixcorr(pred: Any, target: Any) -> np.ndarray:
    """Pearson correlation between each reconstruction and its image, over all pixels/channels."""
    p = _np(pred, "pred", (3, 4))
    t = _np(target, "target", (3, 4))
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    p, t = p.reshape(len(p), -1), t.reshape(len(t), -1)
    p = p - p.mean(1, keepdims=True)
    t = t - t.mean(1, keepdims=True)
    den = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    return np.divide((p * t).sum(1), den, out=np.zeros(len(p)), where=den > 0)


def _grey(x: np.ndarray) -> np.ndarray:
    if x.ndim == 4:
        if x.shape[1] != 3:
            raise ValueError(f"RGB images must be (N, 3, H, W), got {x.shape}")
        return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return x


def ssim_grey(pred: Any, target: Any, *, win_size: int = 7) -> np.ndarray:
    """SSIM of the grey-scale images (ITU-R 601 luma), ``data_range = 1`` (images in [0, 1]).

    Uses :func:`mricompendium.metrics.ssim` (uniform window); MindEye computes SSIM on grey-scale
    images with a Gaussian window at 425 x 425, so values are comparable in spirit only.
    """
    p, t = _np(pred, "pred", (3, 4)), _np(target, "target", (3, 4))
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    return ssim(_grey(np.clip(p, 0, 1)), _grey(t), data_range=1.0, win_size=win_size)


def zero_shot_top1(brain: Any, class_emb: Any, labels: Any) -> np.ndarray:
    """1 where the nearest class embedding (cosine) to ``brain[i]`` is class ``labels[i]``.

    Args:
        brain: ``(N, D)`` decoded embeddings.
        class_emb: ``(C, D)`` one embedding per candidate class (e.g. "an image of a star.").
        labels: ``(N,)`` index of each case's true class among the ``C`` rows.

    Returns:
        ``(N,)`` float64 of 0/1; chance is ``1 / C``.
    """
    sim = cosine_similarity(brain, class_emb)
    y = np.asarray(labels)
    if y.shape != (sim.shape[0],) or y.min(initial=0) < 0 or y.max(initial=0) >= sim.shape[1]:
        raise ValueError(f"labels must be (N,) indices into {sim.shape[1]} classes")
    return (sim.argmax(1) == y).astype(np.float64)
