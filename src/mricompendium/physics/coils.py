"""Coil sensitivities: simulated birdcage maps, root-sum-of-squares, calibration and compression.

Layouts: coil maps ``(C, H, W)`` or ``(B, C, H, W)`` complex; multi-coil k-space ``(B, C, H, W)``
complex with DC at ``(H // 2, W // 2)`` (see :mod:`mricompendium.physics.fft`); sampling masks
real 0/1 ``(B or 1, 1, 1 or H, W)`` (see :mod:`mricompendium.physics.masks`).

The calibration region (ACS) and the coil maps estimated from it are defined once here
(:func:`acs_mask`, :func:`estimate_sensitivities`) and used by the data sets and by every model
that estimates maps from the calibration region.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mricompendium.physics.fft import ifft2c

__all__ = [
    "acs_mask",
    "birdcage_maps",
    "coil_compress",
    "sampled_mask",
    "espirit_maps",
    "estimate_sensitivities",
    "random_birdcage_maps",
    "rss",
]


def random_birdcage_maps(
    num_coils: int,
    shape: tuple[int, int],
    *,
    rotation: torch.Tensor | float = 0.0,
    radius: torch.Tensor | float = 1.5,
    dtype: torch.dtype = torch.complex64,
    normalize: bool = True,
) -> torch.Tensor:
    """Birdcage coil sensitivities of a batch of coil rings, each rotated and with its own radius.

    A 2D Biot-Savart model: coil ``c`` is a straight conductor perpendicular to the image plane
    at angle ``2 pi c / C + rotation`` on a circle of ``radius`` (in units of the image
    half-width: the image spans ``[-1, 1]`` along each axis). Its in-plane field falls off as
    ``1 / d`` with the distance ``d`` and circulates around the conductor, so the complex
    sensitivity is ``exp(i (psi - angle)) / d`` with ``psi`` the azimuth of the pixel seen from
    the coil.

    Args:
        num_coils: C >= 1.
        shape: ``(H, W)``.
        rotation: ``(B,)`` ring rotations in radians (or a float: B = 1).
        radius: ``(B,)`` ring radii (> 0; > 1 keeps the coils outside the field of view).
        dtype: complex output dtype.
        normalize: divide by the root-sum-of-squares so that ``sum_c |S_c|^2 = 1`` everywhere.

    Returns:
        complex maps ``(B, C, H, W)``.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W), got {shape}")
    rotation = torch.as_tensor(rotation, dtype=torch.float64).reshape(-1, 1, 1, 1)
    radius = torch.as_tensor(radius, dtype=torch.float64).reshape(-1, 1, 1, 1)
    if rotation.shape != radius.shape:
        raise ValueError("rotation and radius must both be (B,)")
    if bool((radius <= 0).any()):
        raise ValueError(f"radius must be positive, got {radius.flatten().tolist()}")
    h, w = shape
    step = 2 * math.pi / num_coils
    angle = torch.arange(num_coils, dtype=torch.float64).view(1, -1, 1, 1) * step + rotation
    y = ((torch.arange(h, dtype=torch.float64) - h / 2) / (h / 2)).view(1, 1, -1, 1)
    x = ((torch.arange(w, dtype=torch.float64) - w / 2) / (w / 2)).view(1, 1, 1, -1)
    dy = y - radius * torch.sin(angle)
    dx = x - radius * torch.cos(angle)
    dist = torch.sqrt(dx**2 + dy**2).clamp_min(1e-6)
    maps = torch.polar(1.0 / dist, torch.atan2(dx, -dy) - angle)
    if normalize:
        maps = maps / rss(maps, dim=1).unsqueeze(1)
    return maps.to(dtype)


def birdcage_maps(
    num_coils: int,
    shape: tuple[int, int],
    *,
    radius: float = 1.5,
    dtype: torch.dtype = torch.complex64,
    normalize: bool = True,
) -> torch.Tensor:
    """One unrotated birdcage ring (:func:`random_birdcage_maps` with rotation 0): ``(C, H, W)``."""
    return random_birdcage_maps(
        num_coils, shape, radius=float(radius), dtype=dtype, normalize=normalize
    )[0]


