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
* :func:`sitk_rigid`: a rigid (Euler) transform on Mattes mutual information, started at the
  images' centres; :func:`sitk_rigid_bspline`: that rigid stage, then a B-spline on top of it
  (the two-stage scheme of multi-parametric prostate registration). Both take an optional
  ``domain`` mask in the fixed image (e.g. the gland and a margin) where the metric is sampled.
* :func:`sitk_syn_cc`: a dense displacement field on ANTs' neighbourhood cross-correlation,
  multi-resolution, with Gaussian smoothing of each update and of the total field: SimpleITK's
  closest counterpart of ANTs' SyN with CC (greedy, one-directional, not symmetric).
* :func:`sitk_symmetric_demons`: SimpleITK's symmetric-forces demons (Thirion's demons with the
  gradients of both images) after histogram matching.

SimpleITK maps fixed points to moving points (``moving(p + d(p))`` is resampled at ``p``), the
convention of this package; only the component order differs (ITK lists ``x`` = the last numpy
axis first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = [
    "BASELINES",
    "constant",
    "identity",
    "sitk_bspline",
    "sitk_demons",
    "sitk_rigid",
    "sitk_rigid_bspline",
    "sitk_symmetric_demons",
    "sitk_syn_cc",
]

RegisterFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def identity() -> RegisterFn:
    """No registration: ``disp = 0``."""

    def run(moving: torch.Tensor, fixed: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
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


def _mask(domain: torch.Tensor | None):
    import SimpleITK as sitk

    if domain is None:
        return None
    return sitk.GetImageFromArray(domain.detach().cpu().numpy()[0, 0].astype(np.uint8))


def _field(tx, f):
    import SimpleITK as sitk

    return sitk.TransformToDisplacementField(
        tx, sitk.sitkVectorFloat64, f.GetSize(), f.GetOrigin(), f.GetSpacing(), f.GetDirection()
    )


def _rigid_stage(f, m, mask, iterations: int, bins: int, levels: tuple[int, ...]):
    """A centred Euler transform fitted on Mattes MI (regular-step gradient descent)."""
    import SimpleITK as sitk

    init = sitk.CenteredTransformInitializerFilter.GEOMETRY
    tx = sitk.CenteredTransformInitializer(f, m, sitk.Euler2DTransform(), init)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    reg.SetMetricSamplingStrategy(reg.NONE)
    if mask is not None:
        reg.SetMetricFixedMask(mask)
    reg.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-3, int(iterations))
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(levels))
    reg.SetSmoothingSigmasPerLevel([max(0, lv - 1) for lv in levels])
    reg.SetInitialTransform(tx, inPlace=True)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetNumberOfThreads(1)
    reg.Execute(f, m)
    return tx


def sitk_rigid(iterations: int = 100, bins: int = 32, levels: tuple[int, ...] = (2, 1)):
    """Rigid registration on Mattes MI (2D Euler: rotation about the image centre, translation),
    regular-step gradient descent, ``levels`` shrink factors; ``domain``: optional fixed mask."""
    if iterations < 1 or bins < 4:
        raise ValueError("iterations must be >= 1 and bins >= 4")

    def run(moving: torch.Tensor, fixed: torch.Tensor, domain: torch.Tensor | None = None):
        f, m = _image(fixed), _image(moving)
        tx = _rigid_stage(f, m, _mask(domain), iterations, bins, levels)
        return _to_disp(_field(tx, f), moving.ndim - 2)

    return run


