"""Radial k-space trajectories: golden-angle spokes and the radial acceleration convention.

Radial trajectories are ``(K, 2)`` tensors of k-space positions in radians per pixel, in
``[-pi, pi)``, with columns ``(ky, kx)`` matching the image axes ``(H, W)``; ``ky = 2 pi m / H``
for a Cartesian row offset ``m`` from the centre, so a trajectory on the grid reproduces
:func:`mricompendium.physics.fft.fft2c` samples (see :mod:`mricompendium.physics.nufft`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["GOLDEN_ANGLE", "golden_angle_radial", "radial_acceleration", "spokes_for_acceleration"]

GOLDEN_ANGLE = math.pi * (math.sqrt(5.0) - 1.0) / 2.0  # 111.25 deg: golden angle for full spokes


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
            2
            * math.pi
            * float(
                torch.rand(
                    (), generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64
                )
            )
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
