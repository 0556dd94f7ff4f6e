"""Synthetic registration pairs: two random deformations of one anatomy, a contrast each.

A pair is drawn from a base anatomy ``A`` (:class:`~.anatomy.Anatomies`) with random
deformations of one of two **families**:

* ``"svf"``: stationary velocity fields (Gaussian noise on a coarse control grid, linearly
  interpolated to the image grid) integrated by scaling and squaring, one for each image:
  ``fixed = A o exp(v_f)``, ``moving = A o exp(v_m)``, truth ``u = compose(exp(-v_m), exp(v_f))``;
* ``"gaussian"``: displacement fields drawn directly (white noise smoothed by a Gaussian kernel
  of sd equal to the correlation length, no velocity, no integration; scaled to a given sd and
  shrunk by 0.8 until the Jacobian determinant stays above ``min_jacobian``): the truth ``u`` is
  one such field of sd ``amplitude_mm``, the moving image's own deformation ``phi_m`` another of
  sd ``amplitude_mm / sqrt(2)``, and ``fixed = A o compose(phi_m, u)``, so that
  ``warp(moving, u) = fixed`` exactly, with no inversion.

A generator that trains a network uses one family and the test pairs may use the other, so that
test deformations are not draws from the training generator. The moving image has the template's
T1-like contrast (:class:`~.contrast.ContrastModel`: tissue gains and gamma before the warp, bias
and noise after it); the fixed image either its own draw of that contrast (mono-modal) or one
rendered from the tissue maps in another contrast (:class:`~.contrast.TissueContrast`,
multi-contrast). ``fixed_reference`` is the moving image's own contrast, without bias or noise, at
the fixed position (what a perfectly registered moving image looks like: SSIM's reference when
the fixed image has another contrast). Labels are warped with the images (nearest neighbour);
the truth ``u`` satisfies ``warp(moving, u) = fixed`` up to contrast, noise and interpolation
(voxels).

:meth:`PairGenerator.batch` has the signature of :func:`mricompendium.training.fit`'s batch
functions ``(step, generator) -> batch``; :meth:`PairGenerator.fixed_set` draws a seeded test set
that visits the anatomies in turn. Everything is torch on the CPU.
"""

from __future__ import annotations

import torch

from mricompendium.data.registration.anatomy import Anatomies
from mricompendium.data.registration.contrast import (
    ContrastModel,
    TissueContrast,
    smooth_field,
)
from mricompendium.data.synth.fields import gaussian_blur
from mricompendium.physics.deform import compose, integrate_svf, jacobian_determinant, warp

__all__ = [
    "DEFORMATIONS",
    "PairGenerator",
    "random_svf",
    "smooth_displacement",
]

DEFORMATIONS = ("svf", "gaussian")


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


def smooth_displacement(
    shape: tuple[int, ...],
    *,
    amplitude: float,
    sigma: float,
    generator: torch.Generator,
    batch: int = 1,
    min_jacobian: float = 0.2,
) -> torch.Tensor:
    """A random displacement ``(batch, n, *shape)``: Gaussian-smoothed white noise (kernel sd
    ``sigma`` voxels) scaled to sd ``amplitude`` voxels, then shrunk by 0.8 (per field) until its
    Jacobian determinant is at least ``min_jacobian`` everywhere (no folding)."""
    if amplitude < 0 or sigma <= 0:
        raise ValueError(f"need amplitude >= 0 and sigma > 0, got {amplitude}, {sigma}")
    n = len(shape)
    noise = torch.randn((batch, n, *shape), generator=generator)
    field = gaussian_blur(noise, [sigma] * n)
    sd = field.flatten(1).std(1).clamp_min(1e-12).view(batch, *([1] * (n + 1)))
    field = field / sd * amplitude
    for _ in range(30):
        bad = jacobian_determinant(field).flatten(1).amin(1) < min_jacobian
        if not bad.any():
            break
        field = torch.where(bad.view(batch, *([1] * (n + 1))), 0.8 * field, field)
    return field


