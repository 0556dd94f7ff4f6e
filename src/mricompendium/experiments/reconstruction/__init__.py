"""The reconstruction experiment layer: registry, baselines, protocol, and the papers' extras.

The only place that joins the reconstruction networks (:mod:`mricompendium.models.reconstruction`),
the data (:mod:`mricompendium.data.recon`), training and metrics.

- :mod:`.registry`: :data:`MODELS` (small and paper configurations, citations),
  :func:`build_model`, :func:`match_budget` (parameter-budget matching).
- :mod:`.baselines`: zero-filled, L1-wavelet CS (:mod:`.cs`), :func:`tune_cs_lambda`.
- :mod:`.protocol`: the one input normalisation, the loss, :func:`train_model`,
  :func:`evaluate` (long-format rows), :func:`validation_fn`.
- :mod:`.study`: :func:`train_seeds` (models over seeds with curves and half-budget rows),
  :func:`evaluate_settings`.
- :mod:`.datasets`: the notebook's data (simulated or a user's files) with units and groups.
- :mod:`.figures`: summary tables and shared figures.
- :mod:`.lesions`: unseen-lesion insertion and retention (ReconResNet).
"""

from __future__ import annotations

from mricompendium.experiments.reconstruction.baselines import (
    cs_baseline,
    tune_cs_lambda,
    zero_filled,
)
from mricompendium.experiments.reconstruction.datasets import (
    ReconData,
    nifti_data,
    real_data,
    simulated_data,
    simulation_checks,
    train_indices,
)
from mricompendium.experiments.reconstruction.protocol import (
    EVAL_PROTOCOL,
    METRICS,
    Evaluation,
    evaluate,
    input_scale,
    magnitude_l1,
    predict,
    train_model,
    validation_fn,
)
from mricompendium.experiments.reconstruction.registry import (
    MODELS,
    ModelSpec,
    budget_table,
    build_model,
    count_parameters,
    match_budget,
    paper_counts,
)
from mricompendium.experiments.reconstruction.study import (
    TestSetting,
    Trained,
    ValidationSet,
    add_drop,
    evaluate_settings,
    train_primary_and_rivals,
    train_seeds,
)

__all__ = [
    "EVAL_PROTOCOL",
    "METRICS",
    "MODELS",
    "Evaluation",
    "ModelSpec",
    "ReconData",
    "TestSetting",
    "Trained",
    "ValidationSet",
    "add_drop",
    "budget_table",
    "build_model",
    "count_parameters",
    "cs_baseline",
    "evaluate",
    "evaluate_settings",
    "input_scale",
    "magnitude_l1",
    "match_budget",
    "nifti_data",
    "paper_counts",
    "predict",
    "real_data",
    "simulated_data",
    "simulation_checks",
    "train_indices",
    "train_model",
    "train_primary_and_rivals",
    "train_seeds",
    "tune_cs_lambda",
    "validation_fn",
    "zero_filled",
]
