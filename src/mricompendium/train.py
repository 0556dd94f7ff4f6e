"""Train a notebook's models at any scale: one process, or several under ``torchrun``.

Usage::

    python -m mricompendium.train <id> [--set key=value ...] [--checkpoint-dir DIR]
        [--precision auto|fp32|bf16|fp16] [--shards N] [--only METHOD[:SEED]] [--fresh] [--list]
    torchrun --nproc_per_node=N -m mricompendium.train <id> [...]

The parameters are the notebook's, read as ``mricompendium.run`` reads them (its ``parameters``
cell, ``global`` and its ``params.yaml`` section, then ``--set``; every key checked). A
notebook's training set-up is a :class:`Plan`: one :class:`Job` per (method, training seed),
made by the function :data:`PLANS` names for the notebook id. Each job trains with
:func:`mricompendium.training.fit` (DistributedDataParallel over the processes, NCCL on GPUs,
gloo on CPUs; rank 0 validates, logs and writes) into::

    <checkpoint-dir>/plan.json                 notebook, parameters, precision, processes, jobs
    <checkpoint-dir>/<method>/seed<k>/last.pt  the newest checkpoint (a killed run resumes here)
    <checkpoint-dir>/<method>/seed<k>/step-<n>.pt  kept: the budgets the notebook evaluates
    <checkpoint-dir>/<method>/seed<k>/curve.json   the training curve (claims.Curve fields)

Checkpoints hold the model's constructor configuration, so ``load_trained`` rebuilds a model
from a checkpoint alone. The default folder is ``checkpoints/<id>`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import logging
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mricompendium import amp, checkpoints, distributed, paths, training
from mricompendium.io import atomic_write_json

__all__ = [
    "PLANS",
    "FitCall",
    "Job",
    "Plan",
    "capture_fit",
    "check_config",
    "job_dir",
    "load_trained",
    "main",
    "plan_for",
    "run_plan",
]

log = logging.getLogger("mricompendium.train")

# notebook id -> "module:function" building its Plan from (params, device). Phase 2 moves each
# into its family's experiment layer (e.g. mricompendium.experiments.reconstruction:train_plan).
PLANS: dict[str, str] = {
    "cirim": "mricompendium.train_plans:cirim",
    "swin_unetr": "mricompendium.train_plans:swin_unetr",
    "ddmr": "mricompendium.train_plans:ddmr",
    "brainclip": "mricompendium.train_plans:brainclip",
    "mri2speech": "mricompendium.train_plans:mri2speech",
    "selftest": "mricompendium.train_plans:selftest",
}


@dataclasses.dataclass
class FitCall:
    """What a family's training function passes to ``training.fit``."""

    model: nn.Module
    batches: Any
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    kwargs: dict[str, Any]


class _Captured(Exception):  # noqa: N818 (a control-flow signal, not an error)
    def __init__(self, call: FitCall) -> None:
        super().__init__("training.fit captured")
        self.call = call


@contextlib.contextmanager
def _fit_replaced() -> Iterator[None]:
    original = training.fit

    def capture(model, batches, loss_fn, **kwargs):
        raise _Captured(FitCall(model, batches, loss_fn, kwargs))

    training.fit = capture
    try:
        yield
    finally:
        training.fit = original


def capture_fit(train_call: Callable[[], Any]) -> FitCall:
    """Run a family's training function up to its ``training.fit`` call and return that call.

    The family's own code seeds, builds the model, the batch function, the loss and the
    validation exactly as the notebook does; nothing is trained. (Phase 1's bridge to the
    experiment layers: it needs no change there.)

    Raises:
        RuntimeError: the function returned without calling ``training.fit``.
    """
    with _fit_replaced():
        try:
            train_call()
        except _Captured as c:
            return c.call
    raise RuntimeError("the training function returned without calling training.fit")


@dataclasses.dataclass
class Job:
    """One model to train: a method at a training seed.

    Attributes:
        method: the method's name in the notebook's results.
        seed: its training seed.
        setup: ``() -> FitCall``: builds the model (after seeding), batches, loss and the
            family's ``fit`` options (``steps``, ``lr``, ``val_fn``, ``on_step`` ...).
        config: the model's constructor configuration (``checkpoints.build_model`` rebuilds it).
        val_metric: the name of the validation metric, and its direction.
        higher_is_better: the validation metric's direction.
    """

    method: str
    seed: int
    setup: Callable[[], FitCall]
    config: dict[str, Any]
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


