"""Run one notebook id with Papermill at its ``params.yaml`` size and publish its reports.

Usage::

    python -m mricompendium.run <id> [--set key=value ...] [--dry] [--kernel NAME]

Before any kernel starts, every parameter (``global`` and the notebook's section of
``params.yaml``, then ``--set``) is checked against the notebook's ``parameters`` cell: unknown
keys (with a suggestion), types, ranges, paths, and the real data the paths point at (format,
volumes, coils, image size; :mod:`mricompendium.data.checks`). ``--dry`` stops there.

The notebook then runs from the repository root and writes into a private staging folder; only
when it finishes are its files moved into ``reports/`` (figures, tables, results, records,
metrics, and the executed notebook in ``reports/notebooks/``). A failed run leaves ``reports/``
exactly as it was and prints one line, ``<id>: <file or parameter>: <problem>``, then
``log: <path>``: the log under ``.scratch/logs/`` holds the full traceback, and the partly
executed notebook is kept beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mricompendium import memory, parameters, paths

log = logging.getLogger("mricompendium.run")
KERNEL = "mricompendium"
SUBFOLDERS = ("tables", "results", "records", "metrics")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunError(Exception):
    """A run that did not happen or failed; ``lines`` are its one-line reports, ``log`` its log."""

    def __init__(self, lines: Sequence[str], log_path: Path | None = None) -> None:
        self.lines = list(lines)
        self.log_path = log_path
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Checked:
    """A run that passed every check: its notebook, the parameters to inject, the data found."""

    nb_id: str
    notebook: Path
    params: dict[str, Any]
    data: list[str]


def _show(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT.resolve()))
    except ValueError:
        return str(path)


def check_run(
    nb_id: str,
    overrides: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    *,
    data: bool = True,
) -> Checked:
    """Check everything a run of ``nb_id`` needs before starting a kernel.

    Args:
        nb_id: the notebook id.
        overrides: typed parameter values (win over ``params.yaml``).
        sets: ``key=value`` strings from the command line (typed like the defaults; win last).
        data: also check the real data the ``*data_path`` parameters point at.

    Raises:
        RunError: one line per problem, ``<id>: <file or parameter>: <problem>``.
    """
    try:
        notebook = paths.notebook_path(nb_id)
        cell = parameters.notebook_parameters(notebook)
        glob, own = parameters.load_sections(nb_id)
        given = {**dict(overrides or {}), **parameters.parse_sets(sets, cell)}
    except (FileNotFoundError, FileExistsError, KeyError, ValueError, SyntaxError) as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise RunError([f"{nb_id}: {text}"]) from e
    skipped = sorted(k for k in glob if k not in cell)
    if skipped:
        log.info("%s: global parameters it does not define, not passed: %s", nb_id, skipped)
    params = {k: v for k, v in glob.items() if k in cell}
    origins = dict.fromkeys(params, "params.yaml global")
    params.update(own)
    origins.update(dict.fromkeys(own, f"params.yaml {nb_id}"))
    params.update(given)
    origins.update(dict.fromkeys(given, "--set"))
    problems = parameters.check(nb_id, cell, params, origins)
    if "output_dir" in given:
        problems.append(parameters.Problem("output_dir", "is set by mricompendium.run"))
    if problems:
        raise RunError([p.line(nb_id) for p in problems])
    effective = {**{k: p.default for k, p in cell.items()}, **params}  # what the kernel will see
    too_big = memory.check(nb_id, effective)
    if too_big:
        raise RunError([f"{nb_id}: memory: {too_big}"])
    return Checked(nb_id, notebook, params, _check_data(nb_id, effective) if data else [])


def _check_data(nb_id: str, params: dict[str, Any]) -> list[str]:
    from mricompendium.data.checks import check_sources
    from mricompendium.data.errors import DataError

    try:
        return check_sources(params, nb_id)
    except DataError as e:
        raise RunError([f"{nb_id}: {e.source}: {e.problem}"]) from e
    except (FileNotFoundError, ValueError) as e:
        raise RunError([f"{nb_id}: data: {e}"]) from e


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def _owned(name: str, nb_id: str, other_ids: set[str]) -> bool:
    """Whether a report file belongs to ``nb_id``: ``<id>.csv|json`` or ``<id>_*.csv``."""
    stem, _, suffix = name.rpartition(".")
    if suffix not in ("csv", "json") or not (stem == nb_id or stem.startswith(nb_id + "_")):
        return False
    if suffix == "json" and stem != nb_id:
        return False
    longer = (o for o in other_ids if len(o) > len(nb_id) and o.startswith(nb_id + "_"))
    return not any(stem == o or stem.startswith(o + "_") for o in longer)


def _notebook_ids() -> set[str]:
    return {p.stem for p in paths.NOTEBOOKS.glob("*/*.ipynb")}


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
    others = _notebook_ids() - {nb_id}
    for sub in SUBFOLDERS:
        for f in sorted((staging / sub).glob("*")):
            if not _owned(f.name, nb_id, others):
                log.warning("%s: not published (not this notebook's file): %s", nb_id, f.name)
                continue
            dst = reports / sub / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, dst)
            written.append(dst)
    dst_nb = reports / "notebooks" / f"{nb_id}.ipynb"
    dst_nb.parent.mkdir(parents=True, exist_ok=True)
    os.replace(executed, dst_nb)
    written.append(dst_nb)
    return written


def _failure_line(nb_id: str, notebook: Path, exc: BaseException) -> str:
    """``<id>: <file or parameter>: <problem>`` for an exception raised while executing."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        lines = [s for s in _ANSI.sub("", str(exc.evalue)).strip().splitlines() if s.strip()]
        evalue = lines[0] if lines else ""
        if exc.ename == "DataError":  # already "<file>: <problem>"
            return f"{nb_id}: {evalue}"
        return f"{nb_id}: {_show(notebook)} In [{exc.exec_count}]: {exc.ename}: {evalue}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{nb_id}: {_show(notebook)}: {type(exc).__name__}: {text}"


