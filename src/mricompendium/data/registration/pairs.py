"""Synthetic registration pairs: two random deformations of one anatomy, a contrast each.

A pair is drawn from a base anatomy ``A`` (:class:`~.anatomy.Anatomies`) as

* two random deformations ``phi_f``, ``phi_m`` from one of two **families**:

  - ``"svf"``: a stationary velocity field (Gaussian noise on a coarse control grid, linearly
    interpolated to the image grid) integrated by scaling and squaring: diffeomorphic;
  - ``"gaussian"``: a displacement field drawn directly (white noise smoothed by a Gaussian
    kernel of sd half the correlation length, no velocity, no integration), scaled to a given
    sd and halved where needed until its Jacobian determinant stays above ``min_jacobian``;

  a generator that trains a network uses one family and the test pairs may use the other, so
  that test deformations are not draws from the training generator;
* ``moving = C_m(A) o phi_m`` in the template's T1-like contrast (:class:`~.contrast.
  ContrastModel`: tissue gains and gamma before the warp, bias and noise after it) and ``fixed``
  either in its own draw of the same contrast (mono-modal) or rendered from the tissue maps in
  another contrast (:class:`~.contrast.TissueContrast`, multi-contrast);
* ``fixed_reference = C_m(A) o phi_f``: the moving image's own contrast, without bias or noise,
  at the fixed position (what a perfectly registered moving image looks like; for SSIM when the
  fixed image has another contrast);
* labels warped with the image (nearest neighbour) and the ground truth
  ``u = compose(phi_m^-1, phi_f)``, i.e. ``warp(moving, u) = fixed`` up to contrast, noise and
  interpolation: the displacement a registration from moving to fixed should find (voxels).

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
from mricompendium.physics.deform import compose, integrate_svf, invert, jacobian_determinant, warp

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
    ``sigma`` voxels) scaled to sd ``amplitude`` voxels, then halved (per field) until its
    Jacobian determinant is at least ``min_jacobian`` everywhere (invertible, no folding)."""
    if amplitude < 0 or sigma <= 0:
        raise ValueError(f"need amplitude >= 0 and sigma > 0, got {amplitude}, {sigma}")
    n = len(shape)
    noise = torch.randn((batch, n, *shape), generator=generator)
    field = gaussian_blur(noise, [sigma] * n)
    sd = field.flatten(1).std(1).clamp_min(1e-12).view(batch, *([1] * (n + 1)))
    field = field / sd * amplitude
    for _ in range(20):
        bad = jacobian_determinant(field).flatten(1).amin(1) < min_jacobian
        if not bad.any():
            break
        field = torch.where(bad.view(batch, *([1] * (n + 1))), 0.5 * field, field)
    return field


class PairGenerator:
    """Draws (moving, fixed) pairs from base anatomies under random deformations.

    Args:
        anatomies: the base anatomies.
        amplitude_mm: sd of each velocity field's components at its control points (``"svf"``)
            or of each displacement field's components (``"gaussian"``), in mm.
        control_spacing_mm: correlation length of the fields, in mm (``"gaussian"``: kernel sd
            ``control_spacing_mm / 2``).
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

    def _deformation(self, b: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(phi, phi^-1)`` displacements ``(b, n, *S)`` of the generator's family."""
        shape = self.anatomies.shape
        if self.deformation == "svf":
            v = random_svf(shape, amplitude=self.amplitude, control_spacing=self.control_spacing,
                           generator=g, batch=b)  # fmt: skip
            return integrate_svf(v, self.steps), integrate_svf(-v, self.steps)
        u = smooth_displacement(shape, amplitude=self.amplitude, sigma=self.control_spacing / 2,
                                generator=g, batch=b)  # fmt: skip
        return u, invert(u, iterations=40)

    def displacement_sd_mm(self, n: int = 16, seed: int = 0) -> float:
        """The sd (mm) of one deformation's components, measured over ``n`` seeded draws."""
        phi, _ = self._deformation(n, torch.Generator().manual_seed(seed))
        return float(phi.std()) * self.spacing_mm

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
        phi_f, _ = self._deformation(n, g)
        phi_m, inv_m = self._deformation(n, g)
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
            "truth": compose(inv_m, phi_f),
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
