"""Registration metrics, one value per case (pair).

Label overlap and surface distance between the warped moving labels and the fixed labels;
plausibility of the deformation from its Jacobian determinant ``J`` (of ``x + u(x)``); endpoint
error where the true displacement is known. Inputs are torch tensors or numpy arrays in the
layouts of :mod:`mricompendium.physics.deform`: label maps ``(N, 1, *S)`` or ``(N, *S)``,
displacements ``(N, n, *S)`` in voxels; masks ``(N, 1, *S)`` or ``(N, *S)``. Outputs are
float64 numpy arrays ``(N,)``.

* :func:`mean_dice`: mean Dice over the labels present in the fixed (reference) map, via
  :func:`mricompendium.metrics.dice`.
* :func:`hd95`: mean over labels of the symmetric 95th-percentile Hausdorff distance in mm,
  computed by MONAI's ``compute_hausdorff_distance(percentile=95, spacing=...)``; a label
  present in the reference but missing from the prediction scores the image diagonal.
* :func:`folding_pct`: percentage of voxels with ``J <= 0``.
* :func:`logjac_sd`: standard deviation of ``log J`` (``J`` clipped to ``[1e-9, 1e9]``, as in
  the TransMorph/NestedMorph evaluations).
* :func:`jacobian_deviation`: mean ``|J - 1|`` (e.g. inside the myocardium: incompressibility).
* :func:`endpoint_error`: mean ``|u - u_true|`` in mm.
* :func:`degenerate`: 1 where a field is degenerate (folding over a large share of the grid, or
  nearly constant: no registration at all), else 0.
* :func:`affine_residual`: mean distance (mm) between a field and its least-squares affine fit
  inside a mask (how much of a misalignment no affine map explains).
* :func:`max_jump`: the largest displacement difference between neighbouring voxels (voxels): a
  discontinuity such as organs sliding along a static wall.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mricompendium.metrics.image import dice
from mricompendium.physics.deform import jacobian_determinant

__all__ = [
    "affine_residual",
    "degenerate",
    "dice_per_label",
    "endpoint_error",
    "folding_pct",
    "hd95",
    "jacobian_deviation",
    "logjac_sd",
    "max_jump",
    "mean_dice",
]


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _labels(x: Any, ndim: int | None = None) -> np.ndarray:
    """``(N, 1, *S)`` or ``(N, *S)`` -> ``(N, *S)`` integer labels."""
    a = _np(x)
    if ndim is not None and a.ndim == ndim + 2 and a.shape[1] == 1:
        a = a[:, 0]
    elif ndim is None and a.ndim >= 4 and a.shape[1] == 1:
        a = a[:, 0]
    return a


def _present(ref: np.ndarray, labels: Sequence[int] | None) -> list[int]:
    if labels is not None:
        return [int(v) for v in labels]
    return [int(v) for v in np.unique(ref) if v != 0]


def dice_per_label(pred: Any, ref: Any, labels: Sequence[int] | None = None) -> np.ndarray:
    """``(N, L)`` Dice per label; NaN where the label is absent from that case's reference."""
    p, r = _labels(pred), _labels(ref)
    if p.shape != r.shape:
        raise ValueError(f"pred {p.shape} and ref {r.shape} label maps differ in shape")
    labs = _present(r, labels)
    out = np.full((p.shape[0], len(labs)), np.nan)
    for j, lab in enumerate(labs):
        d = dice(p, r, label=lab)
        has = (r == lab).reshape(r.shape[0], -1).any(1)
        out[has, j] = d[has]
    return out


def mean_dice(pred: Any, ref: Any, labels: Sequence[int] | None = None) -> np.ndarray:
    """Mean Dice per case over the labels present in that case's reference (``(N,)``)."""
    per = dice_per_label(pred, ref, labels)
    if np.isnan(per).all(axis=1).any():
        raise ValueError("a reference label map holds none of the labels")
    return np.nanmean(per, axis=1)


