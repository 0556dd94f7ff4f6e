"""Runs that cannot corrupt each other: a lock per notebook and all-or-nothing publishing.

**Lock.** :func:`hold` takes an exclusive ``flock`` on ``.scratch/locks/<id>.lock`` and writes
the holder (pid, start time, command) into it. A second run of the same id, ad hoc or under
DVC, gets :class:`Busy`, whose message names the holder (or waits, ``wait=True``). The kernel
releases the lock when the holder dies, however it dies.

**Publishing.** A notebook's report set is ``figures/<id>/``, ``tables/<id>[_*].csv``,
``results/<id>[_*].csv``, ``records/<id>.json``, ``metrics/<id>.json`` (when the notebook
writes it) and ``notebooks/<id>.ipynb``. :func:`publish` switches the whole set in a
transaction kept in ``reports/.publish/<id>/``:

1. the new files are moved into ``new/`` (the same file system as ``reports/``);
2. ``plan.json`` is written atomically, last: the commit point;
3. each target is switched: a file by one ``os.replace``, a folder by renaming the old one into
   ``old/`` and the new one into place; stale files of the set are moved into ``old/``;
4. ``old/``, the plan and the transaction folder are removed.

A kill at any instant leaves either no plan (``reports/`` holds the old set, untouched: the
transaction is discarded) or a plan (the switch is finished by :func:`recover`, which every
run, verdict and report calls first, under the lock). Every step of the switch can be redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mricompendium import paths
from mricompendium.io import atomic_write_text

__all__ = ["Busy", "hold", "owned", "publish", "recover", "recover_if_free", "report_set"]

TX = ".publish"
PLAN = "plan.json"
SUBFOLDERS = ("tables", "results", "records", "metrics")
STALE = ("tables", "results", "records")  # metrics/<id>.json belongs to the verdict stage


class Busy(RuntimeError):
    """Another live process holds the notebook's lock; the message names it."""


@dataclass(frozen=True)
class Lock:
    """A held lock: its file and open descriptor."""

    path: Path
    fd: int


def _lock_path(nb_id: str) -> Path:
    return paths.SCRATCH / "locks" / f"{nb_id}.lock"


