"""Undersampling patterns: Cartesian 1D/2D masks and golden-angle radial trajectories.

Cartesian masks are float32 tensors of 0/1. 1D masks undersample the last (phase-encode) dimension
``W`` and have shape ``(1, 1, 1, W)``; 2D masks have shape ``(1, 1, H, W)``. Both broadcast against
multi-coil k-space ``(B, C, H, W)``. Acceleration is always *realised* acceleration: the number of
points of the full grid divided by the number of sampled points (for a 1D mask the grid is the ``W``
columns). Every random pattern takes a ``seed``; the same seed gives the same pattern.

Radial trajectories are ``(K, 2)`` tensors of k-space positions in radians per pixel, in
``[-pi, pi)``, with columns ``(ky, kx)`` matching the image axes ``(H, W)``; ``ky = 2 pi m / H``
for a Cartesian row offset ``m`` from the centre, so a trajectory on the grid reproduces
:func:`mricompendium.physics.fft.fft2c` samples (see :mod:`mricompendium.physics.nufft`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

GOLDEN_ANGLE = math.pi * (math.sqrt(5.0) - 1.0) / 2.0  # 111.25 deg: golden angle for full spokes


def _generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def _check_acceleration(acceleration: float) -> None:
    if not acceleration > 1.0:
        raise ValueError(f"acceleration must be > 1, got {acceleration}")


def _centre_and_total(width: int, acceleration: float, center_fraction: float) -> tuple[int, int]:
    """Number of fully sampled centre columns and total sampled columns of a 1D mask."""
    if width < 2:
        raise ValueError(f"width must be >= 2, got {width}")
    _check_acceleration(acceleration)
    if not 0.0 <= center_fraction < 1.0:
        raise ValueError(f"center_fraction must be in [0, 1), got {center_fraction}")
    num_low = int(round(width * center_fraction))
    total = int(round(width / acceleration))
    if num_low > total:
        raise ValueError(
            f"centre ({num_low} columns) exceeds the sampling budget round({width}/{acceleration})"
            f" = {total}; lower center_fraction or acceleration"
        )
    return num_low, total


def _centre_slice(width: int, num_low: int) -> slice:
    start = (width - num_low + 1) // 2
    return slice(start, start + num_low)


def _outer_columns(width: int, num_low: int) -> torch.Tensor:
    keep = torch.ones(width, dtype=torch.bool)
    keep[_centre_slice(width, num_low)] = False
    return torch.nonzero(keep).flatten()


def equispaced_mask_1d(
    width: int, *, acceleration: float, center_fraction: float, seed: int | None = None
) -> torch.Tensor:
    """Fully sampled centre plus equally spaced phase-encode lines (fastMRI-style).

    The mask samples exactly ``round(width / acceleration)`` columns, of which
    ``round(width * center_fraction)`` form the contiguous centre. The other lines are placed
    on the columns outside the centre with a constant real-valued step rounded down to a
    column, so neighbouring gaps differ by at most one column (they are exactly equal when the
    step is an integer). The seed picks the offset of the first line (offset 0 when ``None``).

    Returns:
        float32 mask ``(1, 1, 1, width)``.
    """
    num_low, total = _centre_and_total(width, acceleration, center_fraction)
    mask = torch.zeros(width, dtype=torch.float32)
    mask[_centre_slice(width, num_low)] = 1.0
    outer = _outer_columns(width, num_low)
    remaining = total - num_low
    if remaining > 0:
        step = outer.numel() / remaining
        gen = _generator(seed)
        offset = 0.0 if gen is None else float(torch.rand((), generator=gen)) * step
        pos = torch.floor(offset + step * torch.arange(remaining, dtype=torch.float64))
        mask[outer[pos.long()]] = 1.0
    return mask.view(1, 1, 1, width)


def random_mask_1d(
    width: int, *, acceleration: float, center_fraction: float, seed: int | None = None
) -> torch.Tensor:
    """Fully sampled centre plus uniformly random phase-encode lines (without replacement).

    Samples exactly ``round(width / acceleration)`` columns including the centre.

    Returns:
        float32 mask ``(1, 1, 1, width)``.
    """
    num_low, total = _centre_and_total(width, acceleration, center_fraction)
    mask = torch.zeros(width, dtype=torch.float32)
    mask[_centre_slice(width, num_low)] = 1.0
    outer = _outer_columns(width, num_low)
    perm = torch.randperm(outer.numel(), generator=_generator(seed))
    mask[outer[perm[: total - num_low]]] = 1.0
    return mask.view(1, 1, 1, width)


def _check_2d(shape: tuple[int, int], acceleration: float, calib: tuple[int, int]) -> int:
    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"shape must be (H, W) with H, W >= 2, got {shape}")
    _check_acceleration(acceleration)
    h, w = shape
    if len(calib) != 2 or not (0 <= calib[0] <= h and 0 <= calib[1] <= w):
        raise ValueError(f"calib must be (ch, cw) within {shape}, got {calib}")
    total = int(round(h * w / acceleration))
    if calib[0] * calib[1] > total:
        raise ValueError(f"calibration region {calib} exceeds the budget of {total} samples")
    return total


def _calib_region(shape: tuple[int, int], calib: tuple[int, int]) -> torch.Tensor:
    region = torch.zeros(shape, dtype=torch.bool)
    region[_centre_slice(shape[0], calib[0]), _centre_slice(shape[1], calib[1])] = True
    return region


def _set_count(
    mask: torch.Tensor, calib: torch.Tensor, total: int, weight: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Remove random non-calibration samples, or add samples drawn from ``weight``, to hit total."""
    mask = mask | calib
    flat = mask.flatten().clone()
    surplus = int(flat.sum()) - total
    if surplus > 0:
        removable = torch.nonzero(flat & ~calib.flatten()).flatten()
        drop = removable[torch.randperm(removable.numel(), generator=gen)[:surplus]]
        flat[drop] = False
    elif surplus < 0:
        w = weight.flatten().double() * (~flat).double()
        flat[torch.multinomial(w, -surplus, replacement=False, generator=gen)] = True
    return flat.view(mask.shape)


