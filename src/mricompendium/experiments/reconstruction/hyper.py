"""Hyperparameter-conditioned unrolled networks: training over a sampled hyperparameter, and a
test-time knob chosen per noise level (S06, inference-stage denoising).

:func:`alpha_training` trains a
:class:`~mricompendium.models.reconstruction.hypervarnet.HyperVarNet` on clean data with the
hyperparameter ``alpha`` drawn per case: the loss is the supervised magnitude L1 plus ``alpha``
times a total-variation penalty on the output (HyperRecon's form: the hyperparameter weights a
regulariser of the training loss, so each ``alpha`` asks for another trade-off between fidelity
and smoothness, and the hypernetwork learns them all).

At test time a knob is set per case from the noise level measured in its own data
(:func:`noise_level`): :func:`select_knob` finds, on validation cases with noise added at a grid
of levels, the knob value with the best metric at each level (``alpha`` for the hypernetwork,
the data-consistency scale ``dc_scale`` for a fixed network, so both get one test-time knob);
:func:`adaptive_method` interpolates that choice at each test case's measured level. Test levels
held out of the selection grid test the interpolation, not the grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium.data.recon import ReconBatch, batch_fn
from mricompendium.data.recon.perturbed import Perturbation, PerturbedSource
from mricompendium.experiments.reconstruction.protocol import Method, evaluate, input_scale, predict
from mricompendium.physics.masks import Sampling
from mricompendium.physics.perturb import estimate_noise_std

__all__ = [
    "KnobTable",
    "adaptive_method",
    "alpha_training",
    "knob_method",
    "noise_level",
    "select_knob",
    "total_variation",
]


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation per image, ``mean |dx| + mean |dy|``: real ``(B, H, W)`` ->
    ``(B,)``."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(-2, -1))
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(-2, -1))
    return dx + dy


def alpha_training(
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    batch_size: int,
    tv_weight: float,
    indices: Sequence[int] | None = None,
    alpha_range: tuple[float, float] = (0.0, 1.0),
    mask_pool: int = 8,
    device: str | torch.device = "cpu",
) -> dict[str, Callable[..., Any]]:
    """The ``loss`` and ``stream`` of :func:`~.study.train_seeds` for a conditioned network.

    Each step's cases get ``alpha`` uniform in ``alpha_range``; the loss per case is ``L1 +
    alpha * tv_weight * TV(|x|)`` in the normalised units of the input.
    """
    lo, hi = alpha_range
    if not 0 <= lo <= hi or tv_weight < 0:
        raise ValueError(f"need 0 <= lo <= hi and tv_weight >= 0, got {alpha_range}, {tv_weight}")

    def stream(seed: int) -> Callable[[int, torch.Generator], tuple[ReconBatch, torch.Tensor]]:
        batches = batch_fn(source, samplings, batch_size, indices=indices, mask_pool=mask_pool,
                           seed=seed)  # fmt: skip

        def sample(step: int, gen: torch.Generator) -> tuple[ReconBatch, torch.Tensor]:
            batch = batches(step, gen)
            return batch, lo + (hi - lo) * torch.rand(len(batch), generator=gen)

        return sample

    def loss(model: nn.Module, item: tuple[ReconBatch, torch.Tensor]) -> torch.Tensor:
        batch, alpha = item[0].to(device), item[1].to(device)
        pred = predict(model, batch, normalised=True, alpha=alpha).abs()
        scale = input_scale(batch).view(-1, 1, 1).to(pred.dtype)
        l1 = (pred - batch.target_abs / scale).abs().mean(dim=(-2, -1))
        return (l1 + alpha * tv_weight * total_variation(pred)).mean()

    return {"loss": loss, "stream": stream}


def noise_level(batch: ReconBatch) -> torch.Tensor:
    """Each case's noise level measured from its own data ``(B,)``: the outer k-space noise
    standard deviation (:func:`~mricompendium.physics.perturb.estimate_noise_std`) over the RMS
    of the zero-filled image (the unit of
    :class:`~mricompendium.data.recon.perturbed.Perturbation`)."""
    return estimate_noise_std(batch.kspace, batch.mask) / input_scale(batch)


def knob_method(model: nn.Module, knob: str, value: float | torch.Tensor) -> Method:
    """``model`` run with ``knob=value`` (e.g. ``alpha=0.4`` or ``dc_scale=0.5``)."""

    def run(batch: ReconBatch) -> torch.Tensor:
        return predict(model, batch, **{knob: value})

    return run


@dataclass
class KnobTable:
    """The knob chosen at each validation noise level.

    Attributes:
        knob: the keyword (``"alpha"``, ``"dc_scale"``).
        levels: nominal added noise levels of the grid.
        measured: mean :func:`noise_level` of the validation cases at each level.
        best: the chosen knob value at each level.
        rows: ``{"level", "measured", knob, "score"}`` for every pair tried.
    """

    knob: str
    levels: list[float]
    measured: list[float]
    best: list[float]
    rows: list[dict[str, float]] = field(default_factory=list)

    def value_at(self, measured: np.ndarray) -> np.ndarray:
        """The knob at measured levels: linear interpolation in the table, constant beyond."""
        order = np.argsort(self.measured)
        xs, ys = np.asarray(self.measured)[order], np.asarray(self.best)[order]
        return np.interp(measured, xs, ys)


def select_knob(
    model: nn.Module,
    knob: str,
    values: Sequence[float],
    source: Any,
    levels: Sequence[float],
    sampling: Sampling | str,
    *,
    seed: int,
    indices: Sequence[int] | None = None,
    metric: str = "ssim_brain",
) -> KnobTable:
    """The best knob value (mean ``metric``) at each added noise level, on validation cases."""
    if not values or not levels:
        raise ValueError("need knob values and noise levels")
    meta = [(str(i), str(i), "val") for i in range(len(source))]
    idx = list(range(len(source))) if indices is None else list(indices)
    table = KnobTable(knob, [float(v) for v in levels], [], [])
    for level in levels:
        src = PerturbedSource(source, Perturbation(noise=float(level))) if level > 0 else source
        with torch.no_grad():
            measured = noise_level(src.batch(idx, sampling, seed).to(source.device))
        table.measured.append(float(measured.mean()))
        scores = {}
        for v in values:
            ev = evaluate(knob_method(model, knob, float(v)), src, sampling, meta, seed=seed,
                          name=knob, indices=idx)  # fmt: skip
            scores[float(v)] = float(ev.values(metric).mean())
            table.rows.append({"level": float(level), "measured": table.measured[-1],
                               knob: float(v), "score": scores[float(v)]})  # fmt: skip
        table.best.append(max(scores, key=scores.get))
    return table


def adaptive_method(model: nn.Module, table: KnobTable) -> Method:
    """``model`` with its knob set per case from the case's measured noise level."""

    def run(batch: ReconBatch) -> torch.Tensor:
        measured = noise_level(batch).detach().cpu().numpy()
        value = torch.as_tensor(table.value_at(measured), dtype=torch.float32)
        return predict(model, batch, **{table.knob: value.to(batch.kspace.device)})

    return run
