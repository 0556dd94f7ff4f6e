"""Dense deformations: warping, stationary velocity fields, composition, Jacobians.

Conventions (those of VoxelMorph):

* a displacement field ``u`` is a float tensor ``(B, n, *S)`` for ``n = len(S)`` spatial
  dimensions (2 or 3), in **voxel units**; channel ``k`` is the displacement along spatial axis
  ``k`` (for a 2D image ``(B, C, H, W)``: channel 0 along ``H``, channel 1 along ``W``);
* the map it stands for is ``phi_u(x) = x + u(x)`` on voxel coordinates ``x``;
* warping pulls back: ``warp(image, u)(x) = image(x + u(x))``. So a network that registers a
  *moving* image to a *fixed* one predicts ``u`` with ``warp(moving, u) ~ fixed``;
* :func:`compose` ``(a, b)`` is the displacement of ``phi_a o phi_b``, so that
  ``warp(warp(img, a), b) == warp(img, compose(a, b))`` (up to interpolation);
* a stationary velocity field (SVF) ``v`` gives the diffeomorphism ``exp(v)`` by scaling and
  squaring (Arsigny et al. 2006; Dalca et al. 2019): ``u_0 = v / 2**T``, ``u_{k+1} = compose(u_k,
  u_k)``; ``exp(-v)`` is its inverse.

Interpolation is ``torch.nn.functional.grid_sample`` with ``align_corners=True`` (voxel centres at
the grid nodes), so everything here is differentiable with respect to images and fields.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SpatialTransformer",
    "VecInt",
    "affine_displacement",
    "compose",
    "identity_grid",
    "integrate_svf",
    "invert",
    "jacobian_determinant",
    "upsample_displacement",
    "warp",
]

Mode = Literal["linear", "nearest"]
Padding = Literal["border", "zeros"]


def _check_field(disp: torch.Tensor, name: str = "displacement") -> int:
    if not isinstance(disp, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(disp).__name__}")
    n = disp.ndim - 2
    if n not in (2, 3) or disp.shape[1] != n:
        raise ValueError(
            f"{name} must be (B, n, *S) with n = len(S) in (2, 3), got {tuple(disp.shape)}"
        )
    return n


def identity_grid(
    shape: tuple[int, ...], *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Voxel coordinates ``(n, *shape)``: channel ``k`` holds the index along axis ``k``."""
    axes = [torch.arange(s, device=device, dtype=dtype or torch.float32) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def _normalised_grid(disp: torch.Tensor) -> torch.Tensor:
    """``x + u(x)`` in grid_sample's normalised, reversed-axis layout ``(B, *S, n)``."""
    shape = disp.shape[2:]
    loc = identity_grid(tuple(shape), device=disp.device, dtype=disp.dtype) + disp
    scale = torch.tensor(
        [2.0 / max(s - 1, 1) for s in shape], device=disp.device, dtype=disp.dtype
    ).view(1, -1, *([1] * len(shape)))
    loc = loc * scale - 1.0
    return loc.movedim(1, -1).flip(-1)  # grid_sample wants (x=last axis, y, z)


def warp(
    image: torch.Tensor,
    disp: torch.Tensor,
    *,
    mode: Mode = "linear",
    padding: Padding = "border",
) -> torch.Tensor:
    """Pull ``image`` back through ``phi(x) = x + disp(x)``: ``out(x) = image(x + disp(x))``.

    Args:
        image: ``(B, C, *S)`` images, label maps (``mode="nearest"``) or fields.
        disp: ``(B, n, *S)`` displacement in voxels (``B`` may be 1 to broadcast over images).
        mode: ``"linear"`` (bi-/tri-linear; differentiable) or ``"nearest"`` (labels).
        padding: values outside the grid: ``"border"`` (nearest edge) or ``"zeros"``.

    Returns:
        ``(B, C, *S)`` warped, in the dtype of ``image`` (labels keep an integer dtype).
    """
    n = _check_field(disp)
    if image.ndim != n + 2 or tuple(image.shape[2:]) != tuple(disp.shape[2:]):
        raise ValueError(
            f"image {tuple(image.shape)} must be (B, C, *S) with S = {tuple(disp.shape[2:])}"
        )
    if mode not in ("linear", "nearest"):
        raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
    if padding not in ("border", "zeros"):
        raise ValueError(f"padding must be 'border' or 'zeros', got {padding!r}")
    grid = _normalised_grid(disp)
    if grid.shape[0] != image.shape[0]:
        grid = grid.expand(image.shape[0], *grid.shape[1:])
    src = image if image.is_floating_point() else image.to(disp.dtype)
    out = F.grid_sample(
        src,
        grid.to(src.dtype),
        mode="bilinear" if mode == "linear" else "nearest",
        padding_mode=padding,
        align_corners=True,
    )
    return out if image.is_floating_point() else out.round().to(image.dtype)


class SpatialTransformer(nn.Module):
    """:func:`warp` as a module (no parameters): ``forward(image, disp)``."""

    def __init__(self, mode: Mode = "linear", padding: Padding = "border") -> None:
        super().__init__()
        self.mode, self.padding = mode, padding

    def forward(self, image: torch.Tensor, disp: torch.Tensor) -> torch.Tensor:
        return warp(image, disp, mode=self.mode, padding=self.padding)


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Displacement of ``phi_a o phi_b``: ``b(x) + a(x + b(x))``.

    ``warp(img, compose(a, b))`` equals ``warp(warp(img, a), b)``: ``b`` is applied to the
    coordinates first, then ``a``.
    """
    _check_field(a, "a")
    _check_field(b, "b")
    return b + warp(a, b, mode="linear", padding="border")


def integrate_svf(velocity: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """``exp(v)`` by scaling and squaring: the displacement of a diffeomorphism.

    Args:
        velocity: ``(B, n, *S)`` stationary velocity field in voxels.
        steps: number of squarings ``T``; ``v / 2**T`` must be small (well under a voxel).

    Returns:
        ``(B, n, *S)`` displacement; ``steps = 0`` returns ``velocity`` itself.
    """
    _check_field(velocity, "velocity")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    disp = velocity / (2**steps)
    for _ in range(steps):
        disp = compose(disp, disp)
    return disp


class VecInt(nn.Module):
    """:func:`integrate_svf` as a module: ``forward(velocity) -> displacement``."""

    def __init__(self, steps: int = 7) -> None:
        super().__init__()
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self.steps = steps

    def forward(self, velocity: torch.Tensor) -> torch.Tensor:
        return integrate_svf(velocity, self.steps)


def invert(disp: torch.Tensor, iterations: int = 20) -> torch.Tensor:
    """Approximate inverse of a displacement by fixed-point iteration ``w = -u(x + w(x))``.

    The result ``w`` satisfies ``compose(u, w) ~ 0`` (``phi_u o phi_w ~ id``) where ``phi_u`` is
    invertible and its displacement is smooth; for an SVF prefer ``integrate_svf(-v)``.
    """
    _check_field(disp)
    inv = -disp
    for _ in range(iterations):
        inv = -warp(disp, inv, mode="linear", padding="border")
    return inv


def affine_displacement(
    matrix: torch.Tensor, shape: tuple[int, ...], *, centre: bool = True
) -> torch.Tensor:
    """Displacement ``u(x) = A x + t - x`` of an affine map on voxel coordinates.

    Args:
        matrix: ``(n, n + 1)`` or ``(n + 1, n + 1)`` affine ``[A | t]`` acting on voxel indices
            (measured from the grid centre when ``centre``).
        shape: the spatial shape ``S`` (``len(S) = n``).
        centre: coordinates relative to the grid centre ``(s - 1) / 2``.

    Returns:
        ``(1, n, *S)`` float32 displacement; its Jacobian determinant is ``det(A)`` everywhere.
    """
    n = len(shape)
    m = torch.as_tensor(matrix, dtype=torch.float32)
    if m.shape not in ((n, n + 1), (n + 1, n + 1)):
        raise ValueError(f"matrix must be ({n}, {n + 1}) or ({n + 1}, {n + 1}), got {m.shape}")
    a, t = m[:n, :n], m[:n, n]
    x = identity_grid(shape)
    if centre:
        x = x - torch.tensor([(s - 1) / 2 for s in shape]).view(n, *([1] * n))
    mapped = torch.einsum("ij,j...->i...", a, x) + t.view(n, *([1] * n))
    return (mapped - x).unsqueeze(0)


def upsample_displacement(disp: torch.Tensor, factor: int) -> torch.Tensor:
    """A displacement on a coarse cell-centred grid -> the grid ``factor`` times finer over the
    same field of view: each component interpolated (bi-/tri-linear, ``align_corners=False``:
    cell centres, not corners, coincide with the samples) and multiplied by ``factor`` (voxels of
    the fine grid).

    Args:
        disp: ``(B, n, *S)`` displacement in coarse voxels.
        factor: integer >= 1.

    Returns:
        ``(B, n, *(factor * S))`` displacement in fine voxels.
    """
    n = _check_field(disp)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an int >= 1, got {factor!r}")
    if factor == 1:
        return disp.clone()
    mode = "bilinear" if n == 2 else "trilinear"
    return factor * F.interpolate(disp, scale_factor=factor, mode=mode, align_corners=False)


def jacobian_determinant(disp: torch.Tensor) -> torch.Tensor:
    """``det(I + grad u)`` per voxel, by central differences (one-sided at the border).

    Args:
        disp: ``(B, n, *S)`` displacement in voxels (the determinant is unit-free).

    Returns:
        ``(B, *S)``: > 1 expansion, < 1 compression, <= 0 folding.
    """
    n = _check_field(disp)
    grads = []  # grads[i][j] = d u_i / d x_j, each (B, *S)
    for i in range(n):
        g = torch.gradient(disp[:, i], dim=tuple(range(1, n + 1)))
        grads.append(list(g))
    j = [[grads[i][k] + (1.0 if i == k else 0.0) for k in range(n)] for i in range(n)]
    if n == 2:
        return j[0][0] * j[1][1] - j[0][1] * j[1][0]
    return (
        j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
        - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
        + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0])
    )
