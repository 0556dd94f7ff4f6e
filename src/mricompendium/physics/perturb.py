"""Perturbations of an acquisition as physics: k-space noise and rigid motion per shot.

Noise. Thermal noise in MRI is complex Gaussian, independent between samples, but correlated
between receive coils (mutual inductance, shared preamplifier paths): each k-space sample of the
``C`` coils is drawn from ``CN(0, 2 sigma^2 Psi)`` with ``Psi`` the coil noise covariance
(normalised here to mean diagonal 1, so ``sigma`` is the mean per-coil standard deviation of
each of the real and imaginary parts, the package's convention, see
:mod:`mricompendium.physics.simulate`). :func:`add_kspace_noise` adds it on the sampled
positions only; ``Psi = I`` is white noise. :func:`coil_covariance` builds a covariance in which
coils close on the ring correlate most; :func:`estimate_noise_std` measures ``sigma`` back from
the outer k-space of acquired data.

Motion. A rigid motion between shots (the sets of phase-encode lines acquired after one
excitation, or single lines) moves the object while the coils stay in place. Every line is
measured from the object in the pose of its shot:

* a translation ``d`` (pixels) multiplies the object's k-space by the linear phase
  ``exp(-2 pi i (k_y d_y / H + k_x d_x / W))`` (:func:`translation_phase`): exact for the
  continuous object, so it is applied at the reconstruction grid's k-space positions;
* a rotation cannot be written as a phase: the object is rotated on the fine grid it lives on
  (:func:`rotate`, bilinear resampling), multiplied by the fixed coil maps and measured there
  (:func:`rigid_motion_kspace`, with :func:`~mricompendium.physics.simulate.crop_kspace`, as the
  package's simulator measures every object);
* the k-space motion model of the consistency-training papers (VORTEX, Noise2Recon; meddlr's
  ``MRIMotionTransform``) is a constant phase error per shot, uniform in ``[-pi a, pi a]``
  (:func:`shot_phase_error`): a zeroth-order surrogate of motion that needs no object.

Layouts follow the package: coil k-space complex ``(B, C, H, W)`` with DC at ``(H // 2, W // 2)``,
masks ``(B or 1, 1, 1 or H, W)``; the phase-encode lines are the columns ``W`` (1D masks
undersample them), so a shot is a set of columns (:func:`shot_of_line`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mricompendium.physics.fft import fft2c
from mricompendium.physics.simulate import add_complex_noise, crop_kspace

__all__ = [
    "ORDERS",
    "add_kspace_noise",
    "assemble_shots",
    "coil_covariance",
    "estimate_noise_std",
    "rigid_motion_kspace",
    "rotate",
    "shot_of_line",
    "shot_phase_error",
    "translation_phase",
]

ORDERS = ("interleaved", "sequential")


def coil_covariance(
    num_coils: int,
    *,
    correlation: float,
    gain_spread: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A coil noise covariance ``Psi`` ``(C, C)``, complex Hermitian positive definite.

    Coils ``i`` and ``j`` at ring distance ``d = min(|i - j|, C - |i - j|)`` correlate with
    coefficient ``correlation ** d`` (a circulant matrix, positive definite for ``correlation``
    in ``[0, 1)``); each coil's noise level is scaled by ``exp(gain_spread * z)`` with ``z``
    standard normal from ``generator``. The result is scaled to mean diagonal 1.

    Args:
        num_coils: C >= 1.
        correlation: neighbouring-coil correlation in ``[0, 1)`` (0 and no spread: identity).
        gain_spread: log-standard deviation of the per-coil noise levels (>= 0).
        generator: draws the gains (needed when ``gain_spread > 0``).

    Returns:
        complex128 ``(C, C)``.
    """
    if not isinstance(num_coils, int) or num_coils < 1:
        raise ValueError(f"num_coils must be an int >= 1, got {num_coils!r}")
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    if gain_spread < 0:
        raise ValueError(f"gain_spread must be >= 0, got {gain_spread}")
    idx = torch.arange(num_coils)
    diff = (idx[:, None] - idx[None, :]).abs()
    dist = torch.minimum(diff, num_coils - diff).double()
    corr = torch.where(dist == 0, torch.ones_like(dist), correlation**dist)
    gains = torch.ones(num_coils, dtype=torch.float64)
    if gain_spread > 0:
        if generator is None:
            raise ValueError("gain_spread > 0 needs a generator")
        gains = torch.exp(gain_spread * torch.randn(num_coils, generator=generator).double())
    psi = gains[:, None] * corr * gains[None, :]
    psi = psi / psi.diagonal().mean()
    return psi.to(torch.complex128)


