"""Simulation physics shared by every k-space simulator: smooth phase, the SNR definition, noise,
and measurement of an object sampled on a finer grid than the reconstruction grid.

The one simulator of the package, :class:`mricompendium.data.recon.KspaceSimulator`, builds
on these: a real image gets a smooth random phase (real MR images are complex with slowly varying
phase), is weighted by coil sensitivities, measured by an operator (Cartesian FFT and mask, or a
radial NUFFT) and receives white circular complex Gaussian noise at a given SNR.

Avoiding the "inverse crime" (Guerquin-Kern et al., MRM 2012; Shimron et al., PNAS 2022): data
made with the same discrete forward model (pixel grid, FFT, coil maps) that the reconstructions
invert flatter every method. So the object, its phase and the coil maps live on a grid at least
twice finer than the reconstruction grid; the data are the samples of *that* object's Fourier
transform at the reconstruction grid's k-space positions (:func:`crop_kspace` for Cartesian
sampling, :func:`grid_sample_weights` with a fine-grid NUFFT for radial sampling). The measured
data therefore hold the truncation (Gibbs ringing) of a real acquisition, and no image on the
reconstruction grid reproduces them exactly. The reference is what a fully sampled acquisition on
the reconstruction grid gives (:func:`fourier_resample`), as fastMRI's targets are. What remains
shared with the reconstructions: the images were magnitude images, not raw k-space, and the coil
model (birdcage) and noise model (white, Gaussian) are idealised.

Grid alignment: a grid of ``N`` pixels and one of ``N_f = f N`` pixels cover the same field of
view, edge to edge (pixel ``r`` of the coarse grid covers fine pixels ``[r f, (r + 1) f)``), as
block means and :func:`skimage.transform.resize` align them; the k-space sample of the coarse
grid at ``omega`` (radians per coarse pixel, :mod:`mricompendium.physics.nufft` convention) is
``f^(-1/2) exp(-i omega delta)`` times the fine grid's sample at ``omega / f`` per axis, with
``delta`` the offset between the two grids' centre pixels in coarse pixels.

SNR definition (the only one in the package, :func:`noise_sigma_for_snr`): per case,
``SNR = mean(|image| inside the object) / sigma`` with ``sigma`` the standard deviation of each of
the real and imaginary parts of the noise. Because the FFT is orthonormal, image-domain noise has
the same ``sigma``; with maps normalised to ``sum_c |S_c|^2 = 1`` the coil-combined image
``sum_c conj(S_c) x_c`` has it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mricompendium.physics.fft import fft2c, ifft2c

__all__ = [
    "MIN_OVERSAMPLING",
    "add_complex_noise",
    "crop_kspace",
    "fine_trajectory",
    "fourier_resample",
    "grid_sample_weights",
    "noise_sigma_for_snr",
    "smooth_phase",
]

MIN_OVERSAMPLING = 2.0  # the object grid is at least this many times finer than the recon grid


def smooth_phase(
    shape: tuple[int, int], *, max_phase: float = math.pi / 2, seed: int
) -> torch.Tensor:
    """Smooth random phase map ``(H, W)`` in radians, with ``max |phase| = max_phase``.

    A random real combination of the 2D Fourier modes with frequencies ``|f| <= 2`` cycles per
    field of view (a low-order field, like B0 and receive phase), scaled to the given maximum.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W), got {shape}")
    if max_phase < 0:
        raise ValueError(f"max_phase must be non-negative, got {max_phase}")
    gen = torch.Generator().manual_seed(int(seed))
    h, w = shape
    freqs = torch.arange(-2, 3, dtype=torch.float64)
    coef = torch.randn(5, 5, 2, generator=gen, dtype=torch.float64)
    y = torch.arange(h, dtype=torch.float64) / h
    x = torch.arange(w, dtype=torch.float64) / w
    ey = torch.exp(2j * math.pi * freqs[:, None] * y[None, :])  # (5, H)
    ex = torch.exp(2j * math.pi * freqs[:, None] * x[None, :])  # (5, W)
    field = torch.einsum("pq,ph,qw->hw", torch.complex(coef[..., 0], coef[..., 1]), ey, ex).real
    field = field - field.mean()
    peak = field.abs().max()
    if peak > 0:
        field = field * (max_phase / peak)
    return field.float()


