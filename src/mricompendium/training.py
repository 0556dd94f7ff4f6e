"""The one training loop every notebook uses: device, seeds, AMP on GPU, checkpoints, progress.

Batches come from either

* a **batch function** ``batch_fn(step, generator) -> batch``: called once per step with a fresh
  ``torch.Generator`` (CPU) seeded from ``(seed, step)``, so the batch at step ``k`` is the same
  whether or not training was resumed; this suits on-the-fly simulation (k-space, masks, noise); or
* an **iterable** of batches (a list, a ``DataLoader``): re-iterated each epoch.

A batch is anything ``loss_fn(model, batch) -> scalar Tensor`` understands; tensors inside tuples,
lists and dicts are moved to the device. The same code runs on CPU and CUDA; mixed precision
(``torch.autocast`` + ``GradScaler``, float16) is used on CUDA only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from mricompendium.io import atomic_open

__all__ = [
    "History",
    "fit",
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


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator for one step, independent of every other step's (seeded from both)."""
    state = np.random.SeedSequence([int(seed) % 2**63, int(step)]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors inside (nested) tuples, lists and dicts to ``device``; leave the rest."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@dataclasses.dataclass
class History:
    """What :func:`fit` did.

    Attributes:
        losses: training loss per step, index = step (includes steps restored from a checkpoint).
        lrs: learning rate used at each step of this call.
        start_step: the step training started from (> 0 after a resume).
        steps: the total number of steps done.
        wall_s: wall time of this call in seconds.
        device: the device trained on.
        amp: whether mixed precision was used.
        val_steps: the steps after which ``val_fn`` ran (this call only).
        val: its values (the validation metric), one per entry of ``val_steps``.
        snapshots: ``{step: value}`` returned by the ``on_step`` callbacks.
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

    @property
    def final_loss(self) -> float:
        """Mean loss over the last 10% of steps (at least one)."""
        if not self.losses:
            return float("nan")
        k = max(1, len(self.losses) // 10)
        return float(np.mean(self.losses[-k:]))


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    *,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    losses: list[float] | None = None,
) -> Path:
    """Atomically save model and optimizer state (plus scheduler, scaler, losses) with ``step``."""
    state: dict[str, Any] = {"step": int(step), "model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if losses is not None:
        state["losses"] = torch.tensor(losses, dtype=torch.float64)
    with atomic_open(path) as f:
        torch.save(state, f)
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    map_location: str | torch.device = "cpu",
) -> int:
    """Restore state saved by :func:`save_checkpoint` (``weights_only=True``); return its step."""
    state = _read_checkpoint(path, map_location)
    _restore(state, model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)
    return int(state["step"])


def _read_checkpoint(path: str | os.PathLike[str], map_location: Any) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    return state


def _restore(state: dict[str, Any], model: nn.Module, **others: Any) -> None:
    model.load_state_dict(state["model"])
    for name, obj in others.items():
        if obj is not None and name in state:
            obj.load_state_dict(state[name])


def _total_steps(batches: Any, steps: int | None, epochs: int | None) -> int:
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= or epochs=")
    if steps is not None:
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        return int(steps)
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if callable(batches) or not hasattr(batches, "__len__"):
        raise ValueError("epochs= needs an iterable of batches with a length; use steps=")
    return int(epochs) * len(batches)


def _batch_stream(batches: Any, start: int, seed: int) -> Iterator[Any]:
    """Yield the batches for steps ``start, start + 1, ...``."""
    if callable(batches) and not isinstance(batches, Iterable):
        for step in itertools.count(start):
            yield batches(step, step_generator(seed, step))
        return
    if not isinstance(batches, Iterable):
        raise TypeError("batches must be a batch function (step, generator) or an iterable")
    if iter(batches) is batches:  # a one-shot iterator (generator): a single pass
        yield from batches
        raise ValueError(
            "the batch iterator ran out; pass a list, a DataLoader or a batch function"
        )
    skip = start
    if hasattr(batches, "__len__") and len(batches) > 0:
        skip = start % len(batches)  # whole epochs already done need not be replayed
    while True:
        empty = True
        for batch in itertools.islice(iter(batches), skip, None):
            empty = False
            yield batch
        if empty and skip == 0:
            raise ValueError("batches is empty")
        skip = 0


def _widgets() -> bool:
    """Whether tqdm's notebook bar can work (ipywidgets importable with its IProgress)."""
    if importlib.util.find_spec("ipywidgets") is None:
        return False
    try:
        from ipywidgets import IProgress  # noqa: F401
    except ImportError:
        return False
    return True


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if _widgets():
        from tqdm.auto import tqdm
    else:  # avoid tqdm.auto's "IProgress not found" warning in notebooks
        from tqdm.std import tqdm
    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        mininterval=2.0,
        desc="train",
        leave=False,
    )


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
    amp: bool
    grad_clip: float | None

    def step(self, batch: Any) -> torch.Tensor:
        batch = to_device(batch, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = self.loss_fn(self.model, batch)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError("loss_fn must return a scalar tensor")
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach().float().reshape(())

    def save(self, path: Path, step: int, losses: list[float]) -> None:
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            step,
            scheduler=self.scheduler,
            scaler=self.scaler,
            losses=losses,
        )


