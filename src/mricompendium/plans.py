"""Trained models two ways from one set-up: trained by ``training.fit``, or read from checkpoints.

A family's experiment layer describes one training run as a :class:`FitCall`: the model built
after seeding, the batches, the loss, ``fit``'s options, the model's constructor configuration
and the recipe (the plain settings that shape training besides ``fit``'s own). The notebook and
``python -m mricompendium.train`` build it with the same family function, so they train alike:

- a notebook training inline: :func:`fit` without a source runs ``training.fit`` on the call;
- ``python -m mricompendium.train <id>``: a :class:`Plan` (one :class:`Job` per method and
  training seed, from ``experiments.<family>.plans``) runs ``training.fit`` on each call with
  checkpoints, into ``<dir>/<method>/seed<k>/`` (:func:`job_dir`) and ``<dir>/plan.json``;
- a notebook given ``checkpoint_dir`` (or one ``checkpoint`` file): :func:`fit` with a
  :class:`Checkpoints` source trains nothing. It loads the full-budget checkpoint of the call's
  method and seed, and, for each ``on_step`` callback of the call (the half-budget evaluation),
  the checkpoint kept at that step, calls the callback on it as ``fit`` would, and returns a
  :class:`~mricompendium.training.History` made from the checkpoint's curves.

Refused, in one line (:class:`~mricompendium.checkpoints.CheckpointError`): a folder written for
another notebook, checkpoints trained on other data (``data_fingerprint``, :func:`data_fingerprint`
of the data set and the parameters that make the training data from it), a model configuration
or recipe other than the one the notebook builds, a budget that was not kept, and (in
:mod:`mricompendium.checkpoints`) a file holding a pickled object.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mricompendium import amp, checkpoints, paths, training
from mricompendium.checkpoints import CheckpointError

__all__ = [
    "CheckpointError",
    "Checkpoints",
    "FitCall",
    "Job",
    "Plan",
    "check_config",
    "data_fingerprint",
    "fit",
    "job_dir",
    "load_trained",
    "source_record",
]

# fit options that shape the trained weights or curve
_PLAIN_FIT = ("steps", "lr", "weight_decay", "optimizer", "grad_clip", "scheduler", "seed",
              "val_every")  # fmt: skip


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _canonical(value: Any) -> Any:
    """Plain values with integral floats as ints (``25.0`` and ``25`` are one parameter value)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


@dataclasses.dataclass
class FitCall:
    """One ``training.fit`` call, as a family's set-up function builds it.

    Attributes:
        model: the network, built after seeding (the initial weights of the run).
        batches: a batch function ``(step, generator) -> batch`` or an iterable.
        loss_fn: ``(model, batch) -> scalar``.
        kwargs: ``fit``'s options (``steps``, ``lr``, ``seed``, ``val_fn``, ``on_step`` ...).
        config: ``{"factory": "mricompendium.<module>:<function>", "kwargs": {...}}``, which
            rebuilds ``model`` (:func:`mricompendium.checkpoints.build_model`).
        recipe: plain values that shape training and are not ``fit`` options (batch size,
            sampling settings, loss options ...); stored with every checkpoint and compared when
            a notebook evaluates it.
    """

    model: nn.Module
    batches: Any
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    kwargs: dict[str, Any]
    config: dict[str, Any] | None = None
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The training budget in steps."""
        return int(self.kwargs["steps"])

    def run(self, **overrides: Any) -> training.History:
        """``training.fit`` on this call (``overrides`` replace its options)."""
        return training.fit(self.model, self.batches, self.loss_fn, **{**self.kwargs, **overrides})

    def full_recipe(self) -> dict[str, Any]:
        """The recipe with ``fit``'s options that shape the result, as plain values."""
        own = {k: self.kwargs[k] for k in _PLAIN_FIT if self.kwargs.get(k) is not None}
        return _plain({**self.recipe, **own})


