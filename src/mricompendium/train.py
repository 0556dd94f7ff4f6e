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
import dataclasses
import functools
import importlib
import logging
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mricompendium import amp, distributed, paths, training
from mricompendium.io import atomic_write_json
from mricompendium.plans import FitCall, Job, Plan, check_config, job_dir, load_trained

__all__ = [
    "PLANS",
    "FitCall",
    "Job",
    "Plan",
    "check_config",
    "job_dir",
    "load_trained",
    "main",
    "plan_for",
    "run_plan",
    "selftest",
    "selftest_model",
]

log = logging.getLogger("mricompendium.train")

# notebook id -> "module:function" building its Plan from (params, device), in the family's
# experiment layer: the same set-up functions the notebook trains with.
PLANS: dict[str, str] = {
    "cirim": "mricompendium.experiments.reconstruction.plans:cirim",
    "swin_unetr": "mricompendium.experiments.segmentation.plans:swin_unetr",
    "ddmr": "mricompendium.experiments.registration.plans:ddmr",
    "brainclip": "mricompendium.experiments.fmri.plans:brainclip",
    "mri2speech": "mricompendium.experiments.speech.plans:mri2speech",
    "selftest": "mricompendium.train:selftest",
}


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


def _write_curve(path: Path, job: Job, hist: training.History) -> None:
    from mricompendium.claims import Curve

    curve = Curve.from_history(job.method, job.seed, hist, val_metric=job.val_metric,
                               higher_is_better=job.higher_is_better)  # fmt: skip
    atomic_write_json(path, dataclasses.asdict(curve))


def _needed(job: Job, root: Path) -> list[nn.Module]:
    """The trained models a job's set-up takes (``job.needs`` at its seed, full budget)."""
    models = []
    for method in job.needs:
        folder = job_dir(root, method, job.seed)
        if not (folder / "curve.json").is_file():
            raise RuntimeError(f"{job.method} seed {job.seed} needs {method} seed {job.seed} "
                               f"trained first (into {folder})")  # fmt: skip
        models.append(load_trained(folder / "last.pt")[0])
    return models


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
    call = job.setup(*_needed(job, root))
    if call.config is None:
        raise ValueError(f"{job.method}: its set-up gives no model configuration")
    check_config(call.model, call.config)
    options, keep = _fit_options(call)
    steps = options["steps"]
    meta = {"notebook": plan.nb_id, "method": job.method, "seed": job.seed,
            "precision": precision, "world_size": world.size,
            "recipe": call.full_recipe()}  # fmt: skip
    info = {"config": call.config, "data_fingerprint": plan.data_fingerprint, "meta": meta}
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
            "shards": hist.shards, "config": call.config}  # fmt: skip


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


def selftest_model(width: int = 8, dropout: float = 0.1) -> nn.Module:
    """A small 2D CNN (no batch statistics) for :func:`selftest`."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.GELU(), nn.Dropout(dropout),
        nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, 1, 3, padding=1),
    )  # fmt: skip


def _selftest_batch(step: int, g: torch.Generator, *, batch_size: int, delay_s: float):
    if delay_s:
        time.sleep(delay_s)  # a slow data pipeline, to kill a run mid-training in tests
    x = torch.randn(batch_size, 1, 16, 16, generator=g)
    y = 0.5 * (x.roll(1, -1) + x.roll(-1, -2)) - 0.25 * x  # a fixed linear filter to learn
    return x, y


def _selftest_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def selftest(p: Mapping[str, Any], device: torch.device) -> Plan:
    """A few seconds of training on synthetic filtering data: checks DDP, precision, resume.

    Parameters (``--set``): ``steps`` (20), ``batch_size`` (4, per shard), ``width`` (8),
    ``dropout`` (0.1), ``lr`` (0.01), ``seeds`` ([0]), ``step_delay_s`` (0).
    """
    width, dropout = int(p.get("width", 8)), float(p.get("dropout", 0.1))
    steps, batch_size = int(p.get("steps", 20)), int(p.get("batch_size", 4))
    batches = functools.partial(_selftest_batch, batch_size=batch_size,
                                delay_s=float(p.get("step_delay_s", 0.0)))  # fmt: skip
    val = _selftest_batch(0, torch.Generator().manual_seed(12345), batch_size=16, delay_s=0)

    def val_fn(model: nn.Module) -> float:
        dev = next(model.parameters()).device
        return float(_selftest_loss(model, (val[0].to(dev), val[1].to(dev))))

    def setup(seed: int) -> FitCall:
        torch.manual_seed(seed)
        kwargs = {"steps": steps, "lr": float(p.get("lr", 0.01)), "seed": seed,
                  "val_fn": val_fn, "val_every": max(1, steps // 4),
                  "on_step": {max(1, steps // 2): lambda m: None}}  # fmt: skip
        config = {"factory": "mricompendium.train:selftest_model",
                  "kwargs": {"width": width, "dropout": dropout}}  # fmt: skip
        return FitCall(selftest_model(width, dropout), batches, _selftest_loss, kwargs, config,
                       {"batch_size": batch_size})  # fmt: skip

    jobs = [Job("selftest", int(s), functools.partial(setup, int(s)), val_metric="mse",
                higher_is_better=False) for s in p.get("seeds", [0])]  # fmt: skip
    return Plan("selftest", jobs, None, "synthetic 16x16 filtering, drawn per step")


if __name__ == "__main__":
    sys.exit(main())
