"""The reconstruction protocol: one input normalisation, one loss, training and evaluation.

- **Input normalisation** (:func:`input_scale`), the same for every model and baseline: each
  case's k-space is divided by the root-mean-square magnitude of its zero-filled image (SENSE
  combination with the estimated maps, or density-compensated gridding for radial data), which
  is computed from the undersampled data alone; the output is multiplied back. The reference
  never enters the input, and every method is equivariant to the scale of the data.
- **Loss** (:func:`magnitude_l1`): L1 between ``|model output|`` and ``|target|``, both in the
  normalised units of the input (the models see maps estimated from the calibration region,
  which absorb the image's low-resolution phase, so only magnitudes compare); optionally the
  mean over every intermediate estimate (RIM-family papers).
- **Training** (:func:`train_model`): Adam (constant or cosine-annealed rate), a fixed number
  of steps, batches from :func:`mricompendium.data.recon.batch_fn`, gradient norm clipped;
  validation history and half-budget snapshots through :func:`mricompendium.training.fit`.
- **Evaluation** (:func:`evaluate`): magnitudes under protocol ``"slice_normalised"`` of
  :mod:`mricompendium.metrics` (each slice divided by its reference maximum, data range 1), SSIM
  inside the brain mask (the family's verdict metric) and SSIM / PSNR / NMSE over the image, one
  row per case in the long results format of :mod:`mricompendium.claims`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium import metrics, plans, training
from mricompendium.data.recon import ReconBatch, batch_fn
from mricompendium.experiments.reconstruction.registry import MODELS, build_model
from mricompendium.models.reconstruction.reconresnet import ReconResNet
from mricompendium.physics.masks import Sampling
from mricompendium.plans import Checkpoints, FitCall

__all__ = [
    "EVAL_PROTOCOL",
    "METRICS",
    "Evaluation",
    "evaluate",
    "fit_setup",
    "input_scale",
    "magnitude_l1",
    "predict",
    "train_model",
]

EVAL_PROTOCOL = "slice_normalised"
METRICS = ("ssim_brain", "ssim", "psnr", "nmse", "psnr_brain", "nmse_brain")
Method = Callable[[ReconBatch], torch.Tensor]


def input_scale(batch: ReconBatch, kspace: torch.Tensor | None = None) -> torch.Tensor:
    """Per-case scale ``(B,)``: RMS magnitude of the zero-filled image of the undersampled data."""
    x0 = batch.zero_filled(kspace)
    rms = x0.abs().square().mean(dim=(-2, -1)).sqrt()
    return rms.clamp_min(torch.finfo(rms.dtype).tiny)


def _expand(scale: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return scale.view(-1, *([1] * (like.dim() - 1))).to(like.real.dtype)


def predict(
    model: nn.Module,
    batch: ReconBatch,
    *,
    return_all: bool = False,
    normalised: bool = False,
    **conditions: Any,
) -> Any:
    """A model's reconstruction of ``batch`` under the one input normalisation.

    Args:
        model: a registry network (``forward(kspace, mask, maps)``, or ``forward(y, op)`` for
            ReconResNet).
        batch: the undersampled data.
        return_all: every intermediate estimate (multi-step models), as a flat list.
        normalised: return images in the normalised units (for the loss) instead of the data's.
        conditions: extra keyword inputs of a conditioned network (e.g. a hyperparameter).

    Returns:
        complex ``(B, H, W)`` (or a list of them).
    """
    scale = input_scale(batch)
    k = batch.kspace / _expand(scale, batch.kspace)
    extra = {"return_all": True} if return_all else {}
    if isinstance(model, ReconResNet):
        out = model(k, batch.operator())
    else:
        out = model(k, batch.mask, batch.maps, **extra, **conditions)
    outs = _flatten(out)
    if not normalised:
        outs = [o * _expand(scale, o) for o in outs]
    return outs if return_all else outs[-1]


def _flatten(estimates: Any) -> list[torch.Tensor]:
    if isinstance(estimates, torch.Tensor):
        return [estimates]
    return [t for e in estimates for t in _flatten(e)]


def magnitude_l1(model: nn.Module, batch: ReconBatch, *, over_steps: bool = False) -> torch.Tensor:
    """Mean ``| |pred| - |target| |`` in normalised units; ``over_steps``: mean over estimates."""
    preds = predict(model, batch, return_all=over_steps, normalised=True)
    preds = preds if over_steps else [preds]
    target = batch.target_abs / _expand(input_scale(batch), batch.target_abs)
    return torch.stack([(p.abs() - target).abs().mean() for p in preds]).mean()


def fit_setup(
    name: str | nn.Module,
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | torch.device = "cpu",
    scale: str = "small",
    overrides: dict[str, Any] | None = None,
    indices: Sequence[int] | None = None,
    loss_over_steps: bool = False,
    grad_clip: float | None = 1.0,
    mask_pool: int = 8,
    scheduler: str | None = None,
    val_fn: Callable[[nn.Module], float] | None = None,
    val_every: int | None = None,
    on_step: dict[int, Callable[[nn.Module], Any]] | None = None,
    loss: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    stream: Callable[[int], Callable[[int, torch.Generator], Any]] | None = None,
    precision: str = "fp32",
) -> FitCall:
    """The ``training.fit`` call that trains a registry model (or a given module) on a mix of
    sampling settings: seeds, builds the model, the batches and the loss, trains nothing.

    Args:
        name: registry name (built at ``scale`` with ``overrides``) or an ``nn.Module``.
        source: a ``KspaceSimulator`` or ``RealKspaceSet`` (batches made on its device).
        samplings: the training settings; each step draws one (see ``batch_fn``).
        steps, batch_size, lr: the budget (Adam, constant learning rate).
        seed: seeds the initial weights and the batch stream.
        device: where the model trains.
        indices: the training cases (default all of ``source``).
        loss_over_steps: average the loss over intermediate estimates (multi-step models only).
        grad_clip: maximum gradient norm.
        mask_pool: distinct masks per setting.
        scheduler: ``"cosine"`` (learning rate annealed to 0 over ``steps``) or ``None``.
        val_fn: validation metric of the model (e.g. :func:`validation_fn`), recorded every
            ``val_every`` steps and at the end (``History.val``).
        on_step: ``{step: fn(model)}`` snapshots (e.g. evaluation rows at half budget).
        loss: ``loss(model, batch) -> scalar`` replacing :func:`magnitude_l1` (the one hook a
            training variant overrides: adversarial, multitask, unlearning or consistency
            losses); it gets the batch on the device, or, with ``stream``, the stream's
            items as they come (it moves them to the device itself).
        stream: ``stream(seed) -> batch function`` instead of :func:`batch_fn` (e.g. labelled
            and undersampled-only cases in one step).
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"`` (:mod:`mricompendium.amp`).
    """
    training.seed_everything(seed)
    named = not isinstance(name, nn.Module)
    model = build_model(name, scale=scale, **(overrides or {})) if named else name
    multi = not named or MODELS[name].multi_step
    over = bool(loss_over_steps) and multi and not isinstance(model, ReconResNet)
    dev = training.select_device(device)
    if stream is not None:
        batches = stream(seed)
    else:
        batches = batch_fn(
            source, samplings, batch_size, indices=indices, mask_pool=mask_pool, seed=seed
        )

    def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
        if loss is not None:
            return loss(m, batch if stream is not None else batch.to(dev))
        return magnitude_l1(m, batch.to(dev), over_steps=over)

    config = ({"factory": "mricompendium.experiments.reconstruction:build_model",
               "kwargs": {"name": name, "scale": scale, **(overrides or {})}}
              if named else None)  # fmt: skip
    recipe = {"samplings": [str(Sampling.parse(s)) for s in samplings], "batch_size": batch_size,
              "mask_pool": mask_pool, "loss_over_steps": over,
              "indices": None if indices is None else [int(i) for i in indices]}  # fmt: skip
    kwargs = dict(steps=steps, lr=lr, device=dev, precision=precision, grad_clip=grad_clip,
                  progress=False, seed=seed, val_fn=val_fn, val_every=val_every, on_step=on_step,
                  scheduler=scheduler)  # fmt: skip
    return FitCall(model, batches, loss_fn, kwargs, config, recipe)


def train_model(
    name: str | nn.Module,
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    seed: int,
    checkpoints: Checkpoints | None = None,
    method: str | None = None,
    **setup: Any,
) -> tuple[nn.Module, training.History]:
    """Train a registry model (or a given module) on a mix of sampling settings, or, with
    ``checkpoints``, load what ``python -m mricompendium.train`` trained for ``method`` (default
    ``name``) at ``seed``.

    Args:
        name, source, samplings, seed, **setup: as :func:`fit_setup` (``steps``,
            ``batch_size``, ``lr`` required).
        checkpoints: the notebook's trained models (:class:`mricompendium.plans.Checkpoints`),
            or ``None`` to train here.
        method: the method's name in the checkpoints (and the results).

    Returns:
        ``(model in eval mode, History)``.
    """
    call = fit_setup(name, source, samplings, seed=seed, **setup)
    if checkpoints is not None and method is None and isinstance(name, nn.Module):
        raise ValueError("a module loaded from checkpoints needs its method name")
    history = plans.fit(call, checkpoints, method or str(name), seed)
    return call.model.eval(), history


@dataclass
class Evaluation:
    """Per-case rows of one method in one setting, and optionally some images.

    Attributes:
        rows: one dict per case: the claims key columns and :data:`METRICS`.
        time_s: inference wall time per case ``(n,)`` (batch time / batch size).
        recon, target: the first ``keep`` magnitudes ``(keep, H, W)`` (empty if ``keep=0``).
    """

    rows: list[dict[str, Any]]
    time_s: np.ndarray
    recon: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    target: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    def values(self, metric: str) -> np.ndarray:
        """One metric over the cases, ``(n,)``."""
        return np.asarray([r[metric] for r in self.rows], dtype=np.float64)


def _as_method(method: nn.Module | Method) -> Method:
    if isinstance(method, nn.Module):
        module = method

        def run(batch: ReconBatch) -> torch.Tensor:
            return predict(module, batch)

        return run
    return method


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(
    method: nn.Module | Method,
    source: Any,
    sampling: Sampling | str,
    meta: Sequence[tuple[str, str, str]],
    *,
    seed: int,
    name: str,
    train_seed: int = -1,
    budget: int = 0,
    setting: str | None = None,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    keep: int = 0,
    extra: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> Evaluation:
    """Per-case metrics of a model or baseline under ``sampling``, as long-format rows.

    Every case's data (phase, coils, noise, per-case mask) depend only on ``(index, seed)``, so
    every method sees the same inputs whatever the batch size. Radial settings run one case per
    batch (each case has its own trajectory rotation).

    Args:
        method: an ``nn.Module`` (run through :func:`predict`) or ``f(batch) -> image``.
        source: a simulator or real k-space set.
        sampling: the setting.
        meta: ``(case, unit, group)`` for each index of ``source``.
        seed: seeds the test data (the same for every method).
        name, train_seed, budget: the ``method``, ``seed`` and ``budget`` columns.
        setting: the ``setting`` column (default ``str(sampling)``).
        indices: the cases to evaluate (default all).
        batch_size: cases per forward pass.
        keep: also keep the first ``keep`` reconstructions and targets.
        extra: ``f(pred, target, region) -> {column: (n,) values}``: more per-case metric
            columns, from the magnitudes and the metrics' regions ``(n, H, W)``.
    """
    sampling = Sampling.parse(sampling)
    idx = list(range(len(source))) if indices is None else [int(i) for i in indices]
    if not idx:
        raise ValueError("no cases to evaluate")
    run = _as_method(method)
    step = 1 if sampling.is_radial else batch_size
    preds, targets, brains, times = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(idx), step):
            batch = source.batch(idx[start : start + step], sampling, seed)
            _sync(source.device)
            t0 = time.perf_counter()
            pred = run(batch)
            _sync(source.device)
            times += [(time.perf_counter() - t0) / len(batch)] * len(batch)
            preds.append(pred.abs().float().cpu())
            targets.append(batch.target_abs.float().cpu())
            brains.append(batch.brain_mask.cpu())
    pred, target = torch.cat(preds).numpy(), torch.cat(targets).numpy()
    res = metrics.evaluate(pred, target, protocol=EVAL_PROTOCOL, mask=torch.cat(brains).numpy())
    res = {k.replace("_mask", "_brain"): v for k, v in res.items()}
    more = extra(pred, target, torch.cat(brains).numpy()) if extra is not None else {}
    label = setting if setting is not None else str(sampling)
    rows = [
        {"setting": label, "method": name, "seed": int(train_seed), "budget": int(budget),
         "case": meta[i][0], "unit": meta[i][1], "group": meta[i][2],
         **{m: float(res[m][j]) for m in METRICS}, **{k: float(v[j]) for k, v in more.items()}}
        for j, i in enumerate(idx)
    ]  # fmt: skip
    return Evaluation(rows, np.asarray(times), pred[:keep], target[:keep])


def validation_fn(
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    seed: int,
    indices: Sequence[int] | None = None,
    metric: str = "ssim_brain",
) -> Callable[[nn.Module], float]:
    """``fn(model) -> mean metric`` over the validation cases and settings (for ``fit``)."""
    n = len(source) if indices is None else len(indices)
    meta = [(str(i), str(i), "val") for i in range(len(source))]

    def fn(model: nn.Module) -> float:
        vals = [
            evaluate(model, source, s, meta, seed=seed, name="val", indices=indices).values(metric)
            for s in samplings
        ]
        return float(np.mean(vals)) if n else float("nan")

    return fn