@dataclasses.dataclass
class Job:
    """One model to train: a method at a training seed.

    Attributes:
        method: the method's name in the notebook's results.
        seed: its training seed.
        setup: builds the :class:`FitCall`; it takes the trained models of ``needs`` (same seed,
            in that order) as positional arguments.
        needs: methods whose trained model (same seed) this job's set-up depends on.
        val_metric: the name of the validation metric.
        higher_is_better: the validation metric's direction.
    """

    method: str
    seed: int
    setup: Callable[..., FitCall]
    needs: tuple[str, ...] = ()
    val_metric: str = "val"
    higher_is_better: bool = True


@dataclasses.dataclass
class Plan:
    """A notebook's training set-up: its jobs and the data they train on.

    ``cpu_bf16``: bf16 autocast is faster than fp32 for these models on a CPU with bf16 units
    (measured by ``benchmarks/precision.py``), so ``--precision auto`` picks it there.
    ``context`` holds the data objects the plan built (for an evaluation beside training, e.g.
    ``benchmarks/precision.py``); nothing in it is written anywhere.
    """

    nb_id: str
    jobs: list[Job]
    data_fingerprint: str | None
    description: str = ""
    context: dict[str, Any] = dataclasses.field(default_factory=dict)
    cpu_bf16: bool = False


