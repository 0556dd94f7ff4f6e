"""Image contrasts for synthetic registration pairs: a T1-like one and a tissue-rendered one.

* :class:`ContrastModel` changes the template's own T1-weighted intensities (per-tissue gain,
  gamma) before the warp, and adds a smooth multiplicative bias field and Gaussian noise after it:
  the moving and fixed images of a mono-modal pair.
* :class:`TissueContrast` renders a different contrast from the tissue probabilities alone (one
  level per tissue, drawn per image from its own range), blurs it to a coarser acquisition
  resolution after the warp, and adds bias and noise. The default is diffusion-b0-like (T2
  weighting: CSF bright, grey matter above white matter, EPI-like blur and noise): the fixed
  image of a multi-contrast pair, T1w -> dMRI as in NestedMorph's task.

Both draw every random number from a ``torch.Generator``; images are ``(B, 1, *S)``, tissue
probabilities ``(B, 3, *S)`` in the order CSF, GM, WM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mricompendium.data.synth.fields import gaussian_blur

__all__ = ["ContrastModel", "TissueContrast", "bias_and_noise", "smooth_field"]


def smooth_field(
    shape: tuple[int, ...],
    channels: int,
    *,
    control_spacing: float,
    generator: torch.Generator,
    batch: int = 1,
) -> torch.Tensor:
    """Unit-variance Gaussian noise on a coarse grid, linearly interpolated to ``shape``.

    Returns:
        ``(batch, channels, *shape)``; correlated over about ``control_spacing`` voxels.
    """
    coarse = [max(2, int(round(s / control_spacing)) + 1) for s in shape]
    noise = torch.randn((batch, channels, *coarse), generator=generator)
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    return F.interpolate(noise, size=shape, mode=mode, align_corners=True)


def _uniform(lo: float, hi: float, n: int, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def bias_and_noise(
    images: torch.Tensor, bias: float, noise: tuple[float, float], g: torch.Generator
) -> torch.Tensor:
    """A smooth multiplicative bias field (log sd ``bias``) and Gaussian noise (sd drawn from
    ``noise`` per image) on ``(B, 1, *S)`` images; the result is clamped at 0."""
    b, shape = images.shape[0], tuple(images.shape[2:])
    spacing = max(shape) / 3.0
    log_bias = bias * smooth_field(shape, 1, control_spacing=spacing, generator=g, batch=b)
    sd = _uniform(noise[0], noise[1], b, g).view(b, *([1] * (images.ndim - 1)))
    return (images * torch.exp(log_bias) + torch.randn(images.shape, generator=g) * sd).clamp_min(
        0.0
    )


@dataclass(frozen=True)
class ContrastModel:
    """Random intensity changes of the template's T1-weighted image.

    Attributes:
        tissue_gain: per-tissue (CSF, GM, WM) additive gain drawn from ``[-g, g]``.
        gamma: gamma drawn log-uniformly from ``[1 / gamma, gamma]``.
        bias: sd of the log of a smooth multiplicative bias field.
        noise: Gaussian noise sd drawn from ``[noise[0], noise[1]]`` (image max about 1).
    """

    tissue_gain: float = 0.08
    gamma: float = 1.4
    bias: float = 0.12
    noise: tuple[float, float] = (0.01, 0.03)

    def before_warp(
        self, images: torch.Tensor, tissue: torch.Tensor, g: torch.Generator
    ) -> torch.Tensor:
        """Per-tissue gain and gamma on ``(B, 1, *S)`` images with ``(B, 3, *S)`` tissue."""
        b = images.shape[0]
        view = (b, 1, *([1] * (images.ndim - 2)))
        gain = _uniform(-self.tissue_gain, self.tissue_gain, 3 * b, g).view(b, 3, *view[2:])
        x = (images + (gain * tissue).sum(1, keepdim=True)).clamp_min(0.0)
        log_g = _uniform(-1.0, 1.0, b, g) * torch.log(torch.tensor(self.gamma))
        return x.pow(torch.exp(log_g).view(view))

    def after_warp(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Smooth bias field and Gaussian noise on ``(B, 1, *S)`` images."""
        return bias_and_noise(images, self.bias, self.noise, g)


@dataclass(frozen=True)
class TissueContrast:
    """A contrast rendered from tissue probabilities (default: diffusion-b0-like).

    Attributes:
        csf, gm, wm: the range each tissue's level is drawn from, per image (image max about 1).
        blur_mm: full width at half maximum of the Gaussian blur applied after the warp (a
            coarser acquisition, e.g. EPI), in mm.
        bias: sd of the log of a smooth multiplicative bias field.
        noise: Gaussian noise sd drawn from ``[noise[0], noise[1]]``.
        name: what the contrast stands for, for descriptions.
    """

    csf: tuple[float, float] = (0.85, 1.0)
    gm: tuple[float, float] = (0.45, 0.6)
    wm: tuple[float, float] = (0.28, 0.4)
    blur_mm: float = 4.0
    bias: float = 0.15
    noise: tuple[float, float] = (0.02, 0.05)
    name: str = "diffusion b0-like (T2-weighted, EPI blur)"

    def __post_init__(self) -> None:
        for key in ("csf", "gm", "wm", "noise"):
            lo, hi = getattr(self, key)
            if not 0 <= lo <= hi:
                raise ValueError(f"{key} must be a range 0 <= lo <= hi, got {(lo, hi)}")
        if self.blur_mm < 0 or self.bias < 0:
            raise ValueError("blur_mm and bias must be >= 0")

    def render(self, tissue: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """``(B, 3, *S)`` CSF/GM/WM probabilities -> ``(B, 1, *S)`` image before the warp."""
        b = tissue.shape[0]
        levels = torch.stack([_uniform(*r, b, g) for r in (self.csf, self.gm, self.wm)], 1)
        levels = levels.view(b, 3, *([1] * (tissue.ndim - 2)))
        return (levels * tissue).sum(1, keepdim=True)

    def after_warp(
        self, images: torch.Tensor, g: torch.Generator, spacing_mm: float
    ) -> torch.Tensor:
        """Blur to ``blur_mm`` FWHM, then bias and noise, on ``(B, 1, *S)`` images."""
        sigma = self.blur_mm / spacing_mm / 2.3548
        n = images.ndim - 2
        blurred = gaussian_blur(images, [sigma] * n) if sigma > 0 else images
        return bias_and_noise(blurred, self.bias, self.noise, g)