def job_dir(root: str | Path, method: str, seed: int) -> Path:
    """``<root>/<method slug>/seed<seed>``: ``"CIRIM (explicit DC)"`` -> ``cirim-explicit-dc``."""
    slug = re.sub(r"[^a-z0-9+]+", "-", method.lower()).strip("-") or "model"
    return Path(root) / slug / f"seed{int(seed)}"


def _plan_function(nb_id: str, hook: str | None) -> Callable[..., Plan]:
    target = hook or PLANS.get(nb_id)
    if target is None:
        known = ", ".join(sorted(PLANS))
        raise KeyError(f"{nb_id}: no training plan (notebooks with one: {known})")
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def plan_for(
    nb_id: str, params: Mapping[str, Any], device: torch.device, *, hook: str | None = None
) -> Plan:
    """The :class:`Plan` of notebook ``nb_id`` (or of the ``module:function`` ``hook``)."""
    return _plan_function(nb_id, hook)(dict(params), device)


def notebook_params(nb_id: str, sets: Sequence[str] = ()) -> dict[str, Any]:
    """The parameters a ``mricompendium.run`` of ``nb_id`` would give its kernel, all checked."""
    from mricompendium import parameters, run

    checked = run.check_run(nb_id, sets=sets)
    cell = parameters.notebook_parameters(checked.notebook)
    return {**{k: p.default for k, p in cell.items()}, **checked.params}


def _fit_options(call: FitCall) -> tuple[dict[str, Any], list[int]]:
    """The family's ``fit`` keywords less those this runner sets, and the steps to keep."""
    kw = dict(call.kwargs)
    steps = int(kw.pop("steps"))
    on_step = kw.pop("on_step", None) or {}
    for key in ("device", "amp", "precision", "progress", "checkpoint", "checkpoint_every",
                "resume", "shards", "keep_steps", "checkpoint_info"):  # fmt: skip
        kw.pop(key, None)
    return {"steps": steps, **kw}, sorted({*map(int, on_step), steps})


def check_config(model: nn.Module, config: Mapping[str, Any]) -> None:
    """Raise unless ``config`` rebuilds ``model``'s architecture (same state keys and shapes)."""
    rebuilt = checkpoints.build_model(config).state_dict()
    ours = model.state_dict()
    diff = sorted(set(ours) ^ set(rebuilt)) or [
        k for k in ours if tuple(ours[k].shape) != tuple(rebuilt[k].shape)
    ]
    if diff:
        raise ValueError(f"config {config.get('factory')} does not rebuild the model: {diff[:3]}")


def _write_curve(path: Path, job: Job, hist: training.History) -> None:
    from mricompendium.claims import Curve

    curve = Curve.from_history(job.method, job.seed, hist, val_metric=job.val_metric,
                               higher_is_better=job.higher_is_better)  # fmt: skip
    atomic_write_json(path, dataclasses.asdict(curve))


