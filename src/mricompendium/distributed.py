"""Data parallelism for the training loop: process groups, ranks, and the DDP wrapper.

Under ``torchrun`` every process sees ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`init_from_env` joins the group (NCCL on GPUs, gloo on CPUs) and picks this process's
device. :func:`mricompendium.training.fit` asks :func:`world` whether a group exists; with more
than one process it wraps the model in :class:`LossModule` under ``DistributedDataParallel``,
so that the whole loss (``loss_fn(model, batch)``, which may call any method of the model) runs
inside DDP's forward and gradients are all-reduced in DDP's buckets, overlapped with backward.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "LossModule",
    "World",
    "all_reduce_mean",
    "barrier",
    "init_from_env",
    "shutdown",
    "world",
]


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes (``size == 1``: not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, validates and writes checkpoints."""
        return self.rank == 0


def world() -> World:
    """The current process group's rank and size (``World(0, 1)`` without a group)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched() -> bool:
    """Whether ``torchrun`` (or an equivalent launcher) started this process with peers."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment; return the device.

    ``device``: ``"auto"`` (``cuda:LOCAL_RANK`` when CUDA is available, NCCL; else the CPU,
    gloo), ``"cuda"`` (``cuda:LOCAL_RANK``) or ``"cpu"``. Without ``WORLD_SIZE > 1`` no group
    is made.
    """
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be auto, cuda or cpu under torchrun, got {device!r}")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device cuda requested but CUDA is not available")
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if launched() and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return dev


def shutdown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (a no-op without a group)."""
    if world().size > 1:
        dist.barrier()


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over processes (``x`` itself without a group)."""
    w = world()
    if w.size == 1:
        return x
    y = x.clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / w.size


class LossModule(nn.Module):
    """``forward(batch) = loss_fn(model, batch)``: the module DDP wraps.

    The loss function gets the model itself (its class, methods and attributes intact), and
    everything it computes happens inside DDP's forward, as DDP requires. Only the model's
    parameters belong to this module (the loss function is not registered as a submodule).
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_loss_fn", loss_fn)

    def forward(self, batch: Any) -> torch.Tensor:
        return self._loss_fn(self.model, batch)


def wrap(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]) -> nn.Module:
    """``LossModule(model, loss_fn)`` under DDP when there are several processes, else as is.

    ``find_unused_parameters``: a model may hold parameters a configuration leaves unused (a
    data-consistency weight of an ablation); DDP then marks them ready instead of waiting.
    """
    module = LossModule(model, loss_fn)
    if world().size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        module, device_ids=None, broadcast_buffers=True, find_unused_parameters=True
    )