def _holder_text(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a process that has not yet said who it is"
    return f"pid {info.get('pid')}, started {info.get('started')}: {info.get('command')}"


@contextlib.contextmanager
def hold(nb_id: str, *, wait: bool = False, on_wait: Callable[[str], None] | None = None
         ) -> Iterator[Lock]:  # fmt: skip
    """Hold ``nb_id``'s lock for the ``with`` block.

    Args:
        nb_id: the notebook id.
        wait: block until the holder finishes instead of raising :class:`Busy`.
        on_wait: called once with the holder's description before waiting.

    Raises:
        Busy: the lock is held by another process (and not ``wait``).
    """
    path = _lock_path(nb_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(fd)
            if not wait:
                raise Busy(
                    f"another run of {nb_id} is in progress ({holder}); "
                    "wait for it to finish, or stop it"
                ) from None
            if on_wait:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": _command()[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield Lock(path, fd)
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock


def _command() -> str:
    """This process's command line as typed (``python -m mricompendium.run <id> ...``)."""
    argv = list(getattr(sys, "orig_argv", None) or sys.argv)
    return " ".join([Path(argv[0]).name, *argv[1:]])


def owned(name: str, nb_id: str, other_ids: set[str]) -> bool:
    """Whether a report file belongs to ``nb_id``: ``<id>.csv|json`` or ``<id>_*.csv``."""
    stem, _, suffix = name.rpartition(".")
    if suffix not in ("csv", "json") or not (stem == nb_id or stem.startswith(nb_id + "_")):
        return False
    if suffix == "json" and stem != nb_id:
        return False
    longer = (o for o in other_ids if len(o) > len(nb_id) and o.startswith(nb_id + "_"))
    return not any(stem == o or stem.startswith(o + "_") for o in longer)


def report_set(root: Path, nb_id: str, other_ids: set[str], subfolders: Sequence[str]) -> list[str]:
    """The files of ``nb_id``'s set under ``root`` in ``subfolders`` (relative posix paths)."""
    found = []
    for sub in subfolders:
        folder = root / sub
        if folder.is_dir():
            found += [f"{sub}/{f.name}" for f in sorted(folder.iterdir())
                      if f.is_file() and owned(f.name, nb_id, other_ids)]  # fmt: skip
    return found


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError:  # another file system: copy, then remove
        shutil.move(str(src), str(dst))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _switch(tx: Path, rel: str, reports: Path) -> None:
    """Put ``new/<rel>`` at ``reports/<rel>``; the old one goes to ``old/<rel>``. Redoable."""
    new, dst, old = tx / "new" / rel, reports / rel, tx / "old" / rel
    if not os.path.lexists(new):
        return  # done already
    dst.parent.mkdir(parents=True, exist_ok=True)
    if new.is_file() and not dst.is_dir():
        os.replace(new, dst)  # one atomic step
        return
    if os.path.lexists(dst):
        if os.path.lexists(old):
            _remove(dst)  # an old one is kept already: this is a leftover
        else:
            old.parent.mkdir(parents=True, exist_ok=True)
            os.rename(dst, old)
    os.rename(new, dst)


def _apply(tx: Path, reports: Path) -> None:
    plan = json.loads((tx / PLAN).read_text())
    for rel in plan["put"]:
        _switch(tx, rel, reports)
    for rel in plan["remove"]:
        if os.path.lexists(reports / rel):
            _move(reports / rel, tx / "old" / rel)
    shutil.rmtree(tx / "old", ignore_errors=True)
    (tx / PLAN).unlink()
    shutil.rmtree(tx)


def recover(nb_id: str, reports: Path) -> str:
    """Finish or discard an interrupted publication of ``nb_id``; hold its lock when calling.

    Returns:
        ``"clean"`` (nothing to do), ``"completed"`` (the plan existed: the new set is in place)
        or ``"discarded"`` (no plan: the old set was never touched).
    """
    tx = reports / TX / nb_id
    if not tx.exists():
        with contextlib.suppress(OSError):
            (reports / TX).rmdir()  # left empty by a kill (only when empty)
        return "clean"
    if (tx / PLAN).is_file():
        _apply(tx, reports)
        outcome = "completed"
    else:
        shutil.rmtree(tx)
        outcome = "discarded"
    with contextlib.suppress(OSError):
        (reports / TX).rmdir()  # only when empty
    return outcome


def recover_if_free(nb_id: str, reports: Path) -> str:
    """:func:`recover` when no run holds ``nb_id``'s lock; ``"busy"`` otherwise."""
    if not (reports / TX / nb_id).exists():
        return "clean"
    try:
        with hold(nb_id):
            return recover(nb_id, reports)
    except Busy:
        return "busy"


def publish(
    nb_id: str,
    items: Sequence[tuple[Path, str]],
    reports: Path,
    *,
    stale: Sequence[str] = (),
    abort: Callable[[], bool] = lambda: False,
) -> list[Path]:
    """Switch ``nb_id``'s report set to ``items`` all at once; hold its lock when calling.

    Args:
        nb_id: the notebook id.
        items: ``(source, relative target)`` pairs: the new set (sources are moved).
        reports: the reports folder.
        stale: relative paths of the old set that the new one does not replace (removed).
        abort: checked just before the commit point; ``True`` discards the transaction and
            leaves ``reports`` untouched (an interrupt that arrived while files were moved).

    Returns:
        The paths written under ``reports`` (empty when aborted).
    """
    recover(nb_id, reports)
    tx = reports / TX / nb_id
    (tx / "new").mkdir(parents=True)
    for src, rel in items:
        _move(src, tx / "new" / rel)
    if abort():
        recover(nb_id, reports)
        return []
    plan = {"put": [rel for _, rel in items], "remove": [r for r in stale]}
    atomic_write_text(tx / PLAN, json.dumps(plan, indent=1) + "\n")  # the commit point
    _apply(tx, reports)
    with contextlib.suppress(OSError):
        (reports / TX).rmdir()
    return [reports / rel for _, rel in items]