def run_job(
    plan: Plan, job: Job, root: Path, device: torch.device, *, precision: str,
    shards: int | None, checkpoint_every: int | None, fresh: bool,
) -> dict[str, Any]:  # fmt: skip
    """Train one job (resuming from its ``last.pt``); returns its entry of ``plan.json``."""
    folder = job_dir(root, job.method, job.seed)
    world = distributed.world()
    if fresh and world.main:
        shutil.rmtree(folder, ignore_errors=True)
    distributed.barrier()
    call = job.setup()
    check_config(call.model, job.config)
    options, keep = _fit_options(call)
    steps = options["steps"]
    meta = {"notebook": plan.nb_id, "method": job.method, "seed": job.seed,
            "precision": precision, "world_size": world.size}  # fmt: skip
    info = {"config": job.config, "data_fingerprint": plan.data_fingerprint, "meta": meta}
    t0 = time.perf_counter()
    hist = training.fit(
        call.model, call.batches, call.loss_fn, device=device, precision=precision,
        shards=shards, checkpoint=folder / "last.pt",
        checkpoint_every=checkpoint_every or max(1, steps // 10), keep_steps=keep,
        checkpoint_info=info, resume=True, progress=world.main, **options,
    )  # fmt: skip
    if world.main:
        _write_curve(folder / "curve.json", job, hist)
    return {"method": job.method, "seed": job.seed, "folder": str(folder.relative_to(root)),
            "steps": hist.steps, "kept": [training.kept_path(folder / "last.pt", k).name
                                          for k in keep],
            "started_at_step": hist.start_step, "wall_s": round(time.perf_counter() - t0, 3),
            "precision": hist.precision, "world_size": hist.world_size,
            "shards": hist.shards, "config": job.config}  # fmt: skip


def run_plan(
    plan: Plan,
    root: str | Path,
    device: torch.device,
    *,
    precision: str = "auto",
    shards: int | None = None,
    only: Sequence[str] = (),
    checkpoint_every: int | None = None,
    fresh: bool = False,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train every job of ``plan`` (those ``only`` names: ``method`` or ``method:seed``) into
    ``root`` and write ``plan.json`` there (rank 0); returns its content."""
    root = Path(root)
    precision = amp.resolve_precision(precision, device, cpu_bf16=plan.cpu_bf16)
    picked = [
        j for j in plan.jobs if not only or j.method in only or f"{j.method}:{j.seed}" in only
    ]
    if not picked:
        raise ValueError(f"no job matches {list(only)}; jobs: {[j.method for j in plan.jobs]}")
    summary = {
        "notebook": plan.nb_id,
        "description": plan.description,
        "data_fingerprint": plan.data_fingerprint,
        "device": str(device),
        "world_size": distributed.world().size,
        "params": dict(params or {}),
        "jobs": [],
    }
    for job in picked:
        summary["jobs"].append(run_job(plan, job, root, device, precision=precision,
                                       shards=shards, checkpoint_every=checkpoint_every,
                                       fresh=fresh))  # fmt: skip
        if distributed.world().main:
            atomic_write_json(root / "plan.json", summary)
    return summary


def load_trained(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A trained model from a checkpoint alone: ``(model in eval mode, checkpoint)``."""
    state = checkpoints.read_checkpoint(path, map_location)
    if not state.get("config"):
        raise checkpoints.CheckpointError(f"{path}: holds no constructor configuration")
    model = checkpoints.build_model(state["config"])
    model.load_state_dict(state["model"])
    return model.to(map_location).eval(), state


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("nb_id", help="notebook id (python -m mricompendium.train --list)", nargs="?")
    p.add_argument("--set", "-S", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/<id>")
    p.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16", "fp16"),
                   help="default: the notebook's precision parameter, else auto")  # fmt: skip
    p.add_argument(
        "--shards",
        type=int,
        default=None,
        help="batches per step over all processes (default: one per process)",
    )
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--only", action="append", default=[], metavar="METHOD[:SEED]")
    p.add_argument("--fresh", action="store_true", help="discard existing checkpoints")
    p.add_argument("--plan", default=None, metavar="MODULE:FUNCTION",
                   help="a plan function not in the registry")  # fmt: skip
    p.add_argument("--list", action="store_true", help="list notebooks with a training plan")
    return p


def _params(args: argparse.Namespace) -> dict[str, Any]:
    if args.nb_id == "selftest" or args.plan:
        from mricompendium import parameters

        return {k: parameters.coerce({}, k, v) for k, v in
                (s.partition("=")[::2] for s in args.set)}  # fmt: skip
    return notebook_params(args.nb_id, args.set)


def main(argv: list[str] | None = None) -> int:
    """Command line; returns 0 on success, 1 with one line on stderr otherwise."""
    args = _parser().parse_args(argv)
    if args.list or not args.nb_id:
        print("\n".join(f"{k}: {v}" for k, v in sorted(PLANS.items())))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        params = _params(args)
        spec = str(params.get("device", "auto"))
        device = distributed.init_from_env("cuda" if spec.startswith("cuda") else spec)
        if params.get("torch_threads"):
            torch.set_num_threads(int(params["torch_threads"]))
        precision = args.precision or str(params.get("precision", "auto"))
        plan = plan_for(args.nb_id, params, device, hook=args.plan)
        root = Path(args.checkpoint_dir or paths.ROOT / "checkpoints" / args.nb_id)
        run_plan(
            plan,
            root,
            device,
            precision=precision,
            shards=args.shards,
            only=args.only,
            checkpoint_every=args.checkpoint_every,
            fresh=args.fresh,
            params=params,
        )
        if distributed.world().main:
            print(f"{args.nb_id}: {len(plan.jobs)} job(s) trained into {root}")
    except Exception as e:  # one line; the traceback with --debug-like logging
        from mricompendium.run import RunError

        lines = e.lines if isinstance(e, RunError) else [f"{args.nb_id}: {type(e).__name__}: {e}"]
        log.debug("failed", exc_info=True)
        print("\n".join(line.splitlines()[0] for line in lines), file=sys.stderr)
        return 1
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