def add_kspace_noise(
    kspace: torch.Tensor,
    mask: torch.Tensor,
    sigma: float | torch.Tensor,
    *,
    covariance: torch.Tensor | None = None,
    seeds: Sequence[int],
) -> torch.Tensor:
    """Add complex Gaussian noise with coil covariance on the sampled positions.

    Args:
        kspace: coil k-space ``(B, C, H, W)`` (zeros where not sampled).
        mask: sampling mask broadcastable to ``kspace``.
        sigma: per-coil standard deviation of each of the real and imaginary parts (mean over
            coils when ``covariance`` is not white): a float or ``(B,)``.
        covariance: coil covariance ``(C, C)`` with mean diagonal 1 (:func:`coil_covariance`);
            ``None``: white noise (identity).
        seeds: one seed per case, so a case's noise depends only on its seed.

    Returns:
        ``kspace + mask * sigma * L w`` with ``L L^H = covariance`` and ``w`` white.
    """
    if not torch.is_complex(kspace) or kspace.dim() != 4:
        raise TypeError(f"kspace must be complex (B, C, H, W), got {kspace.dtype} {kspace.shape}")
    white = add_complex_noise(torch.zeros_like(kspace), sigma=sigma, seeds=seeds)
    if covariance is not None:
        c = kspace.shape[1]
        if covariance.shape != (c, c):
            raise ValueError(f"covariance must be ({c}, {c}), got {tuple(covariance.shape)}")
        diag = covariance.diagonal().real
        if not torch.allclose(diag.mean(), torch.ones((), dtype=diag.dtype), atol=1e-6):
            raise ValueError("covariance must have mean diagonal 1 (see coil_covariance)")
        chol = torch.linalg.cholesky(covariance.to(torch.complex128)).to(kspace.dtype)
        white = torch.einsum("ij,bjhw->bihw", chol.to(kspace.device), white)
    return kspace + white * mask.to(kspace.real.dtype)