def _write_log(
    nb_id: str, exc: BaseException, executed: Path | None, params: Mapping[str, Any], line: str
) -> Path:
    """Write the full traceback (and keep the partly executed notebook) under .scratch/logs/."""
    logs = paths.SCRATCH / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = logs / f"{nb_id}-{stamp}.log"
    kept = None
    if executed is not None and executed.exists():
        kept = log_path.with_suffix(".ipynb")
        shutil.copyfile(executed, kept)
    parts = [line, f"notebook as executed: {_show(kept) if kept else 'none (kernel not started)'}"]
    parts.append("parameters:\n" + yaml.safe_dump(dict(params), sort_keys=False).rstrip())
    cell_tb = getattr(exc, "traceback", None)
    if cell_tb:
        parts.append("notebook traceback:\n" + _ANSI.sub("", "\n".join(cell_tb)))
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    parts.append("python traceback:\n" + _ANSI.sub("", "".join(tb)))
    log_path.write_text("\n\n".join(parts) + "\n")
    return log_path


def run_notebook(
    nb_id: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    reports: Path | None = None,
    kernel: str | None = None,
) -> list[Path]:
    """Check, execute notebook ``nb_id`` with its params and publish its reports atomically.

    Raises:
        RunError: a check failed (nothing ran) or the notebook failed (``log_path`` says where
            its traceback and the partly executed notebook are); ``reports`` is untouched.
    """
    checked = check_run(nb_id, overrides, sets)
    _warn_untracked(nb_id, checked.params)
    reports = reports or paths.REPORTS
    staging = paths.SCRATCH / "staging" / nb_id
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    params = {**checked.params, "output_dir": str(staging)}
    executed = staging / f"{nb_id}.ipynb"
    start = time.perf_counter()
    kernel_err = staging / "kernel.stderr"
    try:
        with _stderr_to(kernel_err):  # the kernel's own messages go to the log, not the terminal
            _execute(checked.notebook, executed, params, kernel)
        if not any((staging / sub / f"{nb_id}.json").exists() for sub in ("records", "metrics")):
            raise RuntimeError(f"finished without writing records/{nb_id}.json")
        written = _publish(staging, executed, nb_id, reports)
    except Exception as exc:
        line = _failure_line(nb_id, checked.notebook, exc)
        log_path = _write_log(nb_id, exc, executed, params, line)
        if kernel_err.exists() and kernel_err.stat().st_size:
            with log_path.open("a") as f:
                f.write(
                    "\nkernel stderr:\n" + _ANSI.sub("", kernel_err.read_text(errors="replace"))
                )
        raise RunError([line], log_path) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %.1f s, wrote %d paths", nb_id, time.perf_counter() - start, len(written))
    return written


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 (this process's and its children's stderr) to ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("wb") as f:
            os.dup2(f.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _execute(notebook: Path, executed: Path, params: dict[str, Any], kernel: str | None) -> None:
    import papermill as pm

    pm.execute_notebook(
        str(notebook),
        str(executed),
        parameters=params,
        cwd=str(paths.ROOT),
        kernel_name=kernel or _kernel_name(),
        progress_bar=False,
        log_output=False,
    )


def _warn_untracked(nb_id: str, params: Mapping[str, Any]) -> None:
    """Under ``dvc repro`` / ``dvc exp run``: warn when a data path is not a dep of the stage."""
    stage = os.environ.get("DVC_STAGE")
    if not stage:
        return
    from mricompendium import userdata

    for dep in userdata.untracked_data_deps(stage, params):
        log.warning(
            "%s: %s is not a dependency of stage %s in dvc.yaml: changing it will not rerun "
            "the stage (README, 'Plugging in real data')",
            nb_id,
            dep,
            stage,
        )


def main(argv: list[str] | None = None) -> int:
    """Command line: returns 0 on success, 1 on a failed check or run (one line, then the log)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nb_id", help="notebook id (file name under notebooks/<family>/)")
    parser.add_argument("--set", "-S", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dry", action="store_true", help="check everything, execute nothing")
    parser.add_argument("--kernel", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("papermill").setLevel(logging.ERROR)  # our checks replace its warnings
    try:
        if args.dry:
            checked = check_run(args.nb_id, sets=args.set)
            print(f"{args.nb_id}: dry run OK: {len(checked.params)} parameters checked")
            for line in checked.data:
                print(f"{args.nb_id}: {line}")
            return 0
        run_notebook(args.nb_id, sets=args.set, kernel=args.kernel)
    except RunError as e:
        _report(e.lines, e.log_path)
        return 1
    except Exception as e:  # unforeseen: still one line, the traceback in the log
        line = f"{args.nb_id}: {type(e).__name__}: {str(e).strip()}".splitlines()[0]
        _report([line], _write_log(args.nb_id, e, None, {}, line))
        return 1
    return 0


def _report(lines: Sequence[str], log_path: Path | None) -> None:
    for line in lines:
        print(line, file=sys.stderr)
    if log_path is not None:
        print(f"log: {_show(log_path)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
