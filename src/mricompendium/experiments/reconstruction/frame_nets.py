"""Training and evaluating multi-frame networks (cine, multi-echo) under one protocol.

The same rules as the 2D protocol (:mod:`.protocol`): each case's k-space is divided by the
RMS magnitude of its zero-filled frames (:func:`~.dynamic.frame_scale`, from the undersampled
data alone) and the output multiplied back; the loss is the L1 distance of magnitudes in those
units; Adam with a cosine-annealed rate for a fixed number of steps, gradients clipped, the
validation metric recorded along training, rows at half and at full budget. Every model of a
comparison gets the same budget and schedule (:func:`train_frame_seeds`).

:data:`FRAME_MODELS` names the networks of :mod:`mricompendium.models.reconstruction.multiframe`
and the width knob :func:`match_frame_budget` turns to give them the same number of parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium import claims, training
from mricompendium.data.recon.batches import case_seed
from mricompendium.data.recon.frames import FrameBatch, parse_sampling
from mricompendium.experiments.reconstruction.dynamic import frame_scale
from mricompendium.experiments.reconstruction.multiframe import evaluate_frames
from mricompendium.experiments.reconstruction.study import TestSetting, Trained
from mricompendium.models.reconstruction.multiframe import FrameUNet, FrameVarNet

__all__ = [
    "FRAME_MODELS",
    "build_frame_model",
    "count_frame_parameters",
    "frame_batch_fn",
    "match_frame_budget",
    "predict_frames",
    "train_frame_seeds",
]

FRAME_MODELS: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "E2E-VarNet": (FrameVarNet, {"frame_wise": False, "num_cascades": 4, "pools": 2}),
    "E2E-VarNet (frame-wise)": (FrameVarNet, {"frame_wise": True, "num_cascades": 4, "pools": 2}),
    "U-Net": (FrameUNet, {"frame_wise": False, "num_pools": 3}),
    "U-Net (frame-wise)": (FrameUNet, {"frame_wise": True, "num_pools": 3}),
}


def build_frame_model(name: str, frames: int, **overrides: Any) -> nn.Module:
    """Network ``name`` of :data:`FRAME_MODELS` for ``frames`` frames."""
    if name not in FRAME_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(FRAME_MODELS)}")
    cls, fixed = FRAME_MODELS[name]
    return cls(frames=frames, **{**fixed, **overrides})


def count_frame_parameters(name: str, frames: int, **overrides: Any) -> int:
    """Trainable parameters of ``name`` (built on the meta device)."""
    with torch.device("meta"):
        model = build_frame_model(name, frames, **overrides)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_frame_budget(
    name: str, frames: int, budget: int, *, fixed: dict[str, Any] | None = None
) -> tuple[dict[str, Any], int]:
    """The width ``chans`` (1-256) and depth of ``name`` (U-Nets: ``num_pools`` 2-4, cascades:
    ``pools`` 2-3) whose parameter count is closest to ``budget``; depth in ``fixed`` is kept.
    Returns ``(overrides, parameters)``."""
    depth_key = "num_pools" if FRAME_MODELS.get(name, (None,))[0] is FrameUNet else "pools"
    depths = [fixed[depth_key]] if fixed and depth_key in fixed else (
        [2, 3, 4] if depth_key == "num_pools" else [2, 3])  # fmt: skip
    best: tuple[dict[str, Any], int] | None = None
    for d in depths:
        for c in range(1, 257):
            over = {**(fixed or {}), depth_key: d, "chans": c}
            n = count_frame_parameters(name, frames, **over)
            if best is None or abs(n - budget) < abs(best[1] - budget):
                best = (over, n)
            if n > budget:
                break
    assert best is not None
    return best


def predict_frames(model: nn.Module, batch: FrameBatch, *, normalised: bool = False):
    """The model's frames ``(B, T, H, W)`` under the one input normalisation."""
    scale = frame_scale(batch).to(batch.kspace.real.dtype)
    out = model(batch.kspace / scale.view(-1, 1, 1, 1, 1), batch.mask, batch.maps)
    return out if normalised else out * scale.view(-1, 1, 1, 1)


def _loss(model: nn.Module, batch: FrameBatch) -> torch.Tensor:
    scale = frame_scale(batch).to(batch.kspace.real.dtype).view(-1, 1, 1, 1)
    pred = predict_frames(model, batch, normalised=True)
    return (pred.abs() - batch.target_abs / scale).abs().mean()


