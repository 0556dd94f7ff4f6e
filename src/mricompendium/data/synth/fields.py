"""Spatial building blocks of the synthesiser: smooth random fields, blur, warps, resampling.

Every function works on 2D ``(H, W)`` or 3D ``(X, Y, Z)`` tensors on any device. Random fields
are drawn on the CPU from a seed and then moved, so a seed gives the same field on CPU and CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "displacement_grid",
    "gaussian_blur",
    "identity_grid",
    "resolution_loss",
    "smooth_noise",
    "warp",
]


def _check_spatial(x: torch.Tensor, name: str = "x") -> int:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2D (H, W) or 3D (X, Y, Z), got shape {tuple(x.shape)}")
    return x.ndim


def smooth_noise(
    shape: Sequence[int],
    *,
    control: int | Sequence[int],
    seed: int,
    channels: int = 1,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Smooth standard-normal-ish random field(s): Gaussian control points, (tri)linear upsampling.

    Args:
        shape: spatial shape (2 or 3 sizes).
        control: control points per axis (>= 2); fewer means smoother.
        seed: seed of the control-point values (drawn on the CPU).
        channels: number of independent fields.
        device: where the result lives.

    Returns:
        float32 ``(channels, *shape)``; values are N(0, 1) at the control points.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 sizes, got {shape}")
    ctrl = (int(control),) * len(shape) if isinstance(control, int) else tuple(control)
    if len(ctrl) != len(shape) or min(ctrl) < 2:
        raise ValueError(f"control must be >= 2 per axis, got {control}")
    gen = torch.Generator().manual_seed(int(seed))
    out = torch.randn((channels, *ctrl), generator=gen).to(device)
    for axis, (n_out, n_in) in enumerate(zip(shape, ctrl, strict=True)):
        w = _linear_weights(n_in, n_out, out.device)  # separable (tri)linear upsampling
        out = torch.movedim(torch.tensordot(out, w, dims=([axis + 1], [1])), -1, axis + 1)
    return out.contiguous()


def _linear_weights(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """``(n_out, n_in)`` linear interpolation matrix with aligned end points."""
    pos = torch.linspace(0.0, n_in - 1.0, n_out, device=device)
    lo = pos.floor().clamp(max=n_in - 2).long()
    frac = pos - lo
    w = torch.zeros(n_out, n_in, device=device)
    rows = torch.arange(n_out, device=device)
    w[rows, lo] = 1.0 - frac
    w[rows, lo + 1] = frac
    return w


def _kernel1d(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float | Sequence[float]) -> torch.Tensor:
    """Separable Gaussian blur with per-axis ``sigma`` in voxels (0 skips an axis; edges replicate).

    Args:
        x: float ``(H, W)`` / ``(X, Y, Z)``, or with leading channels ``(C, *spatial)`` when
            ``sigma`` has one value per spatial axis.
        sigma: one value for all axes or one per spatial axis.
    """
    nd = len(sigma) if isinstance(sigma, Sequence) else x.ndim
    sig = [float(sigma)] * nd if not isinstance(sigma, Sequence) else [float(s) for s in sigma]
    if nd not in (2, 3) or x.ndim < nd:
        raise ValueError(f"sigma {sigma} does not match a 2D/3D tensor of shape {tuple(x.shape)}")
    if any(s < 0 or not math.isfinite(s) for s in sig):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma}")
    y = x.float()
    for axis, s in enumerate(sig):
        if s < 1e-3:
            continue
        y = _blur_axis(y, _kernel1d(s, y.device), y.ndim - nd + axis)
    return y


def _blur_axis(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlate ``x`` with the symmetric kernel ``k`` along ``dim`` (replicated edges)."""
    r = k.numel() // 2
    n = x.shape[dim]
    idx = torch.arange(-r, n + r, device=x.device).clamp(0, n - 1)
    padded = x.index_select(dim, idx)
    out = k[r] * x
    for j in range(1, r + 1):  # symmetric taps in pairs
        out = out + k[r + j] * (padded.narrow(dim, r + j, n) + padded.narrow(dim, r - j, n))
    return out


