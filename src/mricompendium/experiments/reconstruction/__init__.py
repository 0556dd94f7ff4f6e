"""The reconstruction experiment layer: registry, baselines, protocol, and the papers' extras.

The only place that joins the reconstruction networks (:mod:`mricompendium.models.reconstruction`),
the data (:mod:`mricompendium.data.recon`), training and metrics.

- :mod:`.registry`: :data:`MODELS` (small and paper configurations, citations),
  :func:`build_model`, :func:`match_budget` (parameter-budget matching).
- :mod:`.baselines`: zero-filled, L1-wavelet CS (:mod:`.cs`), :func:`tune_cs_lambda`.
- :mod:`.protocol`: the one input normalisation, the loss, :func:`train_model`,
  :func:`evaluate` (long-format rows), :func:`validation_fn`.
- :mod:`.lesions`: unseen-lesion insertion and retention (ReconResNet).
"""

from __future__ import annotations

from mricompendium.experiments.reconstruction.baselines import (
    cs_baseline,
    tune_cs_lambda,
    zero_filled,
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

__all__ = [
    "EVAL_PROTOCOL",
    "METRICS",
    "MODELS",
    "Evaluation",
    "ModelSpec",
    "budget_table",
    "build_model",
    "count_parameters",
    "cs_baseline",
    "evaluate",
    "input_scale",
    "magnitude_l1",
    "match_budget",
    "paper_counts",
    "predict",
    "train_model",
    "tune_cs_lambda",
    "validation_fn",
    "zero_filled",
]
