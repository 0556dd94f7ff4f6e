"""Register test pairs, time each one, score it, and train networks with validation.

Per-case rows follow the long format of :mod:`mricompendium.claims`: key columns ``setting,
method, seed, budget, case, unit, group`` and the metric columns ``dice``, ``hd95`` (mm),
``folding_pct``, ``logjac_sd``, ``runtime_s`` (wall seconds to register the pair, batch of one),
``degenerate`` (1 for a folding or constant field, :func:`mricompendium.metrics.registration.
degenerate`), plus ``epe`` (mm) where the true displacement is known and ``extra`` metrics on
request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mricompendium import training
from mricompendium.experiments.registration.objective import LossConfig, Registrator, loss_fn
from mricompendium.experiments.registration.registry import build_model
from mricompendium.metrics import registration as rm
from mricompendium.metrics.image import ssim
from mricompendium.physics.deform import warp

__all__ = [
    "common_metrics",
    "learned",
    "register_pairs",
    "score_pairs",
    "train",
    "val_dice",
    "val_ssim",
]

RegisterFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MetricFn = Callable[[dict[str, torch.Tensor], torch.Tensor], np.ndarray]


def learned(model: torch.nn.Module, device: torch.device | str = "cpu") -> RegisterFn:
    """A trained network as a one-pair registration function (eval mode, no gradients)."""
    dev = torch.device(device)

    def run(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            disp = model(moving.to(dev), fixed.to(dev)).disp
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return disp.cpu()

    return run


def register_pairs(
    fn: RegisterFn,
    pairs: Mapping[str, torch.Tensor],
    *,
    repeats: int = 1,
    warmup: bool = True,
    inputs: Sequence[str] = (),
) -> tuple[torch.Tensor, np.ndarray]:
    """Register every pair one at a time; return ``(disp (N, n, *S), seconds (N,))``.

    ``inputs`` names further per-pair entries of ``pairs`` passed to ``fn`` as keyword arguments
    (e.g. ``"domain"``: a registration mask in the fixed image), sliced like the images.

    The clock covers the registration call only (transfers to the device included for networks);
    one untimed warm-up call on the first pair avoids counting one-off initialisation, and each
    pair's time is the minimum over ``repeats`` calls (the least disturbed by other processes).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    moving, fixed = pairs["moving"], pairs["fixed"]
    if warmup:
        fn(moving[:1], fixed[:1], **{k: pairs[k][:1] for k in inputs})
    disps, times = [], []
    for i in range(moving.shape[0]):
        best = float("inf")
        kw = {k: pairs[k][i : i + 1] for k in inputs}
        for _ in range(repeats):
            t0 = time.perf_counter()
            disp = fn(moving[i : i + 1], fixed[i : i + 1], **kw).float()
            best = min(best, time.perf_counter() - t0)
        disps.append(disp)
        times.append(best)
    return torch.cat(disps), np.asarray(times)


def score_pairs(
    pairs: Mapping[str, Any],
    disp: torch.Tensor,
    seconds: np.ndarray,
    *,
    spacing_mm: float | Sequence[float],
    keys: Mapping[str, Any],
    cases: Sequence[str],
    units: Sequence[str] | None = None,
    extra: Mapping[str, MetricFn] | None = None,
    hd95: bool = True,
) -> list[dict[str, Any]]:
    """Per-case rows for registered pairs.

    Args:
        pairs: ``moving_labels``, ``fixed_labels``, ``fixed_mask`` and optionally ``truth``.
        disp: ``(N, n, *S)`` displacements found.
        seconds: registration time per pair.
        spacing_mm: pixel size (scalar, or one value per pair).
        keys: ``setting``, ``method``, ``seed``, ``budget``, ``group`` (same for every row).
        cases: case ids; units: units of independence (default: the case ids).
        extra: more metrics ``name -> fn(pairs, disp) -> (N,)``.
        hd95: compute the HD95 column (MONAI; about a second per large multi-label pair).
    """
    n = disp.shape[0]
    warped = warp(pairs["moving_labels"], disp, mode="nearest")
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (n,))
    metrics = {"dice": rm.mean_dice(warped, pairs["fixed_labels"])}
    if hd95:
        metrics["hd95"] = np.concatenate(
            [
                rm.hd95(warped[i : i + 1], pairs["fixed_labels"][i : i + 1], spacing=spacing[i])
                for i in range(n)
            ]
        )
    metrics |= {
        "folding_pct": rm.folding_pct(disp),
        "logjac_sd": rm.logjac_sd(disp),
        "runtime_s": np.asarray(seconds, dtype=np.float64),
        "degenerate": rm.degenerate(disp),
    }
    if "truth" in pairs:
        metrics["epe"] = np.concatenate(
            [
                rm.endpoint_error(
                    disp[i : i + 1],
                    pairs["truth"][i : i + 1],
                    spacing=spacing[i],
                    mask=pairs["fixed_mask"][i : i + 1],
                )
                for i in range(n)
            ]
        )
    for name, fn in (extra or {}).items():
        metrics[name] = np.asarray(fn(pairs, disp), dtype=np.float64)
    units = list(cases) if units is None else list(units)
    return [
        {
            **keys,
            "case": str(cases[i]),
            "unit": str(units[i]),
            **{m: float(v[i]) for m, v in metrics.items()},
        }
        for i in range(n)
    ]