def _radius_map(shape: tuple[int, int], calib: tuple[int, int]) -> torch.Tensor:
    """Normalised k-space radius outside the calibration box (0 inside), as in variable density."""
    axes = []
    for n, c in zip(shape, calib, strict=True):
        d = (torch.arange(n, dtype=torch.float64) - n / 2).abs() - c / 2
        d = d.clamp_min(0)
        axes.append(d / d.max().clamp_min(1e-12))
    return torch.sqrt(axes[0][:, None] ** 2 + axes[1][None, :] ** 2)


def _sigpy_poisson(
    shape: tuple[int, int], accel: float, calib: tuple[int, int], seed: int, tol: float
) -> np.ndarray:
    """``sigpy.mri.poisson``'s slope bisection, with its Poisson-disc kernel, but bounded.

    SigPy's own loop (``while slope_min < slope_max``) never ends when the two ends become
    neighbouring floats without meeting the tolerance, which happens for rare seeds. The same
    bisection, capped at 60 halvings, gives the same masks wherever SigPy's converges and raises
    ``ValueError`` where it would hang.
    """
    from sigpy.mri.samp import _poisson

    ny, nx = shape
    y, x = np.mgrid[:ny, :nx]
    x = np.maximum(abs(x - nx / 2) - calib[-1] / 2, 0)
    x /= x.max()
    y = np.maximum(abs(y - ny / 2) - calib[-2] / 2, 0)
    y /= y.max()
    r = np.sqrt(x**2 + y**2)
    lo, hi = 0.0, float(max(nx, ny))
    for _ in range(60):
        slope = (lo + hi) / 2
        radius_x = np.clip((1 + r * slope) * nx / max(nx, ny), 1, None)
        radius_y = np.clip((1 + r * slope) * ny / max(nx, ny), 1, None)
        mask = _poisson(nx, ny, 30, radius_x, radius_y, calib, seed) * (r < 1)
        actual = nx * ny / np.sum(mask)
        if abs(actual - accel) < tol:
            return mask.reshape(shape)
        lo, hi = (slope, hi) if actual < accel else (lo, slope)
    raise ValueError(f"cannot generate a Poisson-disc mask for acceleration {accel}")


def poisson_disc_mask_2d(
    shape: tuple[int, int],
    *,
    acceleration: float,
    calib: tuple[int, int] = (16, 16),
    seed: int | None = None,
) -> torch.Tensor:
    """Variable-density Poisson-disc 2D mask with a fully sampled calibration box.

    Backend: SigPy's Poisson-disc kernel (Bridson's algorithm, density ``1 / (1 + s r)``) in a
    bounded copy of ``sigpy.mri.poisson``'s slope search (:func:`_sigpy_poisson`), asked for a
    slightly denser pattern; random non-calibration samples are then removed (which keeps the
    minimum-distance property) so that exactly ``round(H * W / acceleration)`` points are sampled.

    Returns:
        float32 mask ``(1, 1, H, W)``.
    """
    total = _check_2d(shape, acceleration, calib)
    seed = 0 if seed is None else int(seed)
    gen = torch.Generator().manual_seed(seed)
    region = _calib_region(shape, calib)
    weight = 1.0 / (1.0 + 4.0 * _radius_map(shape, calib))
    sampled = None
    for request in (0.96, 0.93, 0.9):  # sigpy's bisection occasionally misses its tolerance
        try:
            arr = _sigpy_poisson(
                shape, acceleration * request, tuple(calib), seed, tol=0.02 * acceleration
            )
        except ValueError:
            continue
        sampled = torch.from_numpy(np.abs(arr) > 0)
        break
    if sampled is None:
        sampled = torch.zeros(shape, dtype=torch.bool)
    mask = _set_count(sampled, region, total, weight, gen)
    return mask.float().view(1, 1, *shape)


