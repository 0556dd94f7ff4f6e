"""Simulation physics shared by every k-space simulator: smooth phase, the SNR definition, noise.

The one simulator of the package, :class:`mricompendium.data.recon.KspaceSimulator`, builds
on these: a real image gets a smooth random phase (real MR images are complex with slowly varying
phase), is weighted by coil sensitivities, measured by an operator (Cartesian FFT and mask, or a
radial NUFFT) and receives white circular complex Gaussian noise at a given SNR.

Caveat (the "inverse crime", Guerquin-Kern et al., MRM 2012): the k-space is made with the same
discrete forward model (pixel grid, FFT, coil maps) that the reconstructions then invert, and the
images never came from raw k-space (they are magnitude images, often already filtered). Results
on such data are optimistic compared with real acquisitions; the noise and phase reduce, but do
not remove, that bias. Notebooks say so wherever they use this module.

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

__all__ = ["add_complex_noise", "noise_sigma_for_snr", "smooth_phase"]


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