def estimate_noise_std(
    kspace: torch.Tensor, mask: torch.Tensor, *, outer_fraction: float = 0.25
) -> torch.Tensor:
    """Noise standard deviation per case ``(B,)`` from the outer k-space of acquired data.

    Far from the centre the object's signal is small against the noise, so the sampled values
    there are mostly noise. The estimate is robust: ``|n|^2`` of circular complex Gaussian noise
    with per-part standard deviation ``sigma`` is exponential with median ``2 ln 2 sigma^2``,
    and the median over the sampled values in the outer ``outer_fraction`` of the k-space radius
    (all coils) is turned back into ``sigma``. Residual signal biases it upward.

    Args:
        kspace: coil k-space ``(B, C, H, W)``.
        mask: its mask ``(B or 1, 1, 1 or H, W)``.
        outer_fraction: the outer part of the normalised k-space radius used, in ``(0, 1)``.
    """
    if not 0 < outer_fraction < 1:
        raise ValueError(f"outer_fraction must be in (0, 1), got {outer_fraction}")
    b, c, h, w = kspace.shape
    ky = (torch.arange(h, device=kspace.device) - h // 2) / (h / 2)
    kx = (torch.arange(w, device=kspace.device) - w // 2) / (w / 2)
    radius = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) / math.sqrt(2)
    outer = radius >= 1 - outer_fraction
    sampled = mask.to(torch.bool).expand(b, 1, h, w)[:, 0] & outer
    power = kspace.abs().square()
    out = []
    for i in range(b):
        vals = power[i][:, sampled[i]]
        if vals.numel() == 0:
            raise ValueError(f"case {i}: no sampled point in the outer k-space")
        out.append(torch.sqrt(vals.median() / (2 * math.log(2))))
    return torch.stack(out)


def shot_of_line(width: int, shots: int, *, order: str = "interleaved") -> torch.Tensor:
    """The shot that acquires each phase-encode line (column), int64 ``(W,)``.

    ``"interleaved"``: line ``w`` in shot ``w % shots`` (as a multi-shot or even/odd echo
    train); ``"sequential"``: contiguous blocks of lines, one per shot. ``shots = W`` is motion
    per line.
    """
    if not isinstance(shots, int) or not 1 <= shots <= width:
        raise ValueError(f"shots must be an int in [1, {width}], got {shots!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    lines = torch.arange(width)
    if order == "interleaved":
        return lines % shots
    return torch.div(lines * shots, width, rounding_mode="floor")


def shot_phase_error(
    kspace: torch.Tensor, shots: torch.Tensor, phases: torch.Tensor
) -> torch.Tensor:
    """Multiply each line by the constant phase of its shot.

    Args:
        kspace: ``(B, C, H, W)``.
        shots: :func:`shot_of_line` ``(W,)``.
        phases: radians per case and shot ``(B, S)``.
    """
    b, _, _, w = kspace.shape
    if shots.shape != (w,) or phases.dim() != 2 or phases.shape[0] != b:
        raise ValueError(
            f"need shots ({w},) and phases ({b}, S), got {shots.shape}, {phases.shape}"
        )
    per_line = phases.to(kspace.device)[:, shots.to(kspace.device)]  # (B, W)
    return kspace * torch.polar(torch.ones_like(per_line), per_line).to(kspace.dtype)[:, None, None]


def translation_phase(
    shape: tuple[int, int], shifts: torch.Tensor, shots: torch.Tensor
) -> torch.Tensor:
    """The k-space factor of a translation per shot, complex ``(B, 1, H, W)``.

    Line ``w`` of case ``b`` gets ``exp(-2 pi i (k_y d_y / H + k_x d_x / W))`` with ``(d_y, d_x)
    = shifts[b, shots[w]]`` in pixels of the grid ``shape`` and ``k`` the sample's index from
    the centre: the object ``x(r - d)`` has k-space ``X(k) exp(-2 pi i k . d / N)``.

    Args:
        shape: ``(H, W)``.
        shifts: ``(B, S, 2)`` pixels ``(d_y, d_x)`` per case and shot.
        shots: :func:`shot_of_line` ``(W,)``.
    """
    h, w = shape
    if shifts.dim() != 3 or shifts.shape[-1] != 2 or shots.shape != (w,):
        raise ValueError(
            f"need shifts (B, S, 2) and shots ({w},), got {shifts.shape}, {shots.shape}"
        )
    d = shifts.double()[:, shots.to(shifts.device)]  # (B, W, 2)
    ky = (torch.arange(h, dtype=torch.float64, device=shifts.device) - h // 2) / h
    kx = (torch.arange(w, dtype=torch.float64, device=shifts.device) - w // 2) / w
    phase = (
        -2 * math.pi * (ky[None, :, None] * d[:, None, :, 0] + kx[None, None, :] * d[:, None, :, 1])
    )
    return torch.polar(torch.ones_like(phase), phase).to(torch.complex64)[:, None]


def rotate(image: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate complex images about the centre of their field of view (bilinear, zeros outside).

    A positive angle turns the image counter-clockwise as displayed (row 0 at the top): at
    ``pi / 2`` this is ``torch.rot90(image, 1, (-2, -1))``.

    Args:
        image: complex ``(B, H, W)``.
        angles: radians ``(B,)``.
    """
    if not torch.is_complex(image) or image.dim() != 3:
        raise TypeError(f"image must be complex (B, H, W), got {image.dtype} {tuple(image.shape)}")
    b, h, w = image.shape
    a = angles.to(device=image.device, dtype=torch.float64).reshape(b)
    cos, sin = torch.cos(a), torch.sin(a)
    # output (u, v) in normalised coordinates samples the input at R(-angle) (u, v), in pixels
    theta = torch.zeros(b, 2, 3, dtype=torch.float64, device=image.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    real = image.real.dtype
    grid = F.affine_grid(theta.to(real), [b, 2, h, w], align_corners=False)
    parts = torch.stack([image.real, image.imag], dim=1)
    out = F.grid_sample(parts, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return torch.complex(out[:, 0], out[:, 1])


def assemble_shots(kspaces: torch.Tensor, shots: torch.Tensor) -> torch.Tensor:
    """Line ``w`` from the k-space of shot ``shots[w]``: ``(S, B, C, H, W)`` -> ``(B, C, H, W)``."""
    s, _, _, _, w = kspaces.shape
    if shots.shape != (w,) or int(shots.max()) >= s:
        raise ValueError(f"shots must be ({w},) with values < {s}")
    cols = torch.arange(w, device=kspaces.device)
    return kspaces[shots.to(kspaces.device), ..., cols].permute(1, 2, 3, 0)


def rigid_motion_kspace(
    objects: torch.Tensor,
    maps: torch.Tensor,
    shape: tuple[int, int],
    *,
    angles: torch.Tensor,
    shifts: torch.Tensor,
    shots: torch.Tensor,
) -> torch.Tensor:
    """Fully sampled coil k-space of objects that move rigidly between shots.

    Each shot ``s`` measures the object rotated by ``angles[:, s]`` on its own (fine) grid, in
    the fixed coil maps, at the k-space positions of the grid ``shape``
    (:func:`~mricompendium.physics.simulate.crop_kspace`), translated by ``shifts[:, s]``
    pixels of ``shape`` (a linear phase); line ``w`` comes from shot ``shots[w]``. With zero
    motion this is exactly ``crop_kspace(fft2c(objects[:, None] * maps), shape)``.

    Args:
        objects: complex ``(B, Hs, Ws)`` on the fine grid.
        maps: complex ``(B, C, Hs, Ws)`` coil maps on the same grid (they do not move).
        shape: the reconstruction grid ``(H, W)``.
        angles: radians ``(B, S)``.
        shifts: pixels of ``shape`` ``(B, S, 2)``.
        shots: :func:`shot_of_line` ``(W,)`` with values ``< S``.

    Returns:
        complex ``(B, C, H, W)``.
    """
    b, s = angles.shape
    if shifts.shape != (b, s, 2):
        raise ValueError(f"shifts must be ({b}, {s}, 2), got {tuple(shifts.shape)}")
    per_shot = []
    for j in range(s):
        moved = objects if bool((angles[:, j] == 0).all()) else rotate(objects, angles[:, j])
        k = crop_kspace(fft2c(moved.unsqueeze(1) * maps), shape)
        only = torch.zeros(shape[1], dtype=torch.int64)  # every line from shot j's shift
        per_shot.append(k * translation_phase(shape, shifts[:, j : j + 1], only).to(k.device))
    return assemble_shots(torch.stack(per_shot), shots)
