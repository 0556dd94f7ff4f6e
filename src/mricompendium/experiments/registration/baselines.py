"""Untrained baselines: the identity and classical registration with SimpleITK.

Each baseline is a callable ``(moving, fixed) -> disp`` on one pair: ``moving``/``fixed`` float
tensors ``(1, 1, *S)``, ``disp`` ``(1, n, *S)`` in voxels in this package's convention
(``warp(moving, disp) ~ fixed``; channel ``k`` along spatial axis ``k``).

* :func:`identity`: zero displacement (the "before registration" reference).
* :func:`constant`: one given field for every pair, whatever the images (e.g. the population's
  mean motion: the "mean prediction" a learned method must beat).
* :func:`sitk_demons`: SimpleITK's diffeomorphic demons (Vercauteren et al. 2009) after histogram
  matching of the moving image to the fixed one, Gaussian smoothing of the field.
* :func:`sitk_bspline`: a free-form B-spline transform (Rueckert et al. 1999) optimised with
  L-BFGS-B on Mattes mutual information, multi-resolution.

SimpleITK maps fixed points to moving points (``moving(p + d(p))`` is resampled at ``p``), the
convention of this package; only the component order differs (ITK lists ``x`` = the last numpy
axis first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["BASELINES", "constant", "identity", "sitk_bspline", "sitk_demons"]

RegisterFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def identity() -> RegisterFn:
    """No registration: ``disp = 0``."""

    def run(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        return torch.zeros((1, moving.ndim - 2, *moving.shape[2:]), dtype=moving.dtype)

    return run


def constant(disp: torch.Tensor) -> RegisterFn:
    """The same displacement ``disp`` ``(1, n, *S)`` for every pair (the images are ignored)."""
    if not isinstance(disp, torch.Tensor) or disp.ndim < 4 or disp.shape[0] != 1:
        raise ValueError("disp must be a (1, n, *S) tensor")
    field = disp.detach().float().clone()

    def run(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        if tuple(moving.shape[2:]) != tuple(field.shape[2:]):
            raise ValueError(f"images {tuple(moving.shape)} do not match the field's grid")
        return field.clone()

    return run


def _image(x: torch.Tensor):
    import SimpleITK as sitk

    return sitk.GetImageFromArray(x.detach().cpu().numpy()[0, 0].astype(np.float32))


def _to_disp(field, ndim: int) -> torch.Tensor:
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(field).astype(np.float32)  # (*S, n) in ITK (x, y, z) order
    arr = arr[..., ::-1]  # -> numpy axis order
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))[None]


def sitk_demons(iterations: int = 100, smoothing: float = 1.5) -> RegisterFn:
    """Diffeomorphic demons with histogram matching (SimpleITK); ``smoothing`` in voxels."""

    def run(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        import SimpleITK as sitk

        f, m = _image(fixed), _image(moving)
        m = sitk.HistogramMatching(m, f, numberOfHistogramLevels=64, numberOfMatchPoints=7)
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetNumberOfIterations(int(iterations))
        demons.SetStandardDeviations(float(smoothing))
        field = demons.Execute(f, m)
        return _to_disp(field, moving.ndim - 2)

    return run


def sitk_bspline(
    mesh_spacing: int = 8,
    iterations: int = 50,
    levels: tuple[int, ...] = (2, 1),
    max_coefficient: float = 1.0,
    bins: int = 32,
) -> RegisterFn:
    """B-spline free-form deformation on Mattes MI (SimpleITK), control points every
    ``mesh_spacing`` voxels, ``iterations`` L-BFGS-B steps per resolution level.

    Every coefficient is bounded by ``max_coefficient * mesh_spacing`` voxels (L-BFGS-B bounds),
    which keeps an optimiser step from mapping every sample outside the image (the unbounded
    optimiser did that on a small multi-contrast pair with other CPU kernels); it does not rule
    out folding (that needs about 0.4, Choi and Lee 2000, which also holds back real
    deformations). ``bins``: histogram bins of the mutual information.
    """
    if max_coefficient <= 0 or bins < 4:
        raise ValueError("max_coefficient must be > 0 and bins >= 4")
    bound = float(max_coefficient * mesh_spacing)

    def run(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        import SimpleITK as sitk

        f, m = _image(fixed), _image(moving)
        mesh = [max(1, s // mesh_spacing) for s in f.GetSize()]
        tx = sitk.BSplineTransformInitializer(f, mesh, order=3)
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
        reg.SetMetricSamplingStrategy(reg.NONE)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetOptimizerAsLBFGSB(
            gradientConvergenceTolerance=1e-5,
            numberOfIterations=int(iterations),
            lowerBound=-bound,
            upperBound=bound,
        )
        reg.SetShrinkFactorsPerLevel(list(levels))
        reg.SetSmoothingSigmasPerLevel([max(0, lv - 1) for lv in levels])
        reg.SetInitialTransform(tx, inPlace=True)
        reg.SetNumberOfThreads(1)
        reg.Execute(f, m)
        field = sitk.TransformToDisplacementField(
            tx,
            sitk.sitkVectorFloat64,
            f.GetSize(),
            f.GetOrigin(),
            f.GetSpacing(),
            f.GetDirection(),
        )
        return _to_disp(field, moving.ndim - 2)

    return run


BASELINES: dict[str, Callable[..., RegisterFn]] = {
    "identity": identity,
    "demons": sitk_demons,
    "bspline": sitk_bspline,
}
