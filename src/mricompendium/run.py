"""Run one notebook id with Papermill at its ``params.yaml`` size and publish its reports.

Usage::

    python -m mricompendium.run <id> [--set key=value ...] [--kernel NAME]

The notebook runs from the repository root with the ``global`` section of ``params.yaml`` merged
with its own section. It writes into a private staging folder; only when it finishes without error
are its files moved into ``reports/`` (figures, tables, metrics JSON, and the executed notebook in
``reports/notebooks/``). A failing run leaves ``reports/`` exactly as it was.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mricompendium import paths

log = logging.getLogger("mricompendium.run")
KERNEL = "mricompendium"


def load_params(nb_id: str, params_file: Path | None = None) -> dict[str, Any]:
    """``global`` merged with the notebook's own section of ``params.yaml`` (its keys win)."""
    params_file = params_file or paths.PARAMS
    if not params_file.exists():
        raise FileNotFoundError(f"{params_file}: params file not found")
    with params_file.open() as f:
        params = yaml.safe_load(f) or {}
    if nb_id not in params:
        raise KeyError(f"{params_file}: no section {nb_id!r} (sections: {sorted(params)})")
    return {**(params.get("global") or {}), **(params[nb_id] or {})}


def _parse_override(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def _publish(staging: Path, executed: Path, nb_id: str, reports: Path) -> list[Path]:
    """Move a finished run's files from ``staging`` into ``reports``; returns what was written."""
    written = []
    src_fig = staging / "figures" / nb_id
    if src_fig.exists():
        dst_fig = reports / "figures" / nb_id
        old = dst_fig.with_name(f".{nb_id}.old")
        dst_fig.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(old, ignore_errors=True)
        if dst_fig.exists():
            dst_fig.rename(old)
        shutil.move(str(src_fig), str(dst_fig))
        shutil.rmtree(old, ignore_errors=True)
        written.append(dst_fig)
    for sub in ("tables", "results", "records", "metrics"):
        for f in sorted((staging / sub).glob(f"{nb_id}*")):
            dst = reports / sub / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, dst)
            written.append(dst)
    dst_nb = reports / "notebooks" / f"{nb_id}.ipynb"
    dst_nb.parent.mkdir(parents=True, exist_ok=True)
    os.replace(executed, dst_nb)
    written.append(dst_nb)
    return written


def run_notebook(
    nb_id: str,
    *,
    overrides: dict[str, Any] | None = None,
    reports: Path | None = None,
    kernel: str | None = None,
) -> list[Path]:
    """Execute notebook ``nb_id`` with its params and publish its reports atomically."""
    import papermill as pm

    notebook = paths.notebook_path(nb_id)
    params = {**load_params(nb_id), **(overrides or {})}
    reports = reports or paths.REPORTS
    staging = paths.SCRATCH / "staging" / nb_id
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    params["output_dir"] = str(staging)
    executed = staging / f"{nb_id}.ipynb"
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters=params,
            cwd=str(paths.ROOT),
            kernel_name=kernel or _kernel_name(),
            progress_bar=False,
        )
        if not any((staging / sub / f"{nb_id}.json").exists() for sub in ("records", "metrics")):
            raise RuntimeError(f"{notebook}: finished without writing records/{nb_id}.json")
        written = _publish(staging, executed, nb_id, reports)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %.1f s, wrote %d paths", nb_id, time.perf_counter() - start, len(written))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nb_id", help="notebook id (file name under notebooks/<family>/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--kernel", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        run_notebook(args.nb_id, overrides=_parse_override(args.set), kernel=args.kernel)
    except Exception as exc:  # one clear line for the pipeline log, reports/ untouched
        print(
            f"mricompendium.run {args.nb_id}: FAILED, reports/ left unchanged: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
