"""A run's process: it dies with its parent, its kernel dies with it, interrupts are one line.

- :func:`die_with_parent` asks Linux to send this process SIGTERM when its parent dies
  (``prctl(PR_SET_PDEATHSIG)`` through ctypes): under ``dvc repro``, a killed DVC stops the
  notebook instead of leaving it to publish into ``reports/`` behind DVC's back.
- :func:`kernel_manager_class` launches the Jupyter kernel with a parent-death signal of its
  own (SIGKILL), so the kernel never outlives the run.
- :func:`write_log` writes a command's full traceback under ``.scratch/logs/`` (the terminal
  gets one line and the log's path), in a file no other process can take (microseconds and
  pid in its name), keeping the newest :data:`LOG_KEEP` logs.
- :func:`signals` turns SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` (a
  ``KeyboardInterrupt``: every layer lets it through), except inside :func:`deferred`, where
  they are noted and acted on afterwards (publishing is never cut in two by a signal).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mricompendium import paths

__all__ = [
    "LOG_KEEP",
    "Interrupted",
    "deferred",
    "die_with_parent",
    "kernel_manager_class",
    "log_path",
    "prune_logs",
    "signals",
    "write_log",
]

LOG_KEEP = 50  # logs kept under .scratch/logs (the newest)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

PR_SET_PDEATHSIG = 1
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_pending: list[int] = []
_deferring = False


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``exit_code`` is 128 + its number (130 for Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(self.name)


def _prctl_pdeathsig(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Receive ``signum`` when the parent dies; ``False`` where Linux' prctl is unavailable.

    Args:
        parent_pid: the parent as this process first saw it; if it has already changed (the
            parent died before the request), ``signum`` is raised at once.
    """
    done = _prctl_pdeathsig(signum)
    if os.getppid() != parent_pid:
        signal.raise_signal(signum)
    return done


def _kernel_preexec() -> None:  # runs in the forked child, before exec
    _prctl_pdeathsig(signal.SIGKILL)


def kernel_manager_class() -> type:
    """An ``AsyncKernelManager`` whose kernels get SIGKILL when the launching process dies."""
    from jupyter_client.manager import AsyncKernelManager

    class DiesWithParentKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if sys.platform.startswith("linux"):
                kw.setdefault("preexec_fn", _kernel_preexec)
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return DiesWithParentKernelManager


def _handler(signum: int, frame: Any) -> None:
    if _deferring:
        _pending.append(signum)
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` inside the block (main thread)."""
    saved = {s: signal.getsignal(s) for s in HANDLED}
    for s in HANDLED:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


@contextlib.contextmanager
def deferred() -> Iterator[list[int]]:
    """Signals that arrive in the block are noted (in the yielded list), not raised."""
    global _deferring
    _deferring, before = True, _deferring
    _pending.clear()
    try:
        yield _pending
    finally:
        _deferring = before


def log_path(name: str) -> Path:
    """A log file no other process can take: ``<name>-<date>-<time>-<microseconds>-<pid>.log``."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    micro = int((now % 1) * 1e6)
    return paths.SCRATCH / "logs" / f"{name}-{stamp}-{micro:06d}-{os.getpid()}.log"


def prune_logs(logs: Path | None = None, keep: int = LOG_KEEP) -> None:
    """Keep the newest ``keep`` logs (and the notebooks kept beside them)."""
    logs = logs or paths.SCRATCH / "logs"
    found = []
    for f in logs.glob("*.log"):
        with contextlib.suppress(OSError):
            found.append((f.stat().st_mtime, f.name, f))
    for *_, old in sorted(found, reverse=True)[keep:]:
        for f in (old, old.with_suffix(".ipynb")):
            with contextlib.suppress(OSError):
                f.unlink()


def write_log(
    name: str, line: str, exc: BaseException | None, sections: Sequence[str] = (),
    path: Path | None = None,
) -> Path:  # fmt: skip
    """Write ``line``, ``sections`` and ``exc``'s traceback to a new log; returns its path."""
    path = path or log_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [line, *sections]
    if exc is not None:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        parts.append("python traceback:\n" + ANSI.sub("", "".join(tb)))
    path.write_text("\n\n".join(parts) + "\n")
    prune_logs(path.parent)
    return path


def show(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT.resolve()))
    except ValueError:
        return str(path)
