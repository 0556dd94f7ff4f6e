"""The trivial answers a trained segmenter must beat before its numbers count as evidence.

* ``"empty mask"``: every voxel background (the majority class of a lesion or tumour task);
* ``"majority map"``: the training set's most frequent label at each voxel, an answer that never
  looks at the image (for tissue tasks, a crude atlas).

:func:`floor_rows` scores them like a model (method = the floor's name, seed -1, budget 0), so a
claim's :class:`~mricompendium.claims.Comparison` can name one as its ``floor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mricompendium.experiments.segmentation import common

__all__ = ["FLOORS", "floor_rows", "majority_map"]

FLOORS = ("empty mask", "majority map")


def majority_map(train_target: Any, *, multilabel: bool = False) -> np.ndarray:
    """The image-blind answer of a training set: its most frequent label at each voxel.

    Args:
        train_target: training label maps ``(N, *spatial)`` (softmax) or multi-hot masks
            ``(N, C, *spatial)`` (multilabel).
        multilabel: the layout of ``train_target``.

    Returns:
        int64 ``(*spatial)`` (ties go to the lower label) or bool ``(C, *spatial)`` (a channel
        is on where more than half of the training cases have it).
    """
    t = train_target.cpu().numpy() if isinstance(train_target, torch.Tensor) else train_target
    t = np.asarray(t)
    if multilabel:
        return t.astype(bool).mean(axis=0) > 0.5
    values = np.arange(int(t.max()) + 1)
    counts = np.stack([(t == v).sum(axis=0) for v in values])
    return values[counts.argmax(axis=0)]


def floor_rows(
    kind: str,
    target: Any,
    *,
    names: Sequence[str],
    multilabel: bool = False,
    labels: Sequence[int] | None = None,
    train_target: Any = None,
    **row_keys: Any,
) -> list[dict[str, Any]]:
    """Per-case rows of a trivial answer (method ``kind``, seed -1, budget 0), scored as a model.

    Args:
        kind: ``"empty mask"`` (every voxel background) or ``"majority map"`` (the training
            set's per-voxel majority label, :func:`majority_map`: an answer that never looks at
            the image).
        target: the test targets, as for :func:`evaluate`.
        names, multilabel, labels: as for :func:`evaluate`.
        train_target: the training targets (``"majority map"`` only), same spatial size.
        **row_keys: ``setting``, ``cases``, ``units``, ``groups`` and optionally ``spacing``,
            ``metrics`` (see :func:`case_rows`).
    """
    if kind not in FLOORS:
        raise ValueError(f"kind must be one of {FLOORS}, got {kind!r}")
    t = target.cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    if kind == "empty mask":
        pred = np.zeros_like(t, dtype=bool if multilabel else np.int64)
    else:
        if train_target is None:
            raise ValueError("a 'majority map' floor needs the training targets")
        prior = majority_map(train_target, multilabel=multilabel)
        if prior.shape != t.shape[1:]:
            raise ValueError(f"training maps {prior.shape} and test targets {t.shape[1:]} differ")
        pred = np.broadcast_to(prior, t.shape)
    if multilabel:
        pm, tm = pred.astype(bool), t.astype(bool)
    else:
        values = list(labels) if labels is not None else list(range(1, len(names) + 1))
        pm, tm = common.label_masks(pred, values), common.label_masks(t, values)
    return common.case_rows(pm, tm, names=names, method=kind, seed=-1, budget=0, **row_keys)
