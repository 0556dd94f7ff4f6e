"""The one training loop every notebook and ``python -m mricompendium.train`` use.

Batches come from either

* a **batch function** ``batch_fn(step, generator) -> batch``: called with a fresh
  ``torch.Generator`` (CPU) seeded from ``(seed, step, shard)``, so the batch at step ``k`` is the
  same whether or not training was resumed, and whichever process computes it; this suits
  on-the-fly simulation (k-space, masks, noise); or
* an **iterable** of batches (a list, a ``DataLoader``): re-iterated each epoch.

A batch is anything ``loss_fn(model, batch) -> scalar Tensor`` understands; tensors inside tuples,
lists and dicts are moved to the device. The same code runs on CPU and CUDA.

**Shards and processes.** One optimisation step's global batch is ``shards`` batches (default:
one per process); their gradients are averaged. In one process they are accumulated one after
another; under ``torchrun`` each of ``N`` processes computes ``shards / N`` of them and
``DistributedDataParallel`` all-reduces the gradients, so ``N`` processes and one process with
``shards=N`` do the same step (``tests/test_distributed.py``). With ``shards > 1`` the global
random state is reseeded per (step, shard) around each shard's loss, so dropout does not
depend on how shards are spread over processes. Rank 0 logs, validates and writes checkpoints.

**Precision** (:mod:`mricompendium.amp`): ``fp32``, ``bf16`` (autocast), ``fp16`` (autocast and
a ``GradScaler``, CUDA only) or ``auto``; FFTs and data consistency stay in fp32.

**Checkpoints** (:mod:`mricompendium.checkpoints`) hold the model, optimizer, scheduler, scaler
and random states, the loss and validation curves so far, and optionally the model's
constructor configuration and the data fingerprint; a resumed run continues bit for bit on a
CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from mricompendium import amp as amp_
from mricompendium import batches as batches_
from mricompendium import checkpoints, distributed
from mricompendium.batches import step_generator, to_device
from mricompendium.checkpoints import kept_path, load_checkpoint, save_checkpoint

__all__ = [
    "History",
    "fit",
    "kept_path",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "step_generator",
    "to_device",
]

logger = logging.getLogger(__name__)
LossFn = Callable[[nn.Module, Any], torch.Tensor]
BatchFn = Callable[[int, torch.Generator], Any]


def select_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given."""
    if isinstance(spec, torch.device):
        device = spec
    elif not isinstance(spec, str):
        raise TypeError(f"device must be a str or torch.device, got {type(spec).__name__}")
    elif spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(spec)
        except RuntimeError as err:
            raise ValueError(f"unknown device {spec!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    return device


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch (all devices); optionally ask for deterministic kernels.

    With ``deterministic`` torch uses deterministic algorithms where they exist and warns (rather
    than fails) where they do not; cuDNN autotuning is switched off. CPU runs are then bit-for-bit
    repeatable; CUDA runs are repeatable up to the warned operations.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


@dataclasses.dataclass
class History:
    """What :func:`fit` did.

    Attributes:
        losses: training loss per step, index = step (includes steps restored from a checkpoint);
            under several processes, the mean over them.
        lrs: learning rate used at each step of this call.
        start_step: the step training started from (> 0 after a resume).
        steps: the total number of steps done.
        wall_s: wall time of this call in seconds.
        device: the device trained on.
        amp: whether mixed precision (bf16 or fp16 autocast) was used.
        val_steps: the steps after which ``val_fn`` ran (restored ones included after a resume).
        val: its values (the validation metric), one per entry of ``val_steps``.
        snapshots: ``{step: value}`` returned by the ``on_step`` callbacks (this call only).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        world_size: processes that trained together.
        shards: batches per optimisation step (over all processes).
    """

    losses: list[float]
    lrs: list[float]
    start_step: int
    steps: int
    wall_s: float
    device: str
    amp: bool
    val_steps: list[int] = dataclasses.field(default_factory=list)
    val: list[float] = dataclasses.field(default_factory=list)
    snapshots: dict[int, Any] = dataclasses.field(default_factory=dict)
    precision: str = "fp32"
    world_size: int = 1
    shards: int = 1

    @property
    def final_loss(self) -> float:
        """Mean loss over the last 10% of steps (at least one)."""
        if not self.losses:
            return float("nan")
        k = max(1, len(self.losses) // 10)
        return float(np.mean(self.losses[-k:]))


def _make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float):
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    options = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    if name not in options:
        raise ValueError(f"optimizer must be one of {sorted(options)}, got {name!r}")
    return options[name](params, lr=lr, weight_decay=weight_decay)


@dataclasses.dataclass
class _Run:
    """Everything one step needs (keeps :func:`fit` short)."""

    model: nn.Module
    loss_fn: LossFn
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: str
    grad_clip: float | None
    shards: int = 1
    seed: int = 0
    wrapped: nn.Module | None = None  # LossModule, under DDP with several processes
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # checkpoint contents

    def _shard_loss(self, step: int, shard: int, batch: Any) -> torch.Tensor:
        rng = contextlib.nullcontext()
        if self.shards > 1:  # dropout etc. follow (step, shard), not the process layout
            cuda = [self.device.index or 0] if self.device.type == "cuda" else []
            rng = torch.random.fork_rng(devices=cuda, device_type=self.device.type)
        with rng:
            if self.shards > 1:
                torch.manual_seed(batches_.shard_seed(self.seed, step, shard))
            with amp_.autocast(self.device, self.precision):
                loss = self.wrapped(batch)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise TypeError("loss_fn must return a scalar tensor")
            return loss

    def step(self, step: int, shard_batches: list[tuple[int, Any]]) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        local = len(shard_batches)
        total = None
        for i, (shard, batch) in enumerate(shard_batches):
            batch = batches_.to_device(batch, self.device)
            defer = i < local - 1 and hasattr(self.wrapped, "no_sync")
            with self.wrapped.no_sync() if defer else contextlib.nullcontext():
                loss = self._shard_loss(step, shard, batch)
                self.scaler.scale(loss if local == 1 else loss / local).backward()
            value = loss.detach().float().reshape(())
            total = value if total is None else total + value
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return total if local == 1 else total / local

    def save(self, path: Path, step: int, losses: list[float], val_steps, val) -> None:
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            step,
            scheduler=self.scheduler,
            scaler=self.scaler,
            losses=losses,
            val_steps=val_steps,
            val=val,
            **self.extra,
        )


