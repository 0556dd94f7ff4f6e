"""The batches of a training step: per-step generators, shards, iterables, device moves.

:func:`batch_stream` turns a batch function or an iterable into, per optimisation step, the
``(shard, batch)`` pairs one process computes (:mod:`mricompendium.training`); a batch function
gets the generator :func:`step_generator` seeds from ``(seed, step, shard)``, so the data of a
step do not depend on resumption nor on which process computes which shard.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "batch_stream",
    "progress_bar",
    "shard_seed",
    "step_generator",
    "to_device",
    "total_steps",
]


def step_generator(seed: int, step: int, shard: int = 0) -> torch.Generator:
    """A CPU generator for one step's shard, independent of every other's (seeded from all)."""
    keys = [int(seed) % 2**63, int(step)] + ([int(shard)] if shard else [])
    state = np.random.SeedSequence(keys).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def shard_seed(seed: int, step: int, shard: int) -> int:
    """The global-RNG seed of one (step, shard) when a step has several shards."""
    keys = [int(seed) % 2**63, int(step), int(shard), 1]
    return int(np.random.SeedSequence(keys).generate_state(1, np.uint64)[0] >> np.uint64(1))


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


def total_steps(batches: Any, steps: int | None, epochs: int | None, shards: int) -> int:
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
    return int(epochs) * len(batches) // shards


def _items(batches: Any, skip: int) -> Iterator[Any]:
    """The items of an iterable of batches from ``skip`` on, re-iterated for ever."""
    if iter(batches) is batches:  # a one-shot iterator (generator): a single pass
        yield from batches
        raise ValueError(
            "the batch iterator ran out; pass a list, a DataLoader or a batch function"
        )
    if hasattr(batches, "__len__") and len(batches) > 0:
        skip %= len(batches)  # whole epochs already done need not be replayed
    while True:
        empty = True
        for batch in itertools.islice(iter(batches), skip, None):
            empty = False
            yield batch
        if empty and skip == 0:
            raise ValueError("batches is empty")
        skip = 0


def batch_stream(
    batches: Any, start: int, seed: int, shards: int = 1, mine: Sequence[int] = (0,)
) -> Iterator[list[tuple[int, Any]]]:
    """For steps ``start, start + 1, ...``: this process's ``[(shard, batch), ...]``."""
    if callable(batches) and not isinstance(batches, Iterable):
        for step in itertools.count(start):
            yield [(s, batches(step, step_generator(seed, step, s))) for s in mine]
        return
    if not isinstance(batches, Iterable):
        raise TypeError("batches must be a batch function (step, generator) or an iterable")
    items = _items(batches, start * shards)
    while True:
        chunk = list(itertools.islice(items, shards))
        yield [(s, chunk[s]) for s in mine]


def _widgets() -> bool:
    """Whether tqdm's notebook bar can work (ipywidgets importable with its IProgress)."""
    if importlib.util.find_spec("ipywidgets") is None:
        return False
    try:
        from ipywidgets import IProgress  # noqa: F401
    except ImportError:
        return False
    return True


def progress_bar(total: int, initial: int, enabled: bool) -> Any:
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