def common_metrics(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Keep only the columns every row has (e.g. drop ``epe`` when some pair has no truth)."""
    keep = set(rows[0]).intersection(*map(set, rows[1:])) if rows else set()
    return [{k: v for k, v in r.items() if k in keep} for r in rows]


def val_dice(pairs: Mapping[str, torch.Tensor], device: torch.device | str) -> Callable:
    """``val_fn(model) -> mean Dice`` on fixed validation pairs (batched forward)."""
    moving, fixed = pairs["moving"].to(device), pairs["fixed"].to(device)

    def fn(model: torch.nn.Module) -> float:
        disp = model(moving, fixed).disp.cpu()
        warped = warp(pairs["moving_labels"], disp, mode="nearest")
        return float(rm.mean_dice(warped, pairs["fixed_labels"]).mean())

    return fn


def val_ssim(pairs: Mapping[str, torch.Tensor], device: torch.device | str) -> Callable:
    """``val_fn(model) -> mean SSIM`` of the warped moving image against ``fixed_reference``
    (the moving image's contrast at the fixed position), on fixed validation pairs."""
    moving, fixed = pairs["moving"].to(device), pairs["fixed"].to(device)
    ref = pairs["fixed_reference"][:, 0].numpy()
    data_range = ref.reshape(len(ref), -1).max(1)

    def fn(model: torch.nn.Module) -> float:
        warped = warp(pairs["moving"], model(moving, fixed).disp.cpu())[:, 0].numpy()
        return float(np.mean(ssim(warped, ref, data_range=data_range)))

    return fn


VAL_METRICS = {"dice": val_dice, "ssim": val_ssim}


def train(
    name: str,
    config: LossConfig,
    batch_fn: Callable[[int, torch.Generator], Any],
    *,
    steps: int,
    lr: float,
    seed: int,
    device: torch.device | str,
    val_pairs: Mapping[str, torch.Tensor],
    val_every: int,
    half_budget: Callable[[torch.nn.Module], Any] | None = None,
    scale: str = "small",
    overrides: Mapping[str, Any] | None = None,
    scheduler: str | None = "cosine",
    val_metric: str = "dice",
) -> tuple[Registrator, training.History]:
    """Train a registered network with ``config`` from seed ``seed``.

    The network's initial weights and the stream of training pairs both follow ``seed``.
    ``half_budget`` (e.g. an evaluation returning rows) is called at ``steps // 2`` and its value
    stored in ``History.snapshots``; the validation metric (``val_metric``: ``"dice"`` of the
    warped labels or ``"ssim"`` against the fixed reference, :data:`VAL_METRICS`) is recorded every
    ``val_every`` steps. The learning rate follows ``scheduler`` (default: cosine annealing to 0
    over ``steps``): every model trained here follows the same rule for a given budget.
    """
    if val_metric not in VAL_METRICS:
        raise ValueError(f"val_metric must be one of {sorted(VAL_METRICS)}, got {val_metric!r}")
    training.seed_everything(seed)
    model = Registrator(build_model(name, scale, **dict(overrides or {})), config)
    on_step = {steps // 2: half_budget} if half_budget is not None and steps >= 2 else None
    hist = training.fit(
        model,
        batch_fn,
        loss_fn,
        steps=steps,
        lr=lr,
        seed=seed,
        device=device,
        progress=False,
        scheduler=scheduler,
        val_fn=VAL_METRICS[val_metric](val_pairs, training.select_device(device)),
        val_every=val_every,
        on_step=on_step,
    )
    model.eval()
    return model, hist