def sitk_rigid_bspline(
    mesh_spacing: int = 16,
    iterations: int = 30,
    bins: int = 32,
    levels: tuple[int, ...] = (2, 1),
    max_coefficient: float = 1.0,
    rigid_iterations: int = 100,
):
    """:func:`sitk_rigid`, then a cubic B-spline (control points every ``mesh_spacing`` voxels)
    on top of it, L-BFGS-B on Mattes MI (coefficients bounded by ``max_coefficient *
    mesh_spacing`` voxels); the returned field is the composition. ``domain``: optional mask."""
    if mesh_spacing < 2 or iterations < 1 or max_coefficient <= 0:
        raise ValueError("mesh_spacing must be >= 2, iterations >= 1 and max_coefficient > 0")
    bound = float(max_coefficient * mesh_spacing)

    def run(moving: torch.Tensor, fixed: torch.Tensor, domain: torch.Tensor | None = None):
        import SimpleITK as sitk

        f, m, mask = _image(fixed), _image(moving), _mask(domain)
        rigid = _rigid_stage(f, m, mask, rigid_iterations, bins, levels)
        mesh = [max(1, s // mesh_spacing) for s in f.GetSize()]
        bs = sitk.BSplineTransformInitializer(f, mesh, order=3)
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
        reg.SetMetricSamplingStrategy(reg.NONE)
        if mask is not None:
            reg.SetMetricFixedMask(mask)
        reg.SetOptimizerAsLBFGSB(1e-5, int(iterations), lowerBound=-bound, upperBound=bound)
        reg.SetShrinkFactorsPerLevel(list(levels))
        reg.SetSmoothingSigmasPerLevel([max(0, lv - 1) for lv in levels])
        reg.SetMovingInitialTransform(rigid)
        reg.SetInitialTransform(bs, inPlace=True)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetNumberOfThreads(1)
        reg.Execute(f, m)
        composite = sitk.CompositeTransform([rigid, bs])  # bs first, then the rigid stage
        return _to_disp(_field(composite, f), moving.ndim - 2)

    return run


def sitk_syn_cc(
    radius: int = 2,
    iterations: int = 100,
    update_variance: float = 1.0,
    total_variance: float = 0.25,
    shrink: tuple[int, ...] = (4, 2, 1),
    min_size: int = 8,
):
    """A dense displacement field on ANTs neighbourhood cross-correlation (window radius
    ``radius`` voxels), gradient descent with the step estimated at every iteration, the update
    and the total field smoothed by Gaussians of variance ``update_variance`` and
    ``total_variance`` (voxels^2, as ANTs' SyN[step, update, total] parameters), one level per
    ``shrink`` factor that leaves at least ``min_size`` voxels per side.

    It differs from ANTs' SyN: the field is updated greedily in one direction (no symmetric
    mid-point images, no inverse field) and is not a time-integrated velocity.
    """
    if radius < 1 or iterations < 1 or update_variance < 0 or total_variance < 0:
        raise ValueError("radius and iterations must be >= 1, variances >= 0")

    def run(moving: torch.Tensor, fixed: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        import SimpleITK as sitk

        f, m = _image(fixed), _image(moving)
        levels = [s for s in shrink if min(f.GetSize()) // s >= min_size] or [1]
        zero = sitk.Image(f.GetSize(), sitk.sitkVectorFloat64)
        zero.CopyInformation(f)
        tx = sitk.DisplacementFieldTransform(zero)
        tx.SetSmoothingGaussianOnUpdate(
            varianceForUpdateField=float(update_variance),
            varianceForTotalField=float(total_variance),
        )
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsANTSNeighborhoodCorrelation(int(radius))
        reg.SetOptimizerAsGradientDescent(
            learningRate=1.0,
            numberOfIterations=int(iterations),
            convergenceMinimumValue=1e-6,
            convergenceWindowSize=10,
            estimateLearningRate=reg.EachIteration,
        )
        reg.SetOptimizerScalesFromPhysicalShift()  # also sets the step estimator
        reg.SetShrinkFactorsPerLevel(levels)
        reg.SetSmoothingSigmasPerLevel([s - 1 for s in levels])
        reg.SetInitialTransform(tx, inPlace=True)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetNumberOfThreads(1)
        shown = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK warns once per coarse level
        try:
            reg.Execute(f, m)
        finally:
            sitk.ProcessObject.SetGlobalWarningDisplay(shown)
        return _to_disp(_field(tx, f), moving.ndim - 2)

    return run


def sitk_symmetric_demons(iterations: int = 100, smoothing: float = 1.5) -> RegisterFn:
    """Symmetric-forces demons (SimpleITK) after histogram matching; field smoothed by a Gaussian
    of sd ``smoothing`` voxels after each iteration."""
    if iterations < 1 or smoothing <= 0:
        raise ValueError("iterations must be >= 1 and smoothing > 0")

    def run(moving: torch.Tensor, fixed: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        import SimpleITK as sitk

        f, m = _image(fixed), _image(moving)
        m = sitk.HistogramMatching(m, f, numberOfHistogramLevels=64, numberOfMatchPoints=7)
        demons = sitk.SymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(int(iterations))
        demons.SetStandardDeviations(float(smoothing))
        return _to_disp(demons.Execute(f, m), moving.ndim - 2)

    return run


BASELINES: dict[str, Callable[..., RegisterFn]] = {
    "identity": identity,
    "demons": sitk_demons,
    "bspline": sitk_bspline,
    "rigid": sitk_rigid,
    "rigid_bspline": sitk_rigid_bspline,
    "syn_cc": sitk_syn_cc,
    "symmetric_demons": sitk_symmetric_demons,
}