def _resume(run: _Run, ckpt: Path | None) -> tuple[int, list[float]]:
    """Restore ``run`` from ``ckpt`` if it exists: (step to start from, losses so far)."""
    if ckpt is None or not ckpt.is_file():
        return 0, []
    state = _read_checkpoint(ckpt, run.device)
    _restore(state, run.model, optimizer=run.optimizer, scheduler=run.scheduler, scaler=run.scaler)
    start = int(state["step"])
    logger.info("resumed from %s at step %d", ckpt, start)
    losses = state.get("losses")
    return start, [] if losses is None else losses.tolist()[:start]


def _flush(pending: list[torch.Tensor], losses: list[float], step: int) -> None:
    """Move buffered losses to the host (one sync) and stop on a non-finite loss."""
    if not pending:
        return
    values = torch.stack(pending).cpu().tolist()
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


def _setup(model, lr, weight_decay, optimizer, device, amp, scheduler, total):
    dev = select_device(device)
    use_amp = dev.type == "cuda" if amp is None else bool(amp)
    if use_amp and dev.type != "cuda":
        raise ValueError("amp=True needs a CUDA device (mixed precision is CUDA-only here)")
    if scheduler not in (None, "cosine"):
        raise ValueError(f"scheduler must be None or 'cosine', got {scheduler!r}")
    model.to(dev).train()
    opt = _make_optimizer(model, optimizer, lr, weight_decay)
    sched = None
    if scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp)
    return dev, use_amp, opt, sched, scaler


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
    amp: bool | None = None,
    grad_clip: float | None = None,
    scheduler: Literal["cosine"] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
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
        epochs: passes over an iterable with a length.
        lr: learning rate.
        weight_decay: weight decay of the optimizer.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... (see :func:`select_device`).
        amp: float16 autocast + GradScaler; default on for CUDA, off on CPU (``True`` on CPU errs).
        grad_clip: max gradient norm, or ``None``.
        scheduler: ``"cosine"`` (annealed to 0 over all steps) or ``None`` (constant).
        checkpoint: file for model/optimizer/scheduler state, written at the end (and every
            ``checkpoint_every`` steps).
        checkpoint_every: steps between intermediate checkpoints.
        resume: continue from ``checkpoint`` if it exists (a finished run returns at once).
        seed: seeds the per-step generators given to a batch function.
        progress: show a tqdm bar (quiet: updated at most every 2 s).
        log_every: steps between loss log lines and host syncs (default: total / 10).
        val_fn: ``val_fn(model) -> float``, the validation metric, called in eval mode without
            gradients every ``val_every`` steps and after the last step (``History.val``).
        val_every: steps between validations (default with a ``val_fn``: total / 10).
        on_step: ``{step: fn(model)}`` called in eval mode without gradients after that step
            (e.g. an evaluation at half budget); the results go to ``History.snapshots``.

    Returns:
        A :class:`History`.
    """
    total = _total_steps(batches, steps, epochs)
    _check_callbacks(val_fn, val_every, on_step, total)
    dev, use_amp, opt, sched, scaler = _setup(
        model, lr, weight_decay, optimizer, device, amp, scheduler, total
    )
    run = _Run(model, loss_fn, opt, sched, scaler, dev, use_amp, grad_clip)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    start, losses = _resume(run, ckpt) if resume else (0, [])
    every = log_every or max(1, total // 10)
    t0, lrs, pending = time.perf_counter(), [], []
    v_every = int(val_every or max(1, total // 10))
    val_steps, val, snapshots = [], [], {}
    bar = _progress(total, min(start, total), progress and start < total)
    stream = _batch_stream(batches, start, seed) if start < total else iter(())
    for step, batch in zip(range(start, total), stream, strict=False):
        lrs.append(opt.param_groups[0]["lr"])
        pending.append(run.step(batch))
        done = step + 1
        save_now = ckpt is not None and bool(checkpoint_every) and done % checkpoint_every == 0
        if done % every == 0 or done == total or save_now:
            _flush(pending, losses, done)
            bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
        if done % every == 0 or done == total:
            logger.info("step %d/%d loss %.4g", done, total, losses[-1])
        if save_now and done < total:
            run.save(ckpt, done, losses)
        if val_fn is not None and (done % v_every == 0 or done == total):
            val_steps.append(done)
            val.append(float(_inspect(model, val_fn)))
        if on_step and done in on_step:
            snapshots[done] = _inspect(model, on_step[done])
        bar.update(1)
    bar.close()
    if ckpt is not None and start < total:
        run.save(ckpt, total, losses)
    wall = time.perf_counter() - t0
    return History(
        losses, lrs, start, max(start, total), wall, str(dev), use_amp, val_steps, val, snapshots
    )
