"""Run one notebook id with Papermill at its ``params.yaml`` size and publish its reports.

Usage::

    python -m mricompendium.run <id> [--set key=value ...] [--dry] [--wait] [--kernel NAME]

Before any kernel starts, every parameter (``global`` and the notebook's section of
``params.yaml``, then ``--set``) is checked against the notebook's ``parameters`` cell: unknown
keys (with a suggestion), types, ranges, a coarse memory estimate, paths, and the real data the
paths point at (format, volumes, coils, image size; :mod:`mricompendium.data.checks`). ``--dry``
stops there.

A run then holds the notebook's lock (:mod:`mricompendium.publish`: a second run of the same id
is refused with one line naming the holder, or waits with ``--wait``), executes from the
repository root into a staging folder of its own, and publishes its report set (figures,
tables, results, records, and the executed notebook in ``reports/notebooks/``) all at once,
only if it finished. Under ``dvc repro`` the run dies with DVC, and the kernel always dies with
the run (:mod:`mricompendium.process`). A failed or interrupted run leaves ``reports/`` exactly
as it was and prints one line, ``<id>: <file or parameter>: <problem>``, then ``log: <path>``:
the log under ``.scratch/logs/`` holds the full traceback, and the partly executed notebook is
kept beside it (the newest 50 logs are kept). Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mricompendium import memory, parameters, paths, process, publish, refresh

log = logging.getLogger("mricompendium.run")
KERNEL = "mricompendium"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunError(Exception):
    """A run that did not happen or failed; ``lines`` are its one-line reports, ``log`` its log."""

    def __init__(self, lines: Sequence[str], log_path: Path | None = None, code: int = 1) -> None:
        self.lines = list(lines)
        self.log_path = log_path
        self.code = code
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Checked:
    """A run that passed every check: its notebook, the parameters to inject, the data found."""

    nb_id: str
    notebook: Path
    params: dict[str, Any]
    data: list[str]


_show = process.show


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


def _notebook_ids() -> set[str]:
    return {p.stem for p in paths.NOTEBOOKS.glob("*/*.ipynb")}


def _report_items(staging: Path, executed: Path, nb_id: str) -> list[tuple[Path, str]]:
    """The new report set in ``staging``: ``(file or folder, path relative to reports/)``."""
    figures = staging / "figures" / nb_id
    figures.mkdir(parents=True, exist_ok=True)  # a run without figures publishes none
    items = [(figures, f"figures/{nb_id}")]
    others = _notebook_ids() - {nb_id}
    for sub in publish.SUBFOLDERS:
        for f in sorted((staging / sub).glob("*")):
            if publish.owned(f.name, nb_id, others):
                items.append((f, f"{sub}/{f.name}"))
            else:
                log.warning("%s: not published (not this notebook's file): %s", nb_id, f.name)
    return [*items, (executed, f"notebooks/{nb_id}.ipynb")]


def _publish(staging: Path, executed: Path, nb_id: str, reports: Path) -> list[Path]:
    """Switch ``reports`` to the run's report set at once (the old set's extra files go)."""
    items = _report_items(staging, executed, nb_id)
    new = {rel for _, rel in items}
    old = publish.report_set(reports, nb_id, _notebook_ids() - {nb_id}, publish.STALE)
    stale = [r for r in old if r not in new]
    with process.deferred() as pending:
        written = publish.publish(nb_id, items, reports, stale=stale, abort=lambda: bool(pending))
    if pending:  # a signal came while publishing: the set is whole, old or new
        stop = process.Interrupted(pending[0])
        stop.published = bool(written)
        raise stop
    return written


def _failure_line(nb_id: str, notebook: Path, exc: BaseException) -> str:
    """``<id>: <file or parameter>: <problem>`` for an exception raised while executing."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, KeyboardInterrupt):
        name = exc.name if isinstance(exc, process.Interrupted) else "SIGINT"
        if getattr(exc, "published", False):
            return f"{nb_id}: interrupted ({name}) while publishing: the new reports are in place"
        return f"{nb_id}: interrupted ({name}): nothing published, reports/ unchanged"
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
    path = process.log_path(nb_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = None
    if executed is not None and executed.exists():
        kept = path.with_suffix(".ipynb")
        shutil.copyfile(executed, kept)
    parts = [f"notebook as executed: {_show(kept) if kept else 'none (kernel not started)'}"]
    parts.append("parameters:\n" + yaml.safe_dump(dict(params), sort_keys=False).rstrip())
    cell_tb = getattr(exc, "traceback", None)
    if cell_tb:
        parts.append("notebook traceback:\n" + _ANSI.sub("", "\n".join(cell_tb)))
    return process.write_log(nb_id, line, exc, parts, path=path)


def _new_staging(nb_id: str) -> Path:
    """A staging folder of this run's own; those of earlier runs of ``nb_id`` are removed
    (the caller holds the lock: they belong to runs that died)."""
    root = paths.SCRATCH / "staging"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{nb_id}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(root / nb_id, ignore_errors=True)  # the shared folder of older versions
    return Path(tempfile.mkdtemp(prefix=f"{nb_id}.", dir=root))


def run_notebook(
    nb_id: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    reports: Path | None = None,
    kernel: str | None = None,
    wait: bool = False,
) -> list[Path]:
    """Check, execute notebook ``nb_id`` with its params and publish its reports atomically.

    Args:
        wait: when another run of ``nb_id`` holds its lock, wait for it instead of refusing.

    Raises:
        RunError: a check failed (nothing ran), another run holds the lock, or the notebook
            failed or was interrupted (``log_path`` says where its traceback and the partly
            executed notebook are); ``reports`` is untouched.
    """
    checked = check_run(nb_id, overrides, sets)
    _warn_untracked(nb_id, checked.params)
    reports = reports or paths.REPORTS

    def waiting(holder: str) -> None:
        print(f"{nb_id}: waiting for another run ({holder})", file=sys.stderr)

    try:
        with publish.hold(nb_id, wait=wait, on_wait=waiting):
            if publish.recover(nb_id, reports) == "completed":
                log.warning("%s: finished an interrupted publication in %s", nb_id, reports)
            return _run_locked(checked, reports, kernel)
    except publish.Busy as e:
        raise RunError([f"{nb_id}: {e}"]) from None


def _run_locked(checked: Checked, reports: Path, kernel: str | None) -> list[Path]:
    nb_id = checked.nb_id
    staging = _new_staging(nb_id)
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
    except (Exception, KeyboardInterrupt) as exc:
        line = _failure_line(nb_id, checked.notebook, exc)
        log_path = _write_log(nb_id, exc, executed, params, line)
        if kernel_err.exists() and kernel_err.stat().st_size:
            text = _ANSI.sub("", kernel_err.read_text(errors="replace"))
            with log_path.open("a") as f:
                f.write("\nkernel stderr:\n" + text)
        raise RunError([line], log_path, code=_exit_code(exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %.1f s, wrote %d paths", nb_id, time.perf_counter() - start, len(written))
    return written


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, process.Interrupted):
        return exc.exit_code
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


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
        kernel_manager_class=process.kernel_manager_class(),  # the kernel dies with this run
        shutdown_kernel="immediate",  # an interrupted run does not wait for a busy kernel
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


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mricompendium.run``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("nb_id", help="notebook id (file name under notebooks/<family>/)")
    p.add_argument("--set", "-S", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dry", action="store_true", help="check everything, execute nothing")
    p.add_argument("--wait", action="store_true", help="wait for a run of the same id")
    p.add_argument("--kernel", default=None)
    p.add_argument("--refresh", action="store_true", help=refresh.FLAG_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line: 0 on success; 1 on a failed check or run, 128 + n on signal n (Ctrl-C:
    130); always one line per problem, then the log, never a traceback on the terminal."""
    parent = os.getppid()
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("papermill").setLevel(logging.ERROR)  # our checks replace its warnings
    try:
        with process.signals():
            if os.environ.get("DVC_STAGE") or os.environ.get("MRICOMPENDIUM_DIE_WITH_PARENT"):
                process.die_with_parent(parent)  # a killed `dvc repro` stops this run
            return _main(args)
    except KeyboardInterrupt as e:  # before or after a run: nothing was published by it
        code = _exit_code(e)
        name = e.name if isinstance(e, process.Interrupted) else "SIGINT"
        print(f"{args.nb_id}: interrupted ({name}): reports/ unchanged", file=sys.stderr)
        return code


def _main(args: argparse.Namespace) -> int:
    try:
        if args.dry:
            checked = check_run(args.nb_id, sets=args.set)
            print(f"{args.nb_id}: dry run OK: {len(checked.params)} parameters checked")
            for line in checked.data:
                print(f"{args.nb_id}: {line}")
            return 0
        run_notebook(args.nb_id, sets=args.set, kernel=args.kernel, wait=args.wait)
    except RunError as e:
        _report(e.lines, e.log_path)
        return e.code
    except Exception as e:  # unforeseen: still one line, the traceback in the log
        line = f"{args.nb_id}: {type(e).__name__}: {str(e).strip()}".splitlines()[0]
        _report([line], _write_log(args.nb_id, e, None, {}, line))
        return 1
    if args.refresh:
        return refresh.refresh(args.nb_id)
    if not os.environ.get("DVC_STAGE"):  # dvc repro runs the verdict and report stages itself
        print(refresh.hint(args.nb_id))
    return 0


def _report(lines: Sequence[str], log_path: Path | None) -> None:
    for line in lines:
        print(line, file=sys.stderr)
    if log_path is not None:
        print(f"log: {_show(log_path)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