def gaussian_mask_2d(
    shape: tuple[int, int],
    *,
    acceleration: float,
    calib: tuple[int, int] = (16, 16),
    seed: int | None = None,
    sigma: float = 0.35,
) -> torch.Tensor:
    """Variable-density random 2D mask with Gaussian density and a fully sampled calibration box.

    Points outside the box are drawn without replacement with probability proportional to
    ``exp(-r^2 / (2 sigma^2))``, ``r`` the k-space radius normalised to 1 at the edge, until
    exactly ``round(H * W / acceleration)`` points are sampled.

    Returns:
        float32 mask ``(1, 1, H, W)``.
    """
    total = _check_2d(shape, acceleration, calib)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    region = _calib_region(shape, calib)
    weight = torch.exp(-(_radius_map(shape, (0, 0)) ** 2) / (2 * sigma**2))
    mask = _set_count(torch.zeros(shape, dtype=torch.bool), region, total, weight, gen)
    return mask.float().view(1, 1, *shape)


def realised_acceleration(mask: torch.Tensor) -> float:
    """Points in the full grid / sampled points (``W / sum`` for a ``(1, 1, 1, W)`` mask)."""
    sampled = float(mask.sum())
    if sampled <= 0:
        raise ValueError("mask samples no points")
    return mask.numel() / sampled


def golden_angle_radial(
    num_spokes: int, num_readout: int, *, seed: int | None = None
) -> torch.Tensor:
    """Golden-angle radial trajectory of full-diameter spokes.

    Spoke ``i`` has angle ``theta_i = theta_0 + i * 111.25 deg`` (``pi (sqrt 5 - 1) / 2``), with
    ``theta_0 = 0`` or, if ``seed`` is given, uniform in ``[0, 2 pi)``. Readout sample ``j`` lies at
    radius ``(j - num_readout / 2) * 2 pi / num_readout``; points are wrapped into ``[-pi, pi)``
    (on the integer image grid a frequency of ``pi`` equals ``-pi``). For an ``N x N`` image,
    ``num_readout = N`` samples each spoke at the Nyquist spacing and ``2 N`` oversamples it twice.

    Returns:
        float32 ``(num_spokes * num_readout, 2)``: rows ``(ky, kx)`` in radians per pixel,
        spoke-major (readout varies fastest).
    """
    if num_spokes < 1 or num_readout < 2:
        raise ValueError(
            f"need num_spokes >= 1 and num_readout >= 2, got {num_spokes}, {num_readout}"
        )
    theta0 = 0.0
    if seed is not None:
        theta0 = (
            2 * math.pi * float(torch.rand((), generator=_generator(seed), dtype=torch.float64))
        )
    theta = theta0 + GOLDEN_ANGLE * torch.arange(num_spokes, dtype=torch.float64)
    radius = (torch.arange(num_readout, dtype=torch.float64) - num_readout / 2) * (
        2 * math.pi / num_readout
    )
    ky = radius[None, :] * torch.sin(theta)[:, None]
    kx = radius[None, :] * torch.cos(theta)[:, None]
    traj = torch.stack((ky.flatten(), kx.flatten()), dim=-1)
    traj = torch.remainder(traj + math.pi, 2 * math.pi) - math.pi
    return traj.float()


def radial_acceleration(num_spokes: int, num_readout: int) -> float:
    """Radial undersampling factor: Nyquist needs ``pi / 2 * num_readout`` spokes (full diameters).

    Returns ``pi / 2 * num_readout / num_spokes`` (angular Nyquist criterion at the k-space edge).
    ``num_readout`` stands for the matrix size N of the image: with readout oversampling (for
    example 256 samples per spoke for a 128 x 128 image) pass the image width instead.
    """
    if num_spokes < 1:
        raise ValueError(f"num_spokes must be >= 1, got {num_spokes}")
    return math.pi / 2 * num_readout / num_spokes


def spokes_for_acceleration(acceleration: float, num_readout: int) -> int:
    """Number of spokes (at least 1) whose :func:`radial_acceleration` is closest to the target."""
    if acceleration <= 0:
        raise ValueError(f"acceleration must be positive, got {acceleration}")
    return max(1, int(round(math.pi / 2 * num_readout / acceleration)))
