"""Simulated multi-coil k-space from magnitude images: smooth phase, coil weighting, FFT, noise.

Pipeline of :func:`simulate_multicoil_kspace`: a real image gets a smooth random phase (real MR
images are complex with slowly varying phase), is weighted by coil sensitivities, Fourier
transformed with the centred orthonormal :func:`~mricompendium.physics.fft.fft2c`, and receives
white circular complex Gaussian noise.

Caveat (the "inverse crime", Guerquin-Kern et al., MRM 2012): the k-space is made with the same
discrete forward model (pixel grid, FFT, coil maps) that the reconstructions then invert, and the
images never came from raw k-space (they are magnitude images, often already filtered). Results
on such data are optimistic compared with real acquisitions; the noise and phase reduce, but do
not remove, that bias. Notebooks say so wherever they use this module.

Noise convention: ``sigma`` is the standard deviation of each of the real and imaginary parts.
Because the FFT is orthonormal, image-domain noise has the same ``sigma``; with maps normalised to
``sum_c |S_c|^2 = 1`` (as :func:`~mricompendium.physics.coils.birdcage_maps`), the coil-combined
image ``sum_c conj(S_c) x_c`` has it too.
"""

from __future__ import annotations

import math

import torch

from mricompendium.physics.fft import fft2c


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


def _object_mask(image: torch.Tensor) -> torch.Tensor:
    mag = image.abs()
    return mag > 0.1 * mag.max()


def noise_sigma_for_snr(
    image: torch.Tensor, snr: float, *, mask: torch.Tensor | None = None
) -> float:
    """Noise standard deviation (per real/imaginary part) that gives the requested SNR.

    ``SNR = mean(|image| inside the object) / sigma``, with ``sigma`` the std of each of the real
    and imaginary parts of the image-domain noise (equal to the k-space ``sigma`` under the
    orthonormal FFT).

    Args:
        image: real or complex image ``(..., H, W)``; all its elements are pooled.
        snr: target signal-to-noise ratio (> 0).
        mask: boolean object mask broadcastable to ``image``; default ``|image| > 0.1 max|image|``.
    """
    if snr <= 0:
        raise ValueError(f"snr must be positive, got {snr}")
    region = _object_mask(image) if mask is None else mask.bool().expand_as(image)
    if not bool(region.any()):
        raise ValueError("the object mask is empty")
    return float(image.abs()[region].mean()) / snr


def add_complex_noise(
    kspace: torch.Tensor, *, sigma: float | torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Add white circular complex Gaussian noise, std ``sigma`` per real and imaginary part.

    Args:
        kspace: complex tensor ``(B, ...)``.
        sigma: a float, or a tensor ``(B,)`` with one level per batch element.
        generator: CPU generator the noise is drawn from (moved to ``kspace.device`` after).
    """
    if not torch.is_complex(kspace):
        raise TypeError(f"kspace must be complex, got {kspace.dtype}")
    sigma_t = torch.as_tensor(sigma, dtype=kspace.real.dtype)
    if bool((sigma_t < 0).any()):
        raise ValueError("sigma must be non-negative")
    if sigma_t.dim() == 1:
        sigma_t = sigma_t.view(-1, *([1] * (kspace.dim() - 1)))
    noise = torch.randn(
        (*kspace.shape, 2), generator=generator, dtype=kspace.real.dtype, device="cpu"
    )
    noise = torch.view_as_complex(noise).to(kspace.device)
    return kspace + sigma_t.to(kspace.device) * noise


def simulate_multicoil_kspace(
    image: torch.Tensor,
    maps: torch.Tensor | None,
    *,
    snr: float | None,
    seed: int,
    max_phase: float = math.pi / 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fully sampled multi-coil k-space from images.

    Args:
        image: ``(B, H, W)`` real (a smooth random phase is added, one field per slice) or
            complex (used as is).
        maps: coil sensitivities ``(C, H, W)`` or ``(B, C, H, W)``, ideally normalised to
            ``sum_c |S_c|^2 = 1``; ``None`` for single-coil data (C = 1).
        snr: per-slice SNR as in :func:`noise_sigma_for_snr` (measured on the complex target);
            ``None`` for noise-free k-space.
        seed: seeds the phase and the noise.
        max_phase: peak of the smooth phase in radians (real input only).

    Returns:
        ``(kspace, target)``: complex k-space ``(B, C, H, W)`` and the complex ground-truth image
        ``(B, H, W)`` (before coil weighting and noise).
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (B, H, W), got {tuple(image.shape)}")
    b, h, w = image.shape
    gen = torch.Generator().manual_seed(int(seed))
    if torch.is_complex(image):
        target = image
    else:
        seeds = torch.randint(0, 2**31 - 1, (b,), generator=gen).tolist()
        phase = torch.stack([smooth_phase((h, w), max_phase=max_phase, seed=s) for s in seeds])
        target = torch.polar(image, phase.to(device=image.device, dtype=image.dtype))
    if maps is None:
        coil = target.unsqueeze(1)
    else:
        if not torch.is_complex(maps) or maps.shape[-2:] != (h, w) or maps.dim() not in (3, 4):
            raise ValueError(f"maps must be complex (C, {h}, {w}) or (B, C, {h}, {w})")
        coil = target.unsqueeze(1) * (maps.unsqueeze(0) if maps.dim() == 3 else maps)
    kspace = fft2c(coil.to(target.dtype))
    if snr is not None:
        sigma = torch.tensor([noise_sigma_for_snr(t, snr) for t in target])
        kspace = add_complex_noise(kspace, sigma=sigma, generator=gen)
    return kspace, target
