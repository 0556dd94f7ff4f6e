"""Checkpoints: tensors and plain containers only, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a dict::

    {"format": "mricompendium-checkpoint", "version": 2,
     "step": int, "model": state_dict,
     "config": {"factory": "mricompendium.<module>:<function>", "kwargs": {...}} | None,
     "data_fingerprint": str | None, "meta": {...},          # plain values (JSON-able)
     "optimizer": ..., "scheduler": ..., "scaler": ...,       # state_dicts, when trained
     "rng": {"torch": uint8 tensor, "cuda": [...], "numpy": {...}, "python": [...]},
     "losses": float64 tensor, "val_steps": int64 tensor, "val": float64 tensor}

``config`` is the model's constructor configuration: :func:`build_model` calls the factory it
names (only functions of the ``mricompendium`` package) with its keyword arguments, so a
checkpoint is evaluated without the code that trained it. A file holding anything else (a pickled
class instance, a numpy array) is refused with one line, before any of it is run.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium.io import atomic_open

__all__ = [
    "FORMAT",
    "CheckpointError",
    "build_model",
    "get_rng_state",
    "keep",
    "kept_path",
    "load_checkpoint",
    "read_checkpoint",
    "restore",
    "save_checkpoint",
    "set_rng_state",
]

FORMAT = "mricompendium-checkpoint"
VERSION = 2
_PACKAGE = "mricompendium"


class CheckpointError(ValueError):
    """A file that is not a checkpoint this package wrote, or one it refuses to load."""


def get_rng_state() -> dict[str, Any]:
    """Python's, numpy's and torch's (CPU and every CUDA device's) global random states."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    return {
        "python": [int(version), list(internal), gauss],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned (CUDA states only where devices match)."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = list(state.get("cuda") or [])
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _plain(value: Any, what: str) -> Any:
    """``value`` if JSON can hold it (tuples become lists); else a :class:`TypeError`."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as err:
        raise TypeError(f"checkpoint {what} must hold plain values only: {err}") from err


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    *,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    losses: list[float] | None = None,
    val_steps: list[int] | None = None,
    val: list[float] | None = None,
    config: Mapping[str, Any] | None = None,
    data_fingerprint: str | None = None,
    meta: Mapping[str, Any] | None = None,
    rng: bool = True,
) -> Path:
    """Atomically write a checkpoint (see the module docstring) and return its path.

    Args:
        path: the file (its folder is created).
        model: the trained module (unwrapped: not a ``DistributedDataParallel``).
        optimizer, scheduler, scaler: their states, to resume training.
        step: optimisation steps done.
        losses: the training loss of every step so far.
        val_steps, val: the validation curve so far.
        config: ``{"factory": "mricompendium.<module>:<function>", "kwargs": {...}}``.
        data_fingerprint: the sha256 of the data trained on.
        meta: anything else, plain values (method, seed, notebook, parameters...).
        rng: store the global random states (to resume a run bit for bit).
    """
    state: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "model": model.state_dict(),
        "config": None if config is None else _plain(dict(config), "config"),
        "data_fingerprint": None if data_fingerprint is None else str(data_fingerprint),
        "meta": _plain(dict(meta or {}), "meta"),
    }
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None:
            state[name] = obj.state_dict()
    if rng:
        state["rng"] = get_rng_state()
    if losses is not None:
        state["losses"] = torch.tensor(losses, dtype=torch.float64)
    if val_steps is not None:
        state["val_steps"] = torch.tensor(val_steps, dtype=torch.int64)
        state["val"] = torch.tensor(val or [], dtype=torch.float64)
    with atomic_open(path) as f:
        torch.save(state, f)
    return Path(path)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:160]


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: a file holding more than tensors and plain containers (one line, the
            object it refused), or not a checkpoint of this package.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise CheckpointError(
                f"{path}: refused: it holds a pickled object ({found.group(1)}), not only "
                "tensors and plain containers"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(err)})") from None
    except (RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(err)})") from None
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{path} is not a checkpoint written by save_checkpoint")
    return state


def restore(state: Mapping[str, Any], model: nn.Module, *, rng: bool = False, **others: Any) -> int:
    """Load ``state`` into ``model`` and the given ``optimizer``/``scheduler``/``scaler``.

    Returns:
        The checkpoint's step. With ``rng`` the global random states are restored too.
    """
    model.load_state_dict(state["model"])
    for name, obj in others.items():
        if obj is not None and name in state:
            obj.load_state_dict(state[name])
    if rng and "rng" in state:
        set_rng_state(state["rng"])
    return int(state["step"])


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """The untrained module a checkpoint's ``config`` describes.

    Raises:
        CheckpointError: a factory outside the ``mricompendium`` package, or one that is missing.
    """
    factory = str(config.get("factory", ""))
    module_name, _, func_name = factory.partition(":")
    if not (module_name == _PACKAGE or module_name.startswith(_PACKAGE + ".")) or not func_name:
        raise CheckpointError(f"factory {factory!r} is not a function of the {_PACKAGE} package")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"factory {factory!r} not found: {err}") from None
    return func(**dict(config.get("kwargs") or {}))


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
    state = read_checkpoint(path, map_location)
    return restore(state, model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)


def kept_path(checkpoint: str | os.PathLike[str], step: int) -> Path:
    """Where the checkpoint kept at ``step`` lies beside ``checkpoint``: ``step-0000100.pt``."""
    return Path(checkpoint).with_name(f"step-{int(step):07d}{Path(checkpoint).suffix or '.pt'}")


def keep(ckpt: Path, step: int) -> None:
    """Keep the checkpoint ``ckpt`` just written as ``step-<step>.pt`` beside it (a hard link
    where the file system allows, else a copy)."""
    kept = kept_path(ckpt, step)
    kept.unlink(missing_ok=True)
    try:
        os.link(ckpt, kept)
    except OSError:
        shutil.copyfile(ckpt, kept)
