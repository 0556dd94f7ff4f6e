"""fp32 against bf16 autocast on this CPU: step time and the metric at equal steps, per family.

For one model of one notebook per family, its training plan
(``mricompendium.experiments.<family>.plans``, the notebook's own data, model, loss and validation
metric at its CI-size parameters) trains twice from the same initial weights and batches for the
same number of steps, once in fp32 and once in bf16 (CPU autocast; FFTs and data consistency stay
fp32). Reported: the median time per step of each, their ratio, and the validation metric of each
(evaluated in fp32) with its difference against the family's smallest effect. The precision is
usable where the difference stays well under that effect.

Run: ``python benchmarks/precision.py [--families recon,seg,...]``; ``benchmarks/run.py`` calls
:func:`rows`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mricompendium import amp, parameters, paths, train, training


@dataclass(frozen=True)
class Case:
    """One family's representative: notebook, job, steps, metric and its smallest effect."""

    family: str
    nb_id: str
    method: str
    steps: int
    metric: str
    smallest_effect: float
    overrides: tuple[tuple[str, Any], ...] = ()


CASES = (
    Case("reconstruction", "cirim", "CIRIM", 40, "validation SSIM (brain)", 0.01),
    Case("segmentation", "swin_unetr", "Swin UNETR", 30, "validation Dice", 0.01),
    Case("registration", "ddmr", "VoxelMorph+seg", 40, "validation Dice", 0.01),
    Case("fmri", "brainclip", "BrainCLIP visual+text", 100, "novel-category top-1", 0.02),
    Case("speech", "mri2speech", "MRI2Mel", 40, "validation MCD (dB)", 0.2),
)


def _ci_params(nb_id: str) -> dict[str, Any]:
    cell = parameters.notebook_parameters(paths.notebook_path(nb_id))
    return {k: p.default for k, p in cell.items()}


def _brainclip_top1(plan: train.Plan, model: torch.nn.Module) -> float:
    from mricompendium.experiments.fmri import brainclip as bc

    study, embedding = plan.context["study"], plan.context["embedding"]
    subj = study.subjects[study.target]
    idx = np.flatnonzero(study.test_groups() == "novel category")
    brain = bc.predict(model, subj.test_x)
    out = bc.evaluate_embeddings(brain, study, idx, list(study.novel), embedding=embedding,
                                 n_candidates=300)  # fmt: skip
    return float(np.mean(out["category_top1"]))


def _train_once(plan: train.Plan, job: train.Job, steps: int, precision: str) -> dict[str, Any]:
    call = job.setup()  # seeds, then builds: the same initial weights for both precisions
    skip = ("on_step", "val_fn", "val_every", "steps", "amp", "progress", "precision")
    kw = {k: v for k, v in call.kwargs.items() if k not in skip}
    times: list[float] = []

    def timed(step, g, batches=call.batches):
        if times:
            times[-1] = time.perf_counter() - times[-1]
        times.append(time.perf_counter())
        return batches(step, g)

    hist = training.fit(call.model, timed, call.loss_fn, steps=steps, precision=precision,
                        progress=False, **kw)  # fmt: skip
    model = call.model.eval()
    with torch.no_grad():
        metric = (_brainclip_top1(plan, model) if plan.nb_id == "brainclip"
                  else float(call.kwargs["val_fn"](model)))  # fmt: skip
    step_s = statistics.median(times[1:-1]) if len(times) > 3 else hist.wall_s / steps
    return {"metric": metric, "step_s": step_s, "final_loss": hist.final_loss}


def measure(case: Case) -> dict[str, Any]:
    """Train ``case`` in fp32 and bf16; return both results and their comparison."""
    params = {**_ci_params(case.nb_id), **dict(case.overrides)}
    plan = train.plan_for(case.nb_id, params, torch.device("cpu"))
    job = next(j for j in plan.jobs if j.method == case.method)
    fp32 = _train_once(plan, job, case.steps, "fp32")
    bf16 = _train_once(plan, job, case.steps, "bf16")
    diff = abs(bf16["metric"] - fp32["metric"])
    return {"case": case, "fp32": fp32, "bf16": bf16, "diff": diff,
            "speedup": fp32["step_s"] / bf16["step_s"],
            "under_effect": diff < case.smallest_effect}  # fmt: skip


def rows(families: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Benchmark rows: per family, the bf16 speed-up and the metric difference at equal steps."""
    out = []
    units = f"CPU bf16 units: {'yes' if amp.cpu_has_bf16() else 'no'}"
    cap = torch.backends.cpu.get_cpu_capability()
    for case in CASES:
        if families and case.family not in families:
            continue
        r = measure(case)
        where = f"{case.nb_id} {case.method}, {case.steps} steps, CI-size data"
        ms = f"fp32 {r['fp32']['step_s'] * 1e3:.1f} ms, bf16 {r['bf16']['step_s'] * 1e3:.1f} ms"
        out.append({"name": f"precision {case.family}: step time fp32 / bf16",
                    "value": r["speedup"], "unit": "ratio",
                    "note": f"{where}; {ms} per step; {cap} kernels, {units}"})  # fmt: skip
        out.append({"name": f"precision {case.family}: |{case.metric} bf16 - fp32|",
                    "value": r["diff"], "unit": "metric",
                    "note": f"fp32 {r['fp32']['metric']:.4f}, bf16 {r['bf16']['metric']:.4f}; "
                    f"smallest effect {case.smallest_effect:g}: "
                    f"{'under' if r['under_effect'] else 'NOT under'} it"})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="", help="comma-separated (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for r in rows(tuple(f for f in args.families.split(",") if f)):
        print(f"{r['name']:62s} {r['value']:9.4g} {r['unit']:7s} {r['note']}", flush=True)


if __name__ == "__main__":
    main()