def noise_sigma_for_snr(
    image: torch.Tensor, snr: float, *, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-case noise standard deviation (each of real and imaginary part) for the given SNR.

    ``sigma = mean(|image| inside the object) / snr``, one value per image.

    Args:
        image: real or complex images ``(..., H, W)``.
        snr: target signal-to-noise ratio (> 0).
        mask: boolean object mask broadcastable to ``image``; default ``|image| > 0.1 max|image|``
            of each image.

    Returns:
        float tensor of shape ``image.shape[:-2]`` (0-d for one image).
    """
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    mag = image.abs()
    if mask is None:
        region = mag > 0.1 * mag.amax(dim=(-2, -1), keepdim=True)
    else:
        region = mask.to(device=mag.device).bool().expand_as(mag)
    count = region.sum(dim=(-2, -1))
    if bool((count == 0).any()):
        raise ValueError("the object mask is empty for some image")
    return (mag * region).sum(dim=(-2, -1)) / count / snr


def add_complex_noise(
    data: torch.Tensor,
    *,
    sigma: float | torch.Tensor,
    generator: torch.Generator | None = None,
    seeds: Sequence[int] | None = None,
) -> torch.Tensor:
    """Add white circular complex Gaussian noise, std ``sigma`` per real and imaginary part.

    Args:
        data: complex tensor ``(B, ...)`` (k-space or samples).
        sigma: a float, or a tensor ``(B,)`` with one level per batch element.
        generator: CPU generator the whole batch's noise is drawn from; or
        seeds: one seed per batch element, so that an element's noise depends only on its seed
            (not on the rest of the batch). Exactly one of ``generator`` and ``seeds``.

    Returns:
        ``data + sigma * noise``, same shape and dtype (the noise is drawn on the CPU).
    """
    if not torch.is_complex(data):
        raise TypeError(f"data must be complex, got {data.dtype}")
    if (generator is None) == (seeds is None):
        raise ValueError("pass exactly one of generator and seeds")
    real = data.real.dtype
    sigma_t = torch.as_tensor(sigma, dtype=real)
    if bool((sigma_t < 0).any()):
        raise ValueError("sigma must be non-negative")
    if sigma_t.dim() == 1:
        sigma_t = sigma_t.view(-1, *([1] * (data.dim() - 1)))
    if seeds is not None:
        if len(seeds) != data.shape[0]:
            raise ValueError(f"need {data.shape[0]} seeds, got {len(seeds)}")
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        noise = torch.stack(
            [torch.randn((*data.shape[1:], 2), generator=g, dtype=real) for g in gens]
        )
    else:
        noise = torch.randn((*data.shape, 2), generator=generator, dtype=real)
    noise = torch.view_as_complex(noise).to(data.device)
    return data + sigma_t.to(data.device) * noise


def _axis_weights(omega: torch.Tensor, n_fine: int, n: int) -> torch.Tensor:
    """``f^(-1/2) exp(-i omega delta)`` along one axis (see the module docstring)."""
    f = n_fine / n
    delta = (n_fine // 2 + 0.5) / f - 0.5 - n // 2
    return torch.polar(torch.full_like(omega, f**-0.5), -omega * delta)


def _check_grids(fine: tuple[int, int], shape: tuple[int, int]) -> None:
    if len(shape) != 2 or min(shape) < 1 or len(fine) != 2:
        raise ValueError(f"shapes must be (H, W), got {fine} and {shape}")
    if fine[0] < shape[0] or fine[1] < shape[1]:
        raise ValueError(f"the fine grid {tuple(fine)} is coarser than the grid {tuple(shape)}")


def grid_sample_weights(
    traj: torch.Tensor, fine_shape: tuple[int, int], shape: tuple[int, int]
) -> torch.Tensor:
    """Complex weights ``(K,)`` turning fine-grid samples into the coarse grid's convention.

    For a trajectory ``traj`` ``(K, 2)`` in radians per pixel of the coarse grid ``shape``, the
    coarse-grid k-space value of an object sampled on ``fine_shape`` is ``weights *
    y_fine(fine_trajectory(traj))``, with ``y_fine`` the NUFFT on the fine grid.
    """
    _check_grids(fine_shape, shape)
    t = traj.double()
    w = _axis_weights(t[:, 0], fine_shape[0], shape[0]) * _axis_weights(
        t[:, 1], fine_shape[1], shape[1]
    )
    return w.to(torch.complex128 if traj.dtype == torch.float64 else torch.complex64)


def fine_trajectory(
    traj: torch.Tensor, fine_shape: tuple[int, int], shape: tuple[int, int]
) -> torch.Tensor:
    """The same k-space positions in radians per pixel of the fine grid, ``(K, 2)``."""
    _check_grids(fine_shape, shape)
    scale = torch.tensor([shape[0] / fine_shape[0], shape[1] / fine_shape[1]], dtype=traj.dtype)
    return traj * scale.to(traj.device)


def crop_kspace(kspace: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The Cartesian k-space of the grid ``shape`` from the centred k-space of a finer grid.

    The central ``H x W`` samples of ``fft2c`` on the fine grid are the coarse grid's k-space
    positions; they are scaled and phase-shifted to the coarse grid's convention, so that a
    smooth object gives the same k-space on both grids.

    Args:
        kspace: centred k-space ``(..., Hf, Wf)`` (DC at ``(Hf // 2, Wf // 2)``).
        shape: the coarse grid ``(H, W)``, ``H <= Hf`` and ``W <= Wf``.

    Returns:
        complex ``(..., H, W)``, DC at ``(H // 2, W // 2)``.
    """
    if not torch.is_complex(kspace):
        raise TypeError(f"kspace must be complex, got {kspace.dtype}")
    hf, wf = kspace.shape[-2:]
    h, w = shape
    _check_grids((hf, wf), shape)
    rows = slice(hf // 2 - h // 2, hf // 2 - h // 2 + h)
    cols = slice(wf // 2 - w // 2, wf // 2 - w // 2 + w)
    wy = _axis_weights(2 * math.pi * (torch.arange(h, dtype=torch.float64) - h // 2) / h, hf, h)
    wx = _axis_weights(2 * math.pi * (torch.arange(w, dtype=torch.float64) - w // 2) / w, wf, w)
    weights = (wy[:, None] * wx[None, :]).to(device=kspace.device, dtype=kspace.dtype)
    return kspace[..., rows, cols] * weights


def fourier_resample(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """An image on a finer grid as a fully sampled acquisition on the grid ``shape`` sees it.

    ``ifft2c(crop_kspace(fft2c(x), shape))``: the object band-limited to the coarse grid's
    k-space (with the truncation ringing a real acquisition has), complex ``(..., H, W)``.
    """
    x = x if torch.is_complex(x) else x.to(torch.complex64)
    return ifft2c(crop_kspace(fft2c(x), shape))