def _resume(run: _Run, ckpt: Path | None) -> tuple[int, list[float], list[int], list[float]]:
    """Restore ``run`` from ``ckpt`` if it exists: (start step, losses, val steps, val values)."""
    if ckpt is None or not ckpt.is_file():
        return 0, [], [], []
    state = checkpoints.read_checkpoint(ckpt, run.device)
    start = checkpoints.restore(
        state, run.model, rng=True, optimizer=run.optimizer, scheduler=run.scheduler,
        scaler=run.scaler,
    )  # fmt: skip
    if distributed.world().main:
        logger.info("resumed from %s at step %d", ckpt, start)
    losses = state.get("losses")
    vs, vv = state.get("val_steps"), state.get("val")
    val_steps = [] if vs is None else [int(s) for s in vs.tolist() if s <= start]
    val = [] if vv is None else vv.tolist()[: len(val_steps)]
    return start, [] if losses is None else losses.tolist()[:start], val_steps, val


def _flush(pending: list[torch.Tensor], losses: list[float], step: int) -> None:
    """Move buffered losses to the host (one sync; averaged over processes) and stop on a
    non-finite loss."""
    if not pending:
        return
    values = distributed.all_reduce_mean(torch.stack(pending)).cpu().tolist()
    pending.clear()
    losses.extend(values)
    bad = [i for i, v in enumerate(values) if not np.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite loss at step {step - len(values) + bad[0]}")


@torch.no_grad()
def _inspect(model: nn.Module, fn: Callable[[nn.Module], Any]) -> Any:
    """Call ``fn(model)`` in eval mode without gradients, then restore train mode."""
    model.eval()
    try:
        return fn(model)
    finally:
        model.train()


def _check_callbacks(val_fn, val_every, on_step, total):
    if val_fn is not None and not callable(val_fn):
        raise TypeError("val_fn must be callable: val_fn(model) -> float")
    if val_every is not None and (val_fn is None or int(val_every) < 1):
        raise ValueError(f"val_every needs a val_fn and must be >= 1, got {val_every}")
    for step, fn in (on_step or {}).items():
        if not callable(fn) or not 1 <= int(step) <= total:
            raise ValueError(
                f"on_step keys must be steps in [1, {total}] with callables, got {step}"
            )


def _precision(precision: str | None, amp: bool | None, dev: torch.device) -> str:
    """``precision`` resolved on ``dev``; without it, the older ``amp`` flag decides."""
    if precision is not None:
        if amp is not None:
            raise ValueError("give precision= or amp=, not both")
        return amp_.resolve_precision(precision, dev)
    if amp and dev.type != "cuda":
        raise ValueError("amp=True needs a CUDA device (use precision='bf16' on a CPU)")
    return (
        amp_.resolve_precision("auto", dev)
        if (amp is None and dev.type == "cuda") or amp
        else "fp32"
    )


def _shards(shards: int | None) -> tuple[int, list[int]]:
    """(shards per step, this process's shards)."""
    w = distributed.world()
    n = w.size if shards is None else int(shards)
    if n < 1 or n % w.size:
        raise ValueError(f"shards ({n}) must be a positive multiple of the processes ({w.size})")
    local = n // w.size
    return n, list(range(w.rank * local, (w.rank + 1) * local))


def _setup(model, lr, weight_decay, optimizer, device, precision, amp, scheduler, total):
    dev = select_device(device)
    prec = _precision(precision, amp, dev)
    if scheduler not in (None, "cosine"):
        raise ValueError(f"scheduler must be None or 'cosine', got {scheduler!r}")
    model.to(dev).train()
    opt = _make_optimizer(model, optimizer, lr, weight_decay)
    sched = None
    if scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    return dev, prec, opt, sched, amp_.grad_scaler(dev, prec)


def fit(
    model: nn.Module,
    batches: BatchFn | Iterable[Any],
    loss_fn: LossFn,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: Literal["adam", "adamw", "sgd"] = "adam",
    device: str | torch.device = "auto",
    precision: Literal["auto", "fp32", "bf16", "fp16"] | None = None,
    amp: bool | None = None,
    grad_clip: float | None = None,
    scheduler: Literal["cosine"] | None = None,
    shards: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    keep_steps: Sequence[int] = (),
    checkpoint_info: Mapping[str, Any] | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    log_every: int | None = None,
    val_fn: Callable[[nn.Module], float] | None = None,
    val_every: int | None = None,
    on_step: dict[int, Callable[[nn.Module], Any]] | None = None,
) -> History:
    """Train ``model`` to minimise ``loss_fn`` and return the loss history.

    Args:
        model: the network; moved to ``device`` and left there in train mode.
        batches: ``batch_fn(step, generator) -> batch`` (needs ``steps``) or an iterable of batches.
        loss_fn: ``loss_fn(model, batch) -> scalar Tensor`` (batch already on ``device``).
        steps: number of optimisation steps in total (exactly one of ``steps``/``epochs``).
        epochs: passes over an iterable with a length (``len * epochs / shards`` steps).
        lr: learning rate.
        weight_decay: weight decay of the optimizer.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... (see :func:`select_device`).
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (:mod:`mricompendium.amp`).
            Default (``None``): ``amp`` decides.
        amp: the older switch: ``None`` -> ``"auto"`` on CUDA and ``"fp32"`` on a CPU;
            ``False`` -> ``"fp32"``; ``True`` -> ``"auto"`` (CUDA only).
        grad_clip: max gradient norm, or ``None``.
        scheduler: ``"cosine"`` (annealed to 0 over all steps) or ``None`` (constant).
        shards: batches per step over all processes, a multiple of their number (default: one
            per process); each process accumulates the gradients of its shards.
        checkpoint: file for model/optimizer/scheduler/scaler/random state, written at the end
            (and every ``checkpoint_every`` steps), by rank 0.
        checkpoint_every: steps between intermediate checkpoints.
        keep_steps: steps whose checkpoint is kept beside ``checkpoint`` as ``step-<n>.pt``
            (:func:`kept_path`), e.g. half and full budget.
        checkpoint_info: stored in every checkpoint: ``config`` (the model's constructor
            configuration), ``data_fingerprint``, ``meta`` (:func:`checkpoints.save_checkpoint`).
        resume: continue from ``checkpoint`` if it exists (a finished run returns at once).
        seed: seeds the per-step generators given to a batch function.
        progress: show a tqdm bar (quiet: updated at most every 2 s; rank 0 only).
        log_every: steps between loss log lines and host syncs (default: total / 10).
        val_fn: ``val_fn(model) -> float``, the validation metric, called (rank 0 only) in eval
            mode without gradients every ``val_every`` steps and after the last step.
        val_every: steps between validations (default with a ``val_fn``: total / 10).
        on_step: ``{step: fn(model)}`` called (rank 0 only) in eval mode without gradients after
            that step (e.g. an evaluation at half budget); results go to ``History.snapshots``.

    Returns:
        A :class:`History`.
    """
    n_shards, mine = _shards(shards)
    total = batches_.total_steps(batches, steps, epochs, n_shards)
    _check_callbacks(val_fn, val_every, on_step, total)
    dev, prec, opt, sched, scaler = _setup(
        model, lr, weight_decay, optimizer, device, precision, amp, scheduler, total
    )
    main = distributed.world().main
    run = _Run(model, loss_fn, opt, sched, scaler, dev, prec, grad_clip, n_shards, seed,
               extra=dict(checkpoint_info or {}))  # fmt: skip
    ckpt = Path(checkpoint) if checkpoint is not None else None
    keep = {int(k) for k in keep_steps if 1 <= int(k) <= total}
    start, losses, val_steps, val = _resume(run, ckpt) if resume else (0, [], [], [])
    run.wrapped = distributed.wrap(model, loss_fn)  # after the restore: DDP broadcasts rank 0's
    every = log_every or max(1, total // 10)
    t0, lrs, pending = time.perf_counter(), [], []
    v_every = int(val_every or max(1, total // 10))
    snapshots = {}
    bar = batches_.progress_bar(total, min(start, total), progress and main and start < total)
    stream = (
        batches_.batch_stream(batches, start, seed, n_shards, mine) if start < total else iter(())
    )
    for step, shard_batches in zip(range(start, total), stream, strict=False):
        lrs.append(opt.param_groups[0]["lr"])
        pending.append(run.step(step, shard_batches))
        done = step + 1
        periodic = bool(checkpoint_every) and done % checkpoint_every == 0
        save_now = ckpt is not None and (periodic or done in keep or done == total)
        if done % every == 0 or done == total or save_now:
            _flush(pending, losses, done)
            bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        if main and (done % every == 0 or done == total):
            logger.info("step %d/%d loss %.4g", done, total, losses[-1])
        if main and val_fn is not None and (done % v_every == 0 or done == total):
            val_steps.append(done)
            val.append(float(_inspect(model, val_fn)))
        if main and save_now:
            run.save(ckpt, done, losses, val_steps, val)
            if done in keep:
                checkpoints.keep(ckpt, done)
        if main and on_step and done in on_step:
            snapshots[done] = _inspect(model, on_step[done])
        bar.update(1)
    bar.close()
    distributed.barrier()  # every process leaves with rank 0's checkpoint written
    wall = time.perf_counter() - t0
    return History(
        losses, lrs, start, max(start, total), wall, str(dev), prec != "fp32", val_steps, val,
        snapshots, prec, distributed.world().size, n_shards,
    )  # fmt: skip