def data_fingerprint(data_info: Mapping[str, Any] | None, args: Mapping[str, Any]) -> str:
    """sha256 of the data set (``provenance.data_info``'s fingerprint, the embedded data's manifest
    or the user's files) and of ``args``, the parameters that make the training and validation
    data from it; the notebook and its plan pass the same."""
    base = (data_info or {}).get("fingerprint")
    text = json.dumps({"data": base, "args": _canonical(_plain(dict(args)))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def job_dir(root: str | Path, method: str, seed: int) -> Path:
    """``<root>/<method slug>/seed<seed>``: ``"CIRIM (explicit DC)"`` -> ``cirim-explicit-dc``."""
    slug = re.sub(r"[^a-z0-9+]+", "-", method.lower()).strip("-") or "model"
    return Path(root) / slug / f"seed{int(seed)}"


def load_trained(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A trained model from a checkpoint alone: ``(model in eval mode, checkpoint)``."""
    state = checkpoints.read_checkpoint(path, map_location)
    if not state.get("config"):
        raise CheckpointError(f"{path}: holds no constructor configuration")
    model = checkpoints.build_model(state["config"])
    model.load_state_dict(state["model"])
    return model.to(map_location).eval(), state


def check_config(model: nn.Module, config: Mapping[str, Any]) -> None:
    """Raise unless ``config`` rebuilds ``model``'s architecture (same state keys and shapes).

    The global random states are left as they were (a factory may seed or draw from them).
    """
    rng = checkpoints.get_rng_state()
    try:
        rebuilt = checkpoints.build_model(config).state_dict()
    finally:
        checkpoints.set_rng_state(rng)
    ours = model.state_dict()
    diff = sorted(set(ours) ^ set(rebuilt)) or [
        k for k in ours if tuple(ours[k].shape) != tuple(rebuilt[k].shape)
    ]
    if diff:
        raise ValueError(f"config {config.get('factory')} does not rebuild the model: {diff[:3]}")


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new), key=str)
    diff = [f"{k} {old.get(k, '-')!r} -> {new.get(k, '-')!r}" for k in keys
            if old.get(k) != new.get(k)]  # fmt: skip
    return "; ".join(diff[:3]) + (" ..." if len(diff) > 3 else "")


@torch.no_grad()
def _inspect(model: nn.Module, fn: Callable[[nn.Module], Any]) -> Any:
    """``fn(model)`` in eval mode without gradients, as ``training.fit`` calls ``on_step``."""
    model.eval()
    try:
        return fn(model)
    finally:
        model.train()


def _load(model: nn.Module, state: Mapping[str, Any], path: Path) -> None:
    """``model.load_state_dict`` of a checkpoint; another architecture fails in one line."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(
            f"{path}: another model architecture: {' '.join(first[1:2] or first[:1])[:160]}"
        ) from None


class Checkpoints:
    """The trained models a notebook evaluates instead of training them.

    Either a folder written by ``python -m mricompendium.train <id>`` (``checkpoint_dir``: every
    (method, seed) at the notebook's budget and the steps it evaluates on the way), or one
    checkpoint file (``checkpoint``: one method at one seed, evaluated at its own step, on
    whatever data the notebook is given; its training data are recorded, not required).
    Open with :meth:`open`.
    """

    def __init__(self, nb_id: str, fingerprint: str | None, *, root: Path | None = None,
                 file: Path | None = None, plan: dict[str, Any] | None = None,
                 state: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.nb_id, self.fingerprint = nb_id, fingerprint
        self.root, self.file, self.plan, self.state = root, file, plan or {}, state

    @classmethod
    def open(
        cls, checkpoint_dir: str = "", checkpoint: str = "", *, nb_id: str,
        fingerprint: str | None,
    ) -> Checkpoints | None:  # fmt: skip
        """The source a notebook's parameters name, or ``None`` (both empty: train inline).

        Raises:
            CheckpointError: not a plan folder of ``nb_id``; trained on other data; a file that
                is not a checkpoint of ``nb_id`` (or holds a pickled object).
            ValueError: both parameters given.
        """
        if checkpoint_dir and checkpoint:
            raise ValueError("give checkpoint_dir or checkpoint, not both")
        if checkpoint:
            file = paths.resolve(checkpoint)
            state = checkpoints.read_checkpoint(file)
            made_for = (state.get("meta") or {}).get("notebook")
            if made_for != nb_id:
                raise CheckpointError(f"{file}: a checkpoint of {made_for!r}, not of {nb_id}")
            return cls(nb_id, fingerprint, file=file, state=state)
        if not checkpoint_dir:
            return None
        root = paths.resolve(checkpoint_dir)
        plan_file = root / "plan.json"
        if not plan_file.is_file():
            raise CheckpointError(f"{root}: no plan.json (write it with python -m mricompendium"
                                  f".train {nb_id} --checkpoint-dir {root})")  # fmt: skip
        plan = json.loads(plan_file.read_text())
        if plan.get("notebook") != nb_id:
            raise CheckpointError(f"{root}: checkpoints of {plan.get('notebook')!r}, not {nb_id}")
        found = plan.get("data_fingerprint")
        if found != fingerprint:
            raise CheckpointError(
                f"{root}: trained on other data (fingerprint {str(found)[:12]}, this notebook's "
                f"{str(fingerprint)[:12]}): refused; train with these parameters"
            )
        return cls(nb_id, fingerprint, root=root, plan=plan)

    @property
    def single(self) -> tuple[str, int, int] | None:
        """``(method, seed, step)`` of a single checkpoint file; ``None`` for a folder."""
        if self.state is None:
            return None
        meta = self.state.get("meta") or {}
        return str(meta.get("method")), int(meta.get("seed", -1)), int(self.state["step"])

    def path(self, method: str, seed: int, step: int) -> Path:
        """The checkpoint of ``method`` at ``seed`` kept at ``step``."""
        if self.file is not None:
            return self.file
        return checkpoints.kept_path(job_dir(self.root, method, seed) / "last.pt", step)

    def _read(self, call: FitCall, method: str, seed: int, step: int) -> dict[str, Any]:
        path = self.path(method, seed, step)
        if self.state is not None:
            state = self.state
            got = self.single
            if got[:2] != (method, seed):
                raise CheckpointError(f"{path}: holds {got[0]} seed {got[1]}, not {method} "
                                      f"seed {seed}")  # fmt: skip
        else:
            if not path.is_file():
                raise CheckpointError(f"{path}: missing ({method} seed {seed} at step {step}; "
                                      f"jobs trained: {self._trained()})")  # fmt: skip
            state = checkpoints.read_checkpoint(path)
            if state.get("data_fingerprint") != self.fingerprint:
                raise CheckpointError(f"{path}: trained on other data: refused")
        self._check(path, state, call, step)
        return state

    def _trained(self) -> str:
        return ", ".join(f"{j['method']}:{j['seed']}" for j in self.plan.get("jobs", [])) or "none"

    def _check(self, path: Path, state: Mapping[str, Any], call: FitCall, step: int) -> None:
        if state.get("step") != step:
            raise CheckpointError(f"{path}: step {state.get('step')}, the notebook wants step "
                                  f"{step} (its budget: {call.steps} steps)")  # fmt: skip
        saved = _plain(state.get("config") or {})
        if call.config is not None and saved != _plain(call.config):
            ours = _plain(call.config).get("kwargs", {})
            raise CheckpointError(f"{path}: another model configuration: "
                                  f"{_differences(saved.get('kwargs', {}), ours)}")  # fmt: skip
        recipe = (state.get("meta") or {}).get("recipe")
        ours = call.full_recipe()
        if self.state is None and recipe is not None and recipe != ours:  # one file: recorded
            raise CheckpointError(f"{path}: trained otherwise: {_differences(recipe, ours)}")

    def restore(self, call: FitCall, method: str, seed: int) -> training.History:
        """Load the trained weights of ``method`` at ``seed`` into ``call.model`` (on the call's
        device, left in train mode as ``fit`` leaves it), run the call's ``on_step`` callbacks on
        the checkpoints kept at their steps, and return the run's history."""
        step = call.steps
        final = self._read(call, method, seed, step)
        dev = training.select_device(call.kwargs.get("device", "auto"))
        model = call.model.to(dev)
        snapshots = {}
        if self.state is None:  # one file holds one budget: no snapshots
            for k, fn in sorted((call.kwargs.get("on_step") or {}).items()):
                _load(model, self._read(call, method, seed, int(k)), self.path(method, seed, k))
                snapshots[int(k)] = _inspect(model, fn)
        _load(model, final, self.path(method, seed, step))
        model.train()
        meta = final.get("meta") or {}
        vs, vv, losses = final.get("val_steps"), final.get("val"), final.get("losses")
        precision = str(meta.get("precision", "fp32"))
        return training.History(
            losses=[] if losses is None else losses.tolist(), lrs=[], start_step=step,
            steps=step, wall_s=self._wall_s(method, seed), device=str(dev),
            amp=precision != "fp32", val_steps=[] if vs is None else [int(s) for s in vs.tolist()],
            val=[] if vv is None else vv.tolist(), snapshots=snapshots, precision=precision,
            world_size=int(meta.get("world_size", 1)),
        )  # fmt: skip

    def _wall_s(self, method: str, seed: int) -> float:
        """The training wall time plan.json recorded for the job (NaN if unknown)."""
        for job in self.plan.get("jobs", []):
            if job.get("method") == method and job.get("seed") == seed:
                return float(job.get("wall_s", math.nan))
        return math.nan

    def record(self) -> dict[str, Any]:
        """What a notebook's record says about its trained models."""
        if self.state is None:
            return {"source": "checkpoints", "dir": str(self.root), "plan": self.plan}
        method, seed, step = self.single
        fp = self.state.get("data_fingerprint")
        return {"source": "checkpoint", "file": str(self.file), "method": method, "seed": seed,
                "step": step, "data_fingerprint": fp, "same_data": fp == self.fingerprint,
                "meta": self.state.get("meta") or {}}  # fmt: skip


def fit(call: FitCall, source: Checkpoints | None, method: str, seed: int) -> training.History:
    """Train ``call`` with ``training.fit`` (``source`` ``None``), or restore what a plan run
    trained for ``method`` at ``seed`` (:meth:`Checkpoints.restore`): the same model object
    either way, and a history with the same fields."""
    return call.run() if source is None else source.restore(call, method, seed)


def source_record(
    source: Checkpoints | None, precision: str, device: torch.device | str
) -> dict[str, Any]:
    """The record's ``training_source``: inline training (at ``precision`` as ``training.fit``
    resolves it on ``device``), or the checkpoints."""
    if source is not None:
        return source.record()
    return {"source": "inline", "precision": amp.resolve_precision(precision, device)}
