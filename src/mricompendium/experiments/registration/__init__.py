"""The registration family's experiment layer: registry, baselines, objectives, train, evaluate.

- :mod:`.registry`: ``REGISTRY`` of networks (small CPU config + paper config + citation),
  :func:`build_model`.
- :mod:`.objective`: :class:`LossConfig` and :class:`Registrator` (network + losses, adaptive
  weights learned with it).
- :mod:`.baselines`: identity, a constant field (e.g. the mean motion), SimpleITK diffeomorphic
  and symmetric-forces demons, B-spline and rigid + B-spline (Mattes mutual information:
  multi-contrast pairs), a dense field on neighbourhood cross-correlation (SyN-like).
- :mod:`.diagnosis`: a case-level classifier (gland features of T2w + ADC, logistic regression)
  and its AUROC pseudo-values after registration.
- :mod:`.multires`: registration estimated on low-resolution frames, applied at high resolution.
- :mod:`.evaluate`: :func:`train` (on-the-fly pairs through ``training.fit`` with validation Dice
  or SSIM and a half-budget snapshot), :func:`register_pairs` (timed, one pair at a time),
  :func:`score_pairs` (per-case rows in the claims' long format).
"""

from __future__ import annotations

from mricompendium.experiments.registration.baselines import (
    BASELINES,
    constant,
    identity,
    sitk_bspline,
    sitk_demons,
    sitk_rigid,
    sitk_rigid_bspline,
    sitk_symmetric_demons,
    sitk_syn_cc,
)
from mricompendium.experiments.registration.evaluate import (
    common_metrics,
    learned,
    register_pairs,
    score_pairs,
    train,
    val_dice,
    val_ssim,
)
from mricompendium.experiments.registration.objective import (
    LossConfig,
    Registrator,
    loss_fn,
    one_hot,
)
from mricompendium.experiments.registration.registry import (
    REGISTRY,
    ModelSpec,
    build_model,
    count_parameters,
)

__all__ = [
    "BASELINES",
    "REGISTRY",
    "LossConfig",
    "ModelSpec",
    "Registrator",
    "build_model",
    "common_metrics",
    "constant",
    "count_parameters",
    "identity",
    "learned",
    "loss_fn",
    "one_hot",
    "register_pairs",
    "score_pairs",
    "sitk_bspline",
    "sitk_demons",
    "sitk_rigid",
    "sitk_rigid_bspline",
    "sitk_symmetric_demons",
    "sitk_syn_cc",
    "train",
    "val_dice",
    "val_ssim",
]