def rss(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares ``sqrt(sum |x|^2)`` over ``dim`` (coils), for real or complex input."""
    return torch.sqrt((x.abs() ** 2).sum(dim=dim))


def _central_run(lines: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """0/1 ``(B, N)`` -> 0/1 ``(B, N)``: the contiguous sampled run through index ``N // 2``.

    ``symmetric``: the block of ``2 min(left, right)`` samples centred on ``N // 2`` (fastMRI's
    ``num_low_frequencies`` rule for even sizes). Rows whose centre is not sampled give zeros.
    """
    n = lines.shape[-1]
    cent = n // 2
    ones = (lines > 0).to(torch.float32)
    right = torch.cumprod(ones[:, cent:], dim=1).sum(dim=1, keepdim=True)
    left = torch.cumprod(ones[:, :cent].flip(1), dim=1).sum(dim=1, keepdim=True)
    left = torch.where(right > 0, left, torch.zeros_like(left))  # centre not sampled: empty
    if symmetric:
        left = torch.minimum(left, right)
        right = torch.maximum(left, (right > 0).to(left.dtype))
    idx = torch.arange(n, device=lines.device).unsqueeze(0)
    return ((idx >= cent - left) & (idx < cent + right)).to(lines.dtype)


def acs_mask(mask: torch.Tensor, *, symmetric: bool = False) -> torch.Tensor:
    """The autocalibration (ACS) region of a sampling mask: its fully sampled centre.

    Walking out from the DC sample ``(H // 2, W // 2)``: along the centre row for the column
    range, along the centre column for the row range (all rows for a 1D mask ``(B, 1, 1, W)``,
    the calibration box of a 2D mask ``(B, 1, H, W)``).

    Args:
        mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)``.
        symmetric: keep only the block symmetric about the centre (``2 min(left, right)``
            lines), fastMRI's rule, used by E2E-VarNet's sensitivity network.

    Returns:
        0/1 mask of the same shape and dtype; all zeros for a case whose centre is not sampled.
    """
    if torch.is_complex(mask) or mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be real (B, 1, 1|H, W), got {mask.dtype} {tuple(mask.shape)}")
    b, _, h, w = mask.shape
    m = mask.to(torch.float32)
    cols = _central_run(m[:, 0, h // 2, :], symmetric)
    if h == 1:
        return cols.view(b, 1, 1, w).to(mask.dtype)
    rows = _central_run(m[:, 0, :, w // 2], symmetric)
    return (rows.view(b, 1, h, 1) * cols.view(b, 1, 1, w)).to(mask.dtype)


def sampled_mask(kspace: torch.Tensor) -> torch.Tensor:
    """The sampling mask ``(B, 1, H, W)`` of zero-filled k-space: where any coil is non-zero."""
    return (kspace.abs() > 0).any(dim=1, keepdim=True).to(kspace.real.dtype)


def estimate_sensitivities(
    kspace: torch.Tensor, mask: torch.Tensor | None = None, *, eps: float = 1e-6
) -> torch.Tensor:
    """Coil maps from the autocalibration centre (the initial estimate of E2E-VarNet).

    Keeps the fully sampled k-space centre (:func:`acs_mask` of ``mask``), zeroes the rest,
    takes the inverse FFT of each coil and divides by the root-sum-of-squares over coils (plus
    ``eps`` times its maximum, to avoid dividing by zero outside the object). The maps carry the
    low-resolution image phase and satisfy ``sum_c |S_c|^2 ~ 1`` inside the object. Single-coil
    k-space (C = 1) gives ones.

    Args:
        kspace: undersampled multi-coil k-space ``(B, C, H, W)``, zeros where not sampled.
        mask: its sampling mask ``(B or 1, 1, 1 or H, W)``; default: where ``kspace`` is non-zero.
        eps: relative regulariser of the division.

    Returns:
        complex maps ``(B, C, H, W)``.

    Raises:
        ValueError: a case whose k-space centre is not sampled (no calibration region).
    """
    if not torch.is_complex(kspace) or kspace.dim() != 4:
        raise TypeError(
            f"kspace must be complex (B, C, H, W), got {kspace.dtype} {tuple(kspace.shape)}"
        )
    if kspace.shape[1] == 1:
        return torch.ones_like(kspace)
    acs = acs_mask(sampled_mask(kspace) if mask is None else mask)
    empty = acs.flatten(1).sum(dim=1) == 0
    if bool(empty.any()):
        cases = empty.nonzero().flatten().tolist()
        raise ValueError(
            f"the k-space centre is not sampled in cases {cases}: no calibration region"
        )
    low = ifft2c(kspace * acs.to(kspace.real.dtype))
    norm = rss(low, dim=1).unsqueeze(1)
    floor = eps * norm.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(norm.dtype).tiny)
    return low / (norm + floor)


def coil_compress(kspace: torch.Tensor, num_coils: int) -> torch.Tensor:
    """PCA coil compression of one volume ``(S, C, H, W)`` to ``num_coils`` virtual coils.

    The coil covariance over all samples of the volume is diagonalised and the data projected
    on its ``num_coils`` leading eigenvectors (SVD coil compression, Huang et al., MRI 2008).
    """
    s, c, h, w = kspace.shape
    if not 1 <= num_coils <= c:
        raise ValueError(
            f"num_coils must be in [1, {c}] (the data have {c} coils), got {num_coils}"
        )
    if num_coils == c:
        return kspace
    flat = kspace.transpose(0, 1).reshape(c, -1).to(torch.complex128)
    _, vecs = torch.linalg.eigh(flat @ flat.conj().T)
    basis = vecs[:, -num_coils:].flip(-1)  # leading eigenvectors first
    out = basis.conj().T @ flat
    return out.reshape(num_coils, s, h, w).transpose(0, 1).to(kspace.dtype)


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