class PairGenerator:
    """Draws (moving, fixed) pairs from base anatomies under random deformations.

    Args:
        anatomies: the base anatomies.
        amplitude_mm: sd of each velocity field's components at its control points (``"svf"``)
            or of the true displacement's components (``"gaussian"``), in mm.
        control_spacing_mm: correlation length of the fields, in mm (``"gaussian"``: the
            kernel's sd).
        contrast: the moving image's :class:`ContrastModel` (``None``: unchanged, no noise).
        fixed_contrast: the fixed image's contrast: ``None`` (its own draw of ``contrast``) or a
            :class:`TissueContrast` (multi-contrast pairs).
        deformation: the family, one of :data:`DEFORMATIONS`.
        integration_steps: scaling-and-squaring steps (``"svf"``).
    """

    def __init__(
        self,
        anatomies: Anatomies,
        *,
        amplitude_mm: float = 3.0,
        control_spacing_mm: float = 24.0,
        contrast: ContrastModel | None = None,
        fixed_contrast: TissueContrast | None = None,
        deformation: str = "svf",
        integration_steps: int = 7,
    ) -> None:
        if len(anatomies) == 0:
            raise ValueError("no anatomies to draw pairs from")
        if amplitude_mm < 0 or control_spacing_mm <= 0:
            raise ValueError("amplitude_mm must be >= 0 and control_spacing_mm > 0")
        if deformation not in DEFORMATIONS:
            raise ValueError(f"deformation must be one of {DEFORMATIONS}, got {deformation!r}")
        self.anatomies = anatomies
        self.amplitude_mm, self.control_spacing_mm = amplitude_mm, control_spacing_mm
        self.amplitude = amplitude_mm / anatomies.spacing_mm
        self.control_spacing = control_spacing_mm / anatomies.spacing_mm
        self.contrast, self.fixed_contrast = contrast, fixed_contrast
        self.deformation = deformation
        self.steps = integration_steps

    @property
    def spacing_mm(self) -> float:
        return self.anatomies.spacing_mm

    @property
    def multi_contrast(self) -> bool:
        return self.fixed_contrast is not None

    def _fields(self, b: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``(phi_f, phi_m, truth)`` displacements ``(b, n, *S)`` of the generator's family."""
        shape = self.anatomies.shape
        if self.deformation == "svf":
            kw = dict(amplitude=self.amplitude, control_spacing=self.control_spacing, generator=g,
                      batch=b)  # fmt: skip
            v_f, v_m = random_svf(shape, **kw), random_svf(shape, **kw)
            phi_f, inv_m = integrate_svf(v_f, self.steps), integrate_svf(-v_m, self.steps)
            return phi_f, integrate_svf(v_m, self.steps), compose(inv_m, phi_f)
        kw = dict(sigma=self.control_spacing, generator=g, batch=b)
        truth = smooth_displacement(shape, amplitude=self.amplitude, **kw)
        phi_m = smooth_displacement(shape, amplitude=self.amplitude / 2**0.5, **kw)
        return compose(phi_m, truth), phi_m, truth

    def truth_sd_mm(self, n: int = 16, seed: int = 0) -> float:
        """The sd (mm) of the true displacement's components, measured over ``n`` seeded pairs."""
        _, _, truth = self._fields(n, torch.Generator().manual_seed(seed))
        return float(truth.std()) * self.spacing_mm

    def sample(
        self, n: int, generator: torch.Generator, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``n`` independent pairs (anatomies drawn at random unless ``index`` names them).

        Returns:
            ``moving``, ``fixed``, ``fixed_reference`` float32 ``(n, 1, *S)``;
            ``moving_labels``, ``fixed_labels`` int64 ``(n, 1, *S)``; ``fixed_mask`` bool
            ``(n, 1, *S)``; ``truth`` float32 ``(n, ndim, *S)`` (voxels; ``warp(moving, truth)
            ~ fixed``); ``anatomy`` int64 ``(n,)``.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        g, a = generator, self.anatomies
        idx = torch.randint(len(a), (n,), generator=g) if index is None else index.long()
        if idx.shape != (n,) or idx.min() < 0 or idx.max() >= len(a):
            raise ValueError(f"index must hold {n} anatomy indices below {len(a)}")
        phi_f, phi_m, truth = self._fields(n, g)
        img, tissue = a.images[idx], a.tissue[idx]
        c = self.contrast
        moving_c = c.before_warp(img, tissue, g) if c is not None else img
        moving = warp(moving_c, phi_m)
        moving = c.after_warp(moving, g) if c is not None else moving
        if self.fixed_contrast is not None:
            fixed = warp(self.fixed_contrast.render(tissue, g), phi_f)
            fixed = self.fixed_contrast.after_warp(fixed, g, self.spacing_mm)
        else:
            fixed = warp(c.before_warp(img, tissue, g) if c is not None else img, phi_f)
            fixed = c.after_warp(fixed, g) if c is not None else fixed
        return {
            "fixed": fixed,
            "moving": moving,
            "fixed_reference": warp(moving_c, phi_f),
            "fixed_labels": warp(a.labels[idx], phi_f, mode="nearest"),
            "moving_labels": warp(a.labels[idx], phi_m, mode="nearest"),
            "fixed_mask": warp(a.masks[idx].float(), phi_f) > 0.5,
            "truth": truth,
            "anatomy": idx,
        }

    def batch(self, step: int, generator: torch.Generator, batch_size: int = 4) -> dict:
        """A training batch for :func:`mricompendium.training.fit` (``step`` is unused)."""
        del step
        return self.sample(batch_size, generator)

    def fixed_set(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """``n`` pairs drawn one at a time from ``seed``; pair ``i`` deforms anatomy
        ``i mod len(anatomies)`` (every anatomy in turn) and does not depend on ``n``."""
        pairs = [
            self.sample(
                1,
                torch.Generator().manual_seed(seed * 100_003 + i),
                index=torch.tensor([i % len(self.anatomies)]),
            )  # fmt: skip
            for i in range(n)
        ]
        return {k: torch.cat([p[k] for p in pairs]) for k in pairs[0]}

    def units(self, pairs: dict[str, torch.Tensor]) -> list[str]:
        """The unit of independence of each pair: the name of the anatomy it deforms."""
        return [self.anatomies.names[int(i)] for i in pairs["anatomy"]]
