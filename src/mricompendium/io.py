"""Atomic writes: nothing in ``reports/`` is ever half-written.

Every writer here writes to a uniquely named temporary file in the target's own folder, flushes and
fsyncs it, then moves it over the target with :func:`os.replace` (atomic on POSIX and Windows when
both paths are on the same file system, which the shared folder guarantees). If anything fails
before the move, the temporary file is removed and an existing target is left untouched. Parent
folders are created as needed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_savefig",
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_text",
    "json_default",
]


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only when the ``with`` block succeeds.

    Args:
        path: the target file; its parent folders are created.

    Yields:
        A binary file object opened on a temporary file next to ``path``.

    Example:
        >>> with atomic_open(tmp / "a.bin") as f:  # doctest: +SKIP
        ...     f.write(b"data")
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as a plain open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"atomic_write_bytes expects bytes, got {type(data).__name__}")
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``\\n`` line endings kept as given)."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text expects str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


def json_default(obj: Any) -> Any:
    """``json`` fallback for numpy scalars and arrays and paths; anything else raises TypeError."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    module = type(obj).__module__
    if (module == "numpy" or module.startswith("torch")) and hasattr(obj, "tolist"):
        return obj.tolist()  # scalars -> Python numbers, arrays/tensors -> nested lists
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def atomic_write_json(
    path: str | os.PathLike[str],
    obj: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = True,
    allow_nan: bool = True,
) -> Path:
    """Serialise ``obj`` to JSON and write it atomically, with a trailing newline.

    numpy/torch scalars and arrays are converted with :func:`json_default`. Serialisation happens
    before any file is opened, so an object that cannot be serialised leaves no trace.
    """
    text = json.dumps(
        obj, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan, default=json_default
    )
    return atomic_write_text(path, text + "\n")


def atomic_write_csv(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]] | Any,
    *,
    fieldnames: Sequence[str] | None = None,
) -> Path:
    """Write a table as CSV atomically.

    Args:
        path: the target ``.csv`` file.
        rows: a sequence of mappings (one per row; columns in order of first appearance unless
            ``fieldnames`` is given; missing cells are empty), or a pandas ``DataFrame`` (written
            without its index).
        fieldnames: explicit column order for a sequence of mappings.
    """
    buf = io.StringIO()
    if hasattr(rows, "to_csv"):
        rows.to_csv(buf, index=False, lineterminator="\n")
        return atomic_write_text(path, buf.getvalue())
    rows = list(rows)
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError("atomic_write_csv expects a sequence of mappings or a pandas DataFrame")
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # raises ValueError for keys outside fieldnames
    return atomic_write_text(path, buf.getvalue())


def atomic_savefig(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically; ``kwargs`` go to ``fig.savefig`` (dpi, bbox_inches...).

    The format is taken from ``kwargs["format"]`` or else from the file suffix.
    """
    target = Path(path)
    fmt = kwargs.pop("format", None) or (target.suffix.lstrip(".").lower() or None)
    with atomic_open(target) as f:
        fig.savefig(f, format=fmt, **kwargs)
    return target