def identity_grid(shape: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """The sampling grid of ``grid_sample`` that reproduces the input (``align_corners=True``).

    Returns:
        float32 ``(*shape, ndim)`` with coordinates in [-1, 1], last axis in ``grid_sample``'s
        order (reversed spatial axes: ``(z, y, x)`` for a ``(X, Y, Z)`` volume).
    """
    axes = [torch.linspace(-1.0, 1.0, int(s), device=device) for s in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh[::-1], dim=-1)


def warp(x: torch.Tensor, grid: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Resample ``x`` at ``grid`` (as from :func:`identity_grid` plus a displacement).

    Args:
        x: ``(*spatial)`` or ``(C, *spatial)``; integer label maps need ``mode="nearest"`` and
            keep their dtype (nearest neighbour never creates a new label value).
        grid: float ``(*out_spatial, ndim)`` in ``grid_sample`` coordinates.
        mode: ``"bilinear"`` (trilinear in 3D) or ``"nearest"``.

    Returns:
        ``x`` resampled, shape ``(*out_spatial)`` or ``(C, *out_spatial)``; outside the field of
        view it is 0.
    """
    nd = grid.shape[-1]
    if nd not in (2, 3) or grid.ndim != nd + 1:
        raise ValueError(f"grid must be (*spatial, ndim), got {tuple(grid.shape)}")
    has_c = x.ndim == nd + 1
    src = x if has_c else x[None]
    dtype = src.dtype
    out = F.grid_sample(
        src[None].float(),
        grid[None].to(src.device),
        mode=mode,
        align_corners=True,
        padding_mode="zeros",
    )[0]
    if not dtype.is_floating_point:
        out = out.round().to(dtype)
    return out if has_c else out[0]


def resolution_loss(x: torch.Tensor, *, axis: int, factor: float) -> torch.Tensor:
    """Simulate thick slices along ``axis``: slab-profile blur, downsampling, linear upsampling.

    Args:
        x: float ``(H, W)`` or ``(X, Y, Z)``.
        axis: the slice-select axis.
        factor: slice thickness in voxels (>= 1; 1 returns ``x``).
    """
    nd = _check_spatial(x)
    if not 0 <= axis < nd:
        raise ValueError(f"axis must lie in [0, {nd}), got {axis}")
    if not math.isfinite(factor) or factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if factor < 1.01:
        return x
    sigma = [0.0] * nd
    sigma[axis] = factor / 2.355  # FWHM = slice thickness
    blurred = gaussian_blur(x, sigma)
    n = x.shape[axis]
    low = max(2, round(n / factor))
    size_low = list(x.shape)
    size_low[axis] = low
    mode = "bilinear" if nd == 2 else "trilinear"
    down = F.interpolate(blurred[None, None], size=size_low, mode=mode, align_corners=True)
    return F.interpolate(down, size=tuple(x.shape), mode=mode, align_corners=True)[0, 0]


def displacement_grid(disp_vox: torch.Tensor) -> torch.Tensor:
    """A ``grid_sample`` grid from a voxel displacement field (output voxel -> input voxel).

    Args:
        disp_vox: float ``(ndim, *spatial)``: the input position sampled by each output voxel is
            its own index plus ``disp_vox`` (axis order of the tensor, in voxels).

    Returns:
        float32 ``(*spatial, ndim)`` for :func:`warp`.
    """
    nd = disp_vox.shape[0]
    spatial = tuple(disp_vox.shape[1:])
    if nd not in (2, 3) or len(spatial) != nd:
        raise ValueError(f"disp_vox must be (ndim, *spatial), got {tuple(disp_vox.shape)}")
    scale = torch.tensor([2.0 / max(n - 1, 1) for n in spatial], device=disp_vox.device)
    norm = disp_vox * scale.reshape(nd, *([1] * nd))
    return identity_grid(spatial, disp_vox.device) + torch.movedim(norm.flip(0), 0, -1)
