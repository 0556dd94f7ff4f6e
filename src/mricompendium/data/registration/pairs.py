"""Synthetic registration pairs: two random diffeomorphisms of one anatomy, new contrasts each.

A pair is drawn from a base anatomy ``A`` (:class:`~.anatomy.Anatomies`) as

* two stationary velocity fields ``v_f``, ``v_m`` (Gaussian noise on a coarse control grid,
  interpolated to the image grid, integrated by scaling and squaring: diffeomorphic);
* ``fixed = C_f(A) o exp(v_f)`` and ``moving = C_m(A) o exp(v_m)``, where ``C`` changes the
  contrast (per-tissue gain, gamma) before the warp and adds a smooth multiplicative bias field
  and Gaussian noise after it;
* labels warped with the image (nearest neighbour);
* the ground truth ``u = compose(exp(-v_m), exp(v_f))``, i.e. ``warp(moving, u) = fixed`` up to
  contrast, noise and interpolation: the displacement a registration from moving to fixed
  should find (voxels; endpoint errors in mm multiply by ``spacing_mm``).

:meth:`PairGenerator.batch` has the signature of :func:`mricompendium.training.fit`'s batch
functions ``(step, generator) -> batch``, so pairs are drawn on the fly during training, and
:meth:`PairGenerator.fixed_set` draws a seeded test set. Everything is torch on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mricompendium.data.registration.anatomy import Anatomies
from mricompendium.physics.deform import compose, integrate_svf, warp

__all__ = ["ContrastModel", "PairGenerator", "random_svf", "smooth_field"]


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


def random_svf(
    shape: tuple[int, ...],
    *,
    amplitude: float,
    control_spacing: float,
    generator: torch.Generator,
    batch: int = 1,
) -> torch.Tensor:
    """A random stationary velocity field ``(batch, n, *shape)`` with sd ``amplitude`` voxels."""
    return amplitude * smooth_field(
        shape, len(shape), control_spacing=control_spacing, generator=generator, batch=batch
    )


def _uniform(lo: float, hi: float, n: int, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


@dataclass(frozen=True)
class ContrastModel:
    """Random intensity changes of one image.

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
        b, shape = images.shape[0], tuple(images.shape[2:])
        spacing = max(shape) / 3.0
        log_bias = self.bias * smooth_field(shape, 1, control_spacing=spacing, generator=g, batch=b)
        sd = _uniform(self.noise[0], self.noise[1], b, g).view(b, *([1] * (images.ndim - 1)))
        noise = torch.randn(images.shape, generator=g) * sd
        return (images * torch.exp(log_bias) + noise).clamp_min(0.0)


class PairGenerator:
    """Draws (moving, fixed) pairs from base anatomies under random diffeomorphisms.

    Args:
        anatomies: the base anatomies (one is drawn per pair).
        amplitude_mm: sd of each velocity field's components, in mm.
        control_spacing_mm: correlation length of the velocity fields, in mm.
        contrast: the :class:`ContrastModel` (``None``: images unchanged, no noise).
        integration_steps: scaling-and-squaring steps.
    """

    def __init__(
        self,
        anatomies: Anatomies,
        *,
        amplitude_mm: float = 3.0,
        control_spacing_mm: float = 24.0,
        contrast: ContrastModel | None = None,
        integration_steps: int = 7,
    ) -> None:
        if len(anatomies) == 0:
            raise ValueError("no anatomies to draw pairs from")
        if amplitude_mm < 0 or control_spacing_mm <= 0:
            raise ValueError("amplitude_mm must be >= 0 and control_spacing_mm > 0")
        self.anatomies = anatomies
        self.amplitude = amplitude_mm / anatomies.spacing_mm
        self.control_spacing = control_spacing_mm / anatomies.spacing_mm
        self.contrast = contrast
        self.steps = integration_steps

    @property
    def spacing_mm(self) -> float:
        return self.anatomies.spacing_mm

    def _velocity(self, b: int, g: torch.Generator) -> torch.Tensor:
        return random_svf(
            self.anatomies.shape,
            amplitude=self.amplitude,
            control_spacing=self.control_spacing,
            generator=g,
            batch=b,
        )

    def _image(self, idx: torch.Tensor, disp: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        a = self.anatomies
        img = a.images[idx]
        if self.contrast is not None:
            img = self.contrast.before_warp(img, a.tissue[idx], g)
        img = warp(img, disp)
        return self.contrast.after_warp(img, g) if self.contrast is not None else img

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``n`` independent pairs.

        Returns:
            ``moving``, ``fixed`` float32 ``(n, 1, *S)``; ``moving_labels``, ``fixed_labels``
            int64 ``(n, 1, *S)``; ``fixed_mask`` bool ``(n, 1, *S)``; ``truth`` float32
            ``(n, ndim, *S)`` (voxels; ``warp(moving, truth) ~ fixed``); ``anatomy`` int64 ``(n,)``.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        g = generator
        idx = torch.randint(len(self.anatomies), (n,), generator=g)
        v_f, v_m = self._velocity(n, g), self._velocity(n, g)
        phi_f, phi_m = integrate_svf(v_f, self.steps), integrate_svf(v_m, self.steps)
        a = self.anatomies
        return {
            "fixed": self._image(idx, phi_f, g),
            "moving": self._image(idx, phi_m, g),
            "fixed_labels": warp(a.labels[idx], phi_f, mode="nearest"),
            "moving_labels": warp(a.labels[idx], phi_m, mode="nearest"),
            "fixed_mask": warp(a.masks[idx].float(), phi_f) > 0.5,
            "truth": compose(integrate_svf(-v_m, self.steps), phi_f),
            "anatomy": idx,
        }

    def batch(self, step: int, generator: torch.Generator, batch_size: int = 4) -> dict:
        """A training batch for :func:`mricompendium.training.fit` (``step`` is unused)."""
        del step
        return self.sample(batch_size, generator)

    def fixed_set(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """``n`` pairs drawn one at a time from ``seed`` (pair ``i`` does not depend on ``n``)."""
        pairs = [
            self.sample(1, torch.Generator().manual_seed(seed * 100_003 + i)) for i in range(n)
        ]
        return {k: torch.cat([p[k] for p in pairs]) for k in pairs[0]}
