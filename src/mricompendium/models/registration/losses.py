"""Registration losses as ``nn.Module``s (2D and 3D).

Similarity: :class:`NCC` (local normalised cross-correlation, VoxelMorph's default) and
:class:`MSE`; segmentation guidance: :class:`SoftDice` on warped one-hot labels; regularisers on
the displacement ``u`` ``(B, n, *S)`` (voxels): :class:`Grad` (squared first differences, "L2
smoothness"), :class:`Incompressibility` (``(log J)^2`` or ``(J - 1)^2``) and
:class:`LinearElastic` (linear isotropic strain energy with a Poisson ratio, the
biomechanics-informed prior of Zhang et al. 2022); weighting: :class:`UncertaintyWeighting`
(learned log-variances, Kendall et al. 2018, as DDMR's dynamic loss weighting).

Every loss returns a non-negative scalar to *minimise* (NCC as ``1 - cc``, Dice as ``1 - Dice``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.physics.deform import jacobian_determinant

__all__ = [
    "MSE",
    "NCC",
    "Grad",
    "Incompressibility",
    "LinearElastic",
    "SoftDice",
    "UncertaintyWeighting",
    "strain_tensor",
]


def _box_sum(x: torch.Tensor, win: int) -> torch.Tensor:
    """Sum of ``x`` over a ``win``-wide box around each voxel (zero padding).

    Average pooling times the window volume: the same as a convolution with a box of ones, and
    much cheaper on the CPU (forward and backward) than a convolution with one channel.
    """
    n = x.ndim - 2
    pool = (F.avg_pool2d, F.avg_pool3d)[n - 2]
    return pool(x, win, stride=1, padding=win // 2, count_include_pad=True) * float(win**n)


class NCC(nn.Module):
    """Local normalised cross-correlation loss over ``win``-wide windows (Avants et al. 2008).

    ``forward(pred, target)``: ``(B, 1, *S)`` each; returns ``1 - mean(cc)`` in ``[0, 1]``
    (``cc`` is the squared local correlation, as in VoxelMorph; the offset by 1 keeps the loss
    non-negative, which :class:`UncertaintyWeighting` needs, and changes no gradient).
    """

    def __init__(self, win: int = 9, eps: float = 1e-5) -> None:
        super().__init__()
        if win < 1 or win % 2 == 0:
            raise ValueError(f"win must be an odd int >= 1, got {win}")
        self.win, self.eps = win, eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.shape[1] != 1:
            raise ValueError(
                f"NCC expects two (B, 1, *S) tensors, got {pred.shape}, {target.shape}"
            )
        size = float(self.win ** (pred.ndim - 2))
        i_sum, j_sum = _box_sum(pred, self.win), _box_sum(target, self.win)
        i2, j2 = _box_sum(pred * pred, self.win), _box_sum(target * target, self.win)
        ij = _box_sum(pred * target, self.win)
        cross = ij - i_sum * j_sum / size
        i_var = (i2 - i_sum * i_sum / size).clamp_min(0.0)
        j_var = (j2 - j_sum * j_sum / size).clamp_min(0.0)
        cc = cross * cross / (i_var * j_var + self.eps)
        return 1.0 - cc.mean()


class MSE(nn.Module):
    """Mean squared intensity difference."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target)


