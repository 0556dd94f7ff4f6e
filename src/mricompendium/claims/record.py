"""A notebook's record (``records/<id>.json``) and, from it, the metrics JSON with the verdict.

The notebook writes the record and its per-case results (:func:`write_record`); it never writes a
verdict. The ``verdict`` stage (``python -m mricompendium.verdicts``) reads both back and writes
``metrics/<id>.json`` (:func:`metrics_from_record`): the record plus the verdict, its reasons, the
evidence and every comparison, so that a change of the verdict rules reruns no training.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mricompendium import paths, references
from mricompendium.claims.declare import Claim, Curve
from mricompendium.claims.engine import Outcome
from mricompendium.claims.results import results_frame, write_results
from mricompendium.claims.verdict import as_curves, evaluate
from mricompendium.io import atomic_write_json

__all__ = [
    "SOURCES",
    "environment_info",
    "metrics_from_record",
    "read_record",
    "round_floats",
    "write_record",
]

# What a result depends on: git_dirty looks at these only, not at the outputs being written.
SOURCES = ("src", "notebooks", "params.yaml", "dvc.yaml", "pyproject.toml", "constraints.txt",
           "data.dvc")  # fmt: skip
_PACKAGES = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "monai": "monai",
             "sigpy": "sigpy", "skimage": "scikit-image",
             "mricompendium": "mricompendium"}  # fmt: skip
_DATA_KEYS = ("kind", "description", "path", "fingerprint")


def round_floats(obj: Any, digits: int = 6) -> Any:
    """Recursively round floats to ``digits`` significant digits; non-finite -> ``None``."""
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None
    if isinstance(obj, np.ndarray):
        return round_floats(obj.tolist(), digits)
    if isinstance(obj, Mapping):
        return {str(k): round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [round_floats(v, digits) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", "--no-optional-locks", *args], cwd=paths.ROOT,
                             capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_info(*, seed: int, device: str) -> dict[str, Any]:
    """Versions, platform, CPU capability, device, seed, git commit and whether sources are dirty.

    ``git_dirty`` is true when a tracked file under :data:`SOURCES` differs from the commit (the
    reports being written do not count); ``None`` outside a git checkout.
    """
    torch = sys.modules.get("torch")
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{key: _version(dist) for key, dist in _PACKAGES.items()},
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if torch else None,
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "device": str(device),
        "seed": int(seed),
    }
    commit = _git("rev-parse", "HEAD")
    status = (
        _git("status", "--porcelain", "--untracked-files=no", "--", *SOURCES) if commit else None
    )
    info["git_commit"] = commit
    info["git_dirty"] = None if status is None else bool(status)
    return info


def _family(nb_id: str) -> str:
    """The notebook's family: its folder under ``notebooks/``. Not read from ``catalogue.yaml``,
    so that a notebook stage does not depend on the whole catalogue (a paper added to it would
    mark every notebook stale); the verdict stage checks the folder against the catalogue."""
    found = sorted(paths.NOTEBOOKS.glob(f"*/{nb_id}.ipynb"))
    if len(found) != 1:
        raise ValueError(
            f"{nb_id}: expected one notebooks/<family>/{nb_id}.ipynb, found {len(found)}"
        )
    return found[0].parent.name


def _ours(claim: Claim, df: pd.DataFrame) -> dict[str, Any]:
    """Our mean of the claim's metric per method and setting, each method at its full budget."""
    full = df.groupby(["setting", "method"])["budget"].transform("max")
    means = df[df["budget"] == full].groupby(["method", "setting"], sort=False)[claim.metric].mean()
    one = df["setting"].nunique() == 1
    values = {(m if one else f"{m} @ {s}"): float(v) for (m, s), v in means.items()}
    return {"metric": claim.metric, "values": values}


def _check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping) or any(k not in data for k in _DATA_KEYS):
        raise ValueError(f"data must be provenance.data_info(...) with keys {_DATA_KEYS}")
    return dict(data)


def write_record(
    out: paths.ReportPaths,
    *,
    claim: Claim,
    results: pd.DataFrame | Iterable[Mapping[str, Any]],
    curves: Iterable[Curve] | Mapping[str, Any] | None,
    scale: Mapping[str, Any],
    data: Mapping[str, Any],
    protocol: Mapping[str, Any],
    runtime_s: float,
    seed: int,
    device: str,
    smoke: bool,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``results/<id>.csv`` and ``records/<id>.json``; return the record.

    The claim is evaluated once here so that a record that cannot be judged (a method missing, a
    case unpaired) fails in the notebook, not later in the verdict stage; the verdict itself is not
    stored. The paper's figures come from :mod:`mricompendium.references`.
    """
    df = results_frame(results)
    curve_list = as_curves(curves)
    evaluate(claim, df, curve_list)
    if not (isinstance(runtime_s, int | float) and math.isfinite(runtime_s) and runtime_s >= 0):
        raise ValueError(f"runtime_s must be a finite number >= 0, got {runtime_s!r}")
    record = {
        "id": claim.nb_id,
        "seed_paper": claim.paper,
        "family": _family(claim.nb_id),
        "claim": claim.text,
        "declaration": claim.to_dict(),
        "paper": references.paper_section(claim.nb_id),
        "ours": _ours(claim, df),
        "data": _check_data(data),
        "scale": dict(scale),
        "protocol": dict(protocol),
        "training": {f"{c.method}#seed{c.seed}": c.to_dict() for c in curve_list},
        "environment": environment_info(seed=seed, device=device),
        "runtime_s": float(runtime_s),
        "smoke": bool(smoke),
        "extra": dict(extra or {}),
    }
    record = round_floats(record)
    write_results(out.results, df)
    atomic_write_json(out.record, record, indent=1, sort_keys=True, allow_nan=False)
    return record


_RECORD_TYPES = {"declaration": dict, "training": dict, "scale": dict, "data": dict,
                 "protocol": dict, "id": str}  # fmt: skip


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a record JSON and check its structure (errors name the file and the field)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: record not found")
    try:
        record = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{p}: a record must be a JSON object, got {type(record).__name__}")
    if "declaration" not in record:
        raise ValueError(f"{p}: no claim declaration (not written by claims.write_record)")
    for key, kind in _RECORD_TYPES.items():
        if key in record and not isinstance(record[key], kind):
            raise ValueError(
                f"{p}: '{key}' must be a JSON {'object' if kind is dict else 'string'}, "
                f"got {type(record[key]).__name__}"
            )
    for name, curve in record.get("training", {}).items():
        if not isinstance(curve, dict):
            raise ValueError(f"{p}: training curve {name!r} must be a JSON object")
    try:
        Claim.from_dict(record["declaration"])
        as_curves(record.get("training", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{p}: {exc}") from None
    return record


def metrics_from_record(record: Mapping[str, Any], results: pd.DataFrame) -> tuple[dict, Outcome]:
    """The metrics JSON (record + verdict, reasons, evidence, comparisons) and the outcome."""
    claim = Claim.from_dict(record["declaration"])
    training = record.get("training", {})
    outcome = evaluate(claim, results, training.values())
    metrics = {k: v for k, v in record.items() if k != "training"}
    metrics["training"] = {
        k: {"val_metric": v.get("val_metric"), "last_quarter_change": v.get("last_quarter_change"),
            "steps": max([0, *v.get("steps", []), *v.get("val_steps", [])])}
        for k, v in training.items()
    }  # fmt: skip
    metrics.update(outcome.to_dict())
    return round_floats(metrics), outcome
