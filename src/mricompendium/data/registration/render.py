"""Rendering helpers shared by the analytic registration phantoms (numpy, cell-centred grids).

A square grid of ``n x n`` cells covers a field of view ``fov`` (mm) centred on the origin; cell
``i`` has its centre at ``(i + 0.5) fov / n - fov / 2``.

* :func:`splat`: push samples to the positions where an acquisition shows them and sum their
  signal into the cells they land in (bilinear weights): the forward model of a geometric
  distortion, with signal pile-up where it compresses and signal loss where it stretches.
* :func:`splat_labels`: the majority label of the samples landing in each cell.
* :func:`upsample_cells`: linear resampling to a grid ``factor`` times finer over the same field
  of view (what resampling a coarse series onto a fine one does).
* :func:`truncate_kspace`: a coarser acquisition of the same field of view, by keeping the centre
  of the 2D DFT.
* :func:`rician`: magnitude of an image with complex Gaussian noise.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["rician", "splat", "splat_labels", "truncate_kspace", "upsample_cells"]


def _bilinear(
    ya: np.ndarray, yb: np.ndarray, n: int, fov: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    step = fov / n
    qa, qb = (ya + fov / 2) / step - 0.5, (yb + fov / 2) / step - 0.5
    ia, ib = np.floor(qa).astype(np.int64), np.floor(qb).astype(np.int64)
    fa, fb = qa - ia, qb - ib
    for da, wa in ((0, 1 - fa), (1, fa)):
        for db, wb in ((0, 1 - fb), (1, fb)):
            ja, jb = ia + da, ib + db
            ok = (ja >= 0) & (ja < n) & (jb >= 0) & (jb < n)
            yield ja[ok] * n + jb[ok], (wa * wb)[ok], ok


def splat(values: np.ndarray, ya: np.ndarray, yb: np.ndarray, n: int, fov: float) -> np.ndarray:
    """Sum ``values`` of samples at positions ``(ya, yb)`` (mm; rows, columns) into ``n x n``
    cells with bilinear weights; samples landing outside the grid are lost."""
    out = np.zeros(n * n)
    v, ya, yb = values.ravel(), ya.ravel(), yb.ravel()
    for idx, w, ok in _bilinear(ya, yb, n, fov):
        out += np.bincount(idx, weights=w * v[ok], minlength=n * n)
    return out.reshape(n, n)


def splat_labels(
    labels: np.ndarray, ya: np.ndarray, yb: np.ndarray, n: int, fov: float
) -> np.ndarray:
    """Majority label (int64, ``0 .. labels.max()``) of the samples landing in each cell (the
    nearest one); 0 where none land."""
    step = fov / n
    ia = np.floor((ya.ravel() + fov / 2) / step).astype(np.int64)
    ib = np.floor((yb.ravel() + fov / 2) / step).astype(np.int64)
    ok = (ia >= 0) & (ia < n) & (ib >= 0) & (ib < n)
    classes = int(labels.max()) + 1
    idx = labels.ravel()[ok] * n * n + ia[ok] * n + ib[ok]
    counts = np.bincount(idx, minlength=classes * n * n).reshape(classes, n, n)
    return np.where(counts.sum(0) > 0, counts.argmax(0), 0).astype(np.int64)


def upsample_cells(img: np.ndarray, factor: int) -> np.ndarray:
    """Linear resampling of ``(n, n)`` cells onto the ``factor`` times finer grid of the same
    field of view (float32)."""
    if factor == 1:
        return img.astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    return F.interpolate(t, scale_factor=factor, mode="bilinear", align_corners=False)[0, 0].numpy()


def truncate_kspace(img: np.ndarray, factor: int) -> np.ndarray:
    """The image on a grid ``factor`` times coarser from the centre of its 2D DFT.

    Keeps the central ``n / factor`` frequencies of ``img`` (``n x n``) after a phase ramp of
    ``(factor - 1) / 2`` fine pixels, so that the coarse samples sit at the centres of coarse cells
    covering the same field of view; scaled so that a constant image keeps its value; magnitude.
    """
    n = img.shape[0]
    if img.ndim != 2 or img.shape[1] != n or factor < 1 or n % factor:
        raise ValueError(f"need a square image whose side {img.shape} is a multiple of {factor}")
    m = n // factor
    freq = np.fft.fftfreq(n) * n
    ramp = np.exp(2j * np.pi * freq * (factor - 1) / 2 / n)
    k = np.fft.fft2(img) * ramp[:, None] * ramp[None, :]
    keep = np.r_[0 : (m + 1) // 2, n - m // 2 : n]
    return np.abs(np.fft.ifft2(k[np.ix_(keep, keep)])) / factor**2


def rician(img: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """``|img + n_re + i n_im|`` with independent Gaussian ``n`` of standard deviation ``sd``."""
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")
    return np.hypot(img + sd * rng.standard_normal(img.shape), sd * rng.standard_normal(img.shape))