class SoftDice(nn.Module):
    """``1 - mean soft Dice`` over label channels of two ``(B, L, *S)`` probability maps.

    Channels whose reference is empty in a case are left out of that case's mean. Pass one-hot
    labels warped with linear interpolation so that the loss is differentiable in the field.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"shapes differ: {pred.shape} vs {target.shape}")
        dims = tuple(range(2, pred.ndim))
        inter = (pred * target).sum(dims)
        total = pred.sum(dims) + target.sum(dims)
        dice = (2 * inter + self.eps) / (total + self.eps)
        present = (target.sum(dims) > 0).to(dice.dtype)
        per_case = (dice * present).sum(1) / present.sum(1).clamp_min(1.0)
        return 1.0 - per_case.mean()


def _diffs(u: torch.Tensor) -> list[torch.Tensor]:
    """Forward differences of ``u`` along each spatial axis (one voxel shorter on that axis)."""
    return [torch.diff(u, dim=d) for d in range(2, u.ndim)]


class Grad(nn.Module):
    """Mean squared forward difference of the displacement: the "L2 smoothness" regulariser."""

    def forward(self, disp: torch.Tensor) -> torch.Tensor:
        return sum(d.pow(2).mean() for d in _diffs(disp)) / (disp.ndim - 2)


def strain_tensor(disp: torch.Tensor) -> list[list[torch.Tensor]]:
    """Small-strain tensor ``eps_ij = (d_j u_i + d_i u_j) / 2`` by central differences.

    Returns ``eps[i][j]``, each ``(B, *S)``.
    """
    n = disp.ndim - 2
    grads = [torch.gradient(disp[:, i], dim=tuple(range(1, n + 1))) for i in range(n)]
    return [[0.5 * (grads[i][j] + grads[j][i]) for j in range(n)] for i in range(n)]


class LinearElastic(nn.Module):
    """Linear isotropic elastic strain energy density, averaged over voxels.

    ``W = mu * tr(eps^2) + lambda / 2 * tr(eps)^2`` with Lame parameters from a unit Young's
    modulus and the Poisson ratio ``nu``: ``mu = 1 / (2 (1 + nu))``,
    ``lambda = nu / ((1 + nu)(1 - 2 nu))``. ``nu -> 0.5`` makes the material near-incompressible
    (volume changes cost more and more), the biomechanics-informed prior of the S20 paper.
    """

    def __init__(self, poisson_ratio: float = 0.45) -> None:
        super().__init__()
        if not 0.0 <= poisson_ratio < 0.5:
            raise ValueError(f"poisson_ratio must be in [0, 0.5), got {poisson_ratio}")
        nu = float(poisson_ratio)
        self.mu = 1.0 / (2.0 * (1.0 + nu))
        self.lam = nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

    def forward(self, disp: torch.Tensor) -> torch.Tensor:
        eps = strain_tensor(disp)
        n = len(eps)
        trace = sum(eps[i][i] for i in range(n))
        sq = sum(eps[i][j] ** 2 for i in range(n) for j in range(n))
        return (self.mu * sq + 0.5 * self.lam * trace**2).mean()


class Incompressibility(nn.Module):
    """Penalty on local volume change: mean ``(log J)^2`` (``"log"``) or ``(J - 1)^2`` (``"abs"``).

    ``J`` is the Jacobian determinant of ``x + u(x)``. In ``"log"`` mode ``J`` is clamped at
    ``min_jac`` first, so that folding voxels (``J <= 0``) get a large but finite penalty.
    ``forward(disp, mask=None)``: an optional ``(B, 1, *S)`` mask restricts the mean (e.g. to the
    myocardium).
    """

    def __init__(self, kind: str = "log", min_jac: float = 1e-3) -> None:
        super().__init__()
        if kind not in ("log", "abs"):
            raise ValueError(f"kind must be 'log' or 'abs', got {kind!r}")
        self.kind, self.min_jac = kind, min_jac

    def forward(self, disp: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        jac = jacobian_determinant(disp)
        pen = jac.clamp_min(self.min_jac).log() ** 2 if self.kind == "log" else (jac - 1) ** 2
        if mask is None:
            return pen.mean()
        w = mask[:, 0].to(pen.dtype)
        return (pen * w).sum() / w.sum().clamp_min(1.0)


class UncertaintyWeighting(nn.Module):
    """Learned weighting of several losses by homoscedastic uncertainty (Kendall et al. 2018).

    ``total = sum_i exp(-s_i) * L_i + s_i`` with one learned log-variance ``s_i`` per loss,
    initialised from ``init_weights`` (``s_i = -log w_i``), so at the start it equals the fixed
    weighted sum plus a constant. This is how DDMR's "uncertainty weighting" (UW) variants weigh
    similarity, Dice and regularisation terms dynamically. The losses must be non-negative
    (otherwise a weight could grow without bound).

    Args:
        names: one name per loss term (fixes the order of ``forward``'s inputs).
        init_weights: starting weights (default all 1).
        fixed: names whose weight stays at its initial value (e.g. the regulariser, so that the
            learned weights cannot switch smoothness off).
    """

    def __init__(
        self,
        names: Sequence[str],
        init_weights: Sequence[float] | None = None,
        fixed: Sequence[str] = (),
    ) -> None:
        super().__init__()
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"names must be non-empty and unique, got {names}")
        w = torch.ones(len(names)) if init_weights is None else torch.as_tensor(init_weights)
        if w.shape != (len(names),) or not bool((w > 0).all()):
            raise ValueError("init_weights must hold one positive weight per name")
        unknown = set(fixed) - set(names)
        if unknown:
            raise ValueError(f"fixed names {sorted(unknown)} not in {names}")
        self.names = names
        self.log_vars = nn.Parameter(-w.float().log())
        self.register_buffer("learned", torch.tensor([n not in fixed for n in names]))

    def weights(self) -> dict[str, float]:
        """Current weights ``exp(-s_i)`` by name."""
        w = torch.exp(-self.log_vars.detach())
        return {n: float(v) for n, v in zip(self.names, w, strict=True)}

    def forward(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(losses) != len(self.names):
            raise ValueError(f"expected {len(self.names)} losses ({self.names}), got {len(losses)}")
        s = torch.where(self.learned, self.log_vars, self.log_vars.detach())
        terms = [torch.exp(-s[i]) * loss for i, loss in enumerate(losses)]
        penalty = (s * self.learned.to(s.dtype)).sum()
        return torch.stack(terms).sum() + penalty