def frame_batch_fn(
    source: Any, samplings: Sequence[Any], batch_size: int, *, indices: Sequence[int] | None,
    mask_pool: int, seed: int,
) -> Callable[[int, torch.Generator], FrameBatch]:  # fmt: skip
    """Training batches: cases drawn with replacement, one setting and one mask of a pool of
    ``mask_pool`` per setting each step, new noise every step (all from the step's generator)."""
    settings = [parse_sampling(s) for s in samplings]
    pool = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    if not settings or pool.size == 0 or batch_size < 1 or mask_pool < 1:
        raise ValueError("need settings, training cases, batch_size >= 1 and mask_pool >= 1")

    def sample(step: int, gen: torch.Generator) -> FrameBatch:
        pick = torch.randint(pool.size, (batch_size,), generator=gen).numpy()
        s = settings[int(torch.randint(len(settings), (1,), generator=gen))]
        m_seed = case_seed(seed, 7, int(torch.randint(mask_pool, (1,), generator=gen)))
        noise = int(torch.randint(2**31 - 1, (1,), generator=gen))
        return source.batch(pool[pick], s, noise, mask_seed=m_seed)

    return sample


def _validation(validation: TestSetting | None, metric: str) -> Callable[[nn.Module], float]:
    def fn(model: nn.Module) -> float:
        assert validation is not None
        ev = evaluate_frames(lambda b: predict_frames(model, b), validation.source,
                             validation.sampling, validation.meta, seed=validation.seed,
                             name="val", indices=validation.indices)  # fmt: skip
        return float(ev.values(metric).mean())

    return fn


def _rows(model: nn.Module, name: str, settings: Sequence[TestSetting], seed: int, budget: int,
          extra: Any) -> list[dict[str, Any]]:  # fmt: skip
    model.eval()
    rows = []
    for t in settings:
        rows += evaluate_frames(lambda b: predict_frames(model, b), t.source, t.sampling, t.meta,
                                seed=t.seed, name=name, train_seed=seed, budget=budget,
                                setting=t.label, indices=t.indices, extra=extra).rows  # fmt: skip
    model.train()
    return rows


def train_frame_seeds(
    name: str,
    source: Any,
    samplings: Sequence[Any],
    settings: Sequence[TestSetting],
    *,
    frames: int,
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    lr: float,
    validation: Sequence[TestSetting],
    val_every: int,
    overrides: dict[str, Any] | None = None,
    device: Any = "cpu",
    mask_pool: int = 8,
    half_settings: Sequence[str] | None = None,
    metric: str = "ssim",
    extra: Callable[[FrameBatch, torch.Tensor], dict[str, float]] | None = None,
    label: str | None = None,
) -> Trained:
    """Train network ``name`` once per seed (same budget, cosine schedule) and evaluate it.

    Each seed gives a curve (loss; mean validation ``metric`` over ``validation`` every
    ``val_every`` steps), rows in every setting at the full budget and, in ``half_settings``
    (default all), at ``steps // 2``.
    """
    shown = label or name
    out = Trained(shown)
    dev = training.select_device(device)

    def val_fn(model: nn.Module) -> float:
        return float(np.mean([_validation(v, metric)(model) for v in validation]))

    half = steps // 2
    at_half = [t for t in settings if half_settings is None or t.label in half_settings]
    for seed in seeds:
        training.seed_everything(int(seed))
        model = build_frame_model(name, frames, **(overrides or {})).to(dev)
        batches = frame_batch_fn(source, samplings, batch_size, indices=None,
                                 mask_pool=mask_pool, seed=int(seed))  # fmt: skip
        snap = {half: lambda m, s=seed: _rows(m, shown, at_half, s, half, extra)} if half else {}
        hist = training.fit(model, batches, lambda m, b: _loss(m, b.to(dev)), steps=steps,
                            lr=lr, device=dev, amp=False, grad_clip=1.0, progress=False,
                            seed=int(seed), val_fn=val_fn, val_every=val_every, on_step=snap,
                            scheduler="cosine")  # fmt: skip
        model.eval()
        out.models[seed], out.histories[seed] = model, hist
        out.rows += _rows(model, shown, settings, seed, steps, extra)
        out.rows += hist.snapshots.get(half, []) if snap else []
        out.curves.append(claims.Curve.from_history(shown, seed, hist, val_metric=metric))
    return out
