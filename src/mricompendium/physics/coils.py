"""Coil sensitivities: simulated birdcage maps, root-sum-of-squares, and calibration from k-space.

Layouts: coil maps ``(C, H, W)`` or ``(B, C, H, W)`` complex; multi-coil k-space ``(B, C, H, W)``
complex with DC at ``(H // 2, W // 2)`` (see :mod:`mricompendium.physics.fft`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mricompendium.physics.fft import ifft2c


def birdcage_maps(
    num_coils: int,
    shape: tuple[int, int],
    *,
    radius: float = 1.5,
    dtype: torch.dtype = torch.complex64,
    normalize: bool = True,
) -> torch.Tensor:
    """Birdcage-style coil sensitivities from a 2D Biot-Savart model.

    Coil ``c`` is a straight conductor perpendicular to the image plane at angle
    ``2 pi c / C`` on a circle of ``radius`` (in units of the image half-width: the image spans
    ``[-1, 1]`` along each axis). Its in-plane field falls off as ``1 / d`` with the distance
    ``d`` and circulates around the conductor, so the complex sensitivity is
    ``exp(i (psi - 2 pi c / C)) / d`` with ``psi`` the azimuth of the pixel seen from the coil.

    Args:
        num_coils: number of coils C (at least 1).
        shape: image shape ``(H, W)``.
        radius: radius of the coil ring relative to the image half-width (> 1 keeps the coils
            outside the field of view).
        dtype: complex output dtype.
        normalize: divide by the root-sum-of-squares so that ``sum_c |S_c|^2 = 1`` everywhere.

    Returns:
        complex maps ``(C, H, W)``.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W), got {shape}")
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    h, w = shape
    angle = torch.arange(num_coils, dtype=torch.float64) * (2 * math.pi / num_coils)
    y = (torch.arange(h, dtype=torch.float64) - h / 2) / (h / 2)
    x = (torch.arange(w, dtype=torch.float64) - w / 2) / (w / 2)
    dy = y[None, :, None] - radius * torch.sin(angle)[:, None, None]
    dx = x[None, None, :] - radius * torch.cos(angle)[:, None, None]
    dist = torch.sqrt(dx**2 + dy**2).clamp_min(1e-6)
    psi = torch.atan2(dx, -dy) - angle[:, None, None]
    maps = torch.polar(1.0 / dist, psi)
    if normalize:
        maps = maps / rss(maps, dim=0).unsqueeze(0)
    return maps.to(dtype)


def rss(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares ``sqrt(sum |x|^2)`` over ``dim`` (coils), for real or complex input."""
    return torch.sqrt((x.abs() ** 2).sum(dim=dim))


def _acs_extent(sampled: torch.Tensor, centre: int) -> tuple[int, int]:
    """Contiguous run of True around ``centre`` in a 1D bool tensor, as [start, stop)."""
    if not bool(sampled[centre]):
        raise ValueError("the k-space centre is not sampled: cannot find a calibration region")
    n = sampled.numel()
    start, stop = centre, centre + 1
    while start > 0 and bool(sampled[start - 1]):
        start -= 1
    while stop < n and bool(sampled[stop]):
        stop += 1
    return start, stop


def acs_mask(kspace: torch.Tensor, *, num_low_freqs: int | None = None) -> torch.Tensor:
    """Mask ``(B, 1, H, W)`` of the fully sampled k-space centre (the autocalibration region).

    With ``num_low_freqs`` given, the centre ``num_low_freqs`` columns over all rows (fastMRI
    convention). Otherwise it is detected per slice from the non-zero samples: walking out from
    the DC sample along the centre row gives the column range and along the centre column the
    row range (all rows for 1D Cartesian masks, the calibration box for 2D masks).
    """
    b, _, h, w = kspace.shape
    out = torch.zeros(b, 1, h, w, dtype=torch.bool, device=kspace.device)
    if num_low_freqs is not None:
        if not 1 <= num_low_freqs <= w:
            raise ValueError(f"num_low_freqs must be in [1, {w}], got {num_low_freqs}")
        start = (w - num_low_freqs + 1) // 2
        out[..., start : start + num_low_freqs] = True
        return out
    sampled = (kspace.abs() > 0).any(dim=1).cpu()
    for i in range(b):
        c0, c1 = _acs_extent(sampled[i, h // 2], w // 2)
        r0, r1 = _acs_extent(sampled[i, :, w // 2], h // 2)
        out[i, 0, r0:r1, c0:c1] = True
    return out


def estimate_sensitivities(
    kspace: torch.Tensor, *, num_low_freqs: int | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """Coil maps from the autocalibration centre, as the initial estimate of E2E-VarNet.

    Keeps the fully sampled k-space centre (:func:`acs_mask`), zeroes the rest, takes the
    inverse FFT of each coil and divides by the root-sum-of-squares over coils (plus ``eps``
    times its maximum, to avoid dividing by zero outside the object). The maps therefore carry
    the low-resolution image phase and satisfy ``sum_c |S_c|^2 ~ 1`` inside the object.

    Args:
        kspace: undersampled multi-coil k-space ``(B, C, H, W)``, zeros where not sampled.
        num_low_freqs: width of the centre in columns; detected from the data when ``None``.
        eps: relative regulariser of the division.

    Returns:
        complex maps ``(B, C, H, W)``.
    """
    if not torch.is_complex(kspace) or kspace.dim() != 4:
        raise TypeError(
            f"kspace must be complex (B, C, H, W), got {kspace.dtype} {tuple(kspace.shape)}"
        )
    low = ifft2c(kspace * acs_mask(kspace, num_low_freqs=num_low_freqs))
    norm = rss(low, dim=1).unsqueeze(1)
    floor = eps * norm.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(norm.dtype).tiny)
    return low / (norm + floor)


def espirit_maps(
    kspace: np.ndarray | torch.Tensor,
    calib_width: int = 24,
    *,
    thresh: float = 0.02,
    crop: float = 0.95,
    kernel_width: int = 6,
) -> torch.Tensor:
    """Reference ESPIRiT maps of one slice from ``sigpy.mri.app.EspiritCalib`` (CPU, numpy).

    Args:
        kspace: multi-coil k-space ``(C, H, W)`` of one slice (numpy or torch, complex).
        calib_width: width of the square calibration region.
        thresh, crop, kernel_width: ESPIRiT parameters passed to SigPy.

    Returns:
        complex64 maps ``(C, H, W)``; zero where the eigenvalue is below ``crop``.
    """
    import sigpy.mri

    arr = kspace.detach().cpu().numpy() if isinstance(kspace, torch.Tensor) else np.asarray(kspace)
    if arr.ndim != 3 or not np.iscomplexobj(arr):
        raise ValueError(f"kspace must be complex (C, H, W), got {arr.dtype} {arr.shape}")
    app = sigpy.mri.app.EspiritCalib(
        arr,
        calib_width=calib_width,
        thresh=thresh,
        kernel_width=kernel_width,
        crop=crop,
        show_pbar=False,
    )
    return torch.from_numpy(np.asarray(app.run()).astype(np.complex64))