def hd95(
    pred: Any,
    ref: Any,
    *,
    spacing: float | Sequence[float],
    labels: Sequence[int] | None = None,
) -> np.ndarray:
    """Mean over labels of the symmetric 95th-percentile Hausdorff distance (mm), per case."""
    from monai.metrics import compute_hausdorff_distance

    p, r = _labels(pred), _labels(ref)
    if p.shape != r.shape:
        raise ValueError(f"pred {p.shape} and ref {r.shape} label maps differ in shape")
    labs = _present(r, labels)
    sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (p.ndim - 1,))
    diag = float(np.sqrt(((np.array(p.shape[1:]) * sp) ** 2).sum()))
    pt, rt = torch.from_numpy(p.astype(np.int64)), torch.from_numpy(r.astype(np.int64))
    onehot_p = torch.stack([pt == lab for lab in labs], 1)
    onehot_r = torch.stack([rt == lab for lab in labs], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = (
            compute_hausdorff_distance(
                onehot_p, onehot_r, include_background=True, percentile=95, spacing=sp.tolist()
            )
            .numpy()
            .astype(np.float64)
        )
    has_ref = onehot_r.flatten(2).any(-1).numpy()
    has_pred = onehot_p.flatten(2).any(-1).numpy()
    d = np.where(has_ref & ~has_pred, diag, d)
    d = np.where(has_ref, np.minimum(np.nan_to_num(d, nan=diag, posinf=diag), diag), np.nan)
    if np.isnan(d).all(axis=1).any():
        raise ValueError("a reference label map holds none of the labels")
    return np.nanmean(d, axis=1)


def _jac(disp: Any) -> torch.Tensor:
    t = disp.detach() if isinstance(disp, torch.Tensor) else torch.from_numpy(np.asarray(disp))
    return jacobian_determinant(t.double().cpu())


def _masked(values: np.ndarray, mask: Any | None) -> list[np.ndarray]:
    if mask is None:
        return [v.ravel() for v in values]
    m = _labels(mask, values.ndim - 1).astype(bool)
    if m.shape != values.shape:
        raise ValueError(f"mask {m.shape} does not match the field's grid {values.shape}")
    if not m.reshape(m.shape[0], -1).any(1).all():
        raise ValueError("a mask is empty")
    return [v[k] for v, k in zip(values, m, strict=True)]


def folding_pct(disp: Any, mask: Any | None = None) -> np.ndarray:
    """Percentage of voxels (inside ``mask``) whose Jacobian determinant is <= 0."""
    jac = _jac(disp).numpy()
    return np.array([100.0 * np.mean(v <= 0) for v in _masked(jac, mask)])


def logjac_sd(disp: Any, mask: Any | None = None) -> np.ndarray:
    """Standard deviation of ``log J`` (``J`` clipped to ``[1e-9, 1e9]``) inside ``mask``."""
    jac = np.log(np.clip(_jac(disp).numpy(), 1e-9, 1e9))
    return np.array([np.std(v) for v in _masked(jac, mask)])


def jacobian_deviation(disp: Any, mask: Any | None = None) -> np.ndarray:
    """Mean ``|J - 1|`` inside ``mask`` (0 for a volume-preserving map)."""
    jac = _jac(disp).numpy()
    return np.array([np.mean(np.abs(v - 1.0)) for v in _masked(jac, mask)])


def endpoint_error(
    disp: Any, truth: Any, *, spacing: float | Sequence[float] = 1.0, mask: Any | None = None
) -> np.ndarray:
    """Mean endpoint error ``|u - u_true|`` in mm (voxel displacements times ``spacing``)."""
    u, t = _np(disp).astype(np.float64), _np(truth).astype(np.float64)
    if u.shape != t.shape:
        raise ValueError(f"disp {u.shape} and truth {t.shape} differ in shape")
    sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (u.shape[1],))
    err = np.sqrt((((u - t) * sp.reshape(1, -1, *([1] * (u.ndim - 2)))) ** 2).sum(1))
    return np.array([np.mean(v) for v in _masked(err, mask)])


def degenerate(
    disp: Any, *, max_folding_pct: float = 5.0, min_motion_vox: float = 0.05
) -> np.ndarray:
    """1.0 per case whose displacement is degenerate, else 0.0.

    Degenerate: ``J <= 0`` in more than ``max_folding_pct`` percent of the grid (folding nearly
    everywhere it moves), or every component's standard deviation over the grid below
    ``min_motion_vox`` voxels (a constant field: the identity or a translation, no deformable
    registration at all).
    """
    if max_folding_pct < 0 or min_motion_vox < 0:
        raise ValueError("max_folding_pct and min_motion_vox must be >= 0")
    u = _np(disp).astype(np.float64)
    if u.ndim < 4 or u.shape[1] != u.ndim - 2:
        raise ValueError(f"disp must be (N, n, *S), got {u.shape}")
    spread = u.reshape(u.shape[0], u.shape[1], -1).std(-1).max(1)
    folded = folding_pct(u) > max_folding_pct
    return ((spread < min_motion_vox) | folded).astype(np.float64)


def affine_residual(disp: Any, mask: Any, *, spacing: float = 1.0) -> np.ndarray:
    """Mean ``|u - A(u)|`` (mm) inside ``mask``, ``A(u)`` the least-squares affine fit of each
    component of the ``(N, n, *S)`` displacement over the mask's voxels (``(N,)``)."""
    u = _np(disp).astype(np.float64)
    m = _labels(mask, u.ndim - 2).astype(bool)
    if m.shape != (u.shape[0], *u.shape[2:]):
        raise ValueError(f"mask {m.shape} does not match the field {u.shape}")
    out = []
    for ui, mi in zip(u, m, strict=True):
        pts = np.argwhere(mi).astype(np.float64)
        if len(pts) <= pts.shape[1] + 1:
            raise ValueError("a mask holds too few voxels for an affine fit")
        design = np.c_[np.ones(len(pts)), pts]
        vals = ui[:, mi].T  # (points, n)
        coef, *_ = np.linalg.lstsq(design, vals, rcond=None)
        out.append(np.linalg.norm(vals - design @ coef, axis=1).mean() * spacing)
    return np.asarray(out)


def max_jump(disp: Any, mask: Any | None = None) -> np.ndarray:
    """Largest ``|u(x) - u(y)|`` over neighbouring voxels ``x, y`` (voxels; ``(N,)``), over pairs
    with at least one voxel in ``mask`` when given."""
    u = _np(disp).astype(np.float64)
    n = u.ndim - 2
    m = None if mask is None else _labels(mask, n).astype(bool)
    out = np.zeros(u.shape[0])
    for axis in range(n):
        a = [slice(None)] * (n + 2)
        b = [slice(None)] * (n + 2)
        a[axis + 2], b[axis + 2] = slice(1, None), slice(None, -1)
        jump = np.linalg.norm(u[tuple(a)] - u[tuple(b)], axis=1)
        if m is not None:
            keep = m[tuple(a[:1] + a[2:])] | m[tuple(b[:1] + b[2:])]
            jump = np.where(keep, jump, 0.0)
        out = np.maximum(out, jump.reshape(len(out), -1).max(1))
    return out
