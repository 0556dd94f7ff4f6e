"""Where a run's data came from: kind, a generated description, path and content fingerprint.

Every record (``reports/records/<id>.json``) and the front page name the data a notebook used.
The description is a sentence the notebook generates from the parameters it actually used; the
fingerprint is the sha256 of the bytes read (for a folder: of every file's relative path and
content hash, in sorted order), so two runs on the same files have the same fingerprint and any
changed byte changes it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from mricompendium import paths

__all__ = ["KINDS", "data_info", "embedded_fingerprint", "fingerprint"]

KINDS = ("simulated", "embedded", "user")
_BLOCK = 1 << 20


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_BLOCK):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative path + content, sorted).

    Hidden files and folders (names starting with ``.``) are skipped. Symbolic links are followed.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ValueError: a folder with no files.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: data path not found")
    if p.is_file():
        return _file_sha256(p)
    files = sorted(
        f
        for f in p.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
    )
    if not files:
        raise ValueError(f"{p}: folder holds no files")
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(p).as_posix().encode())
        h.update(b"\0")
        h.update(_file_sha256(f).encode())
        h.update(b"\n")
    return h.hexdigest()


def embedded_fingerprint() -> str:
    """sha256 of ``data/embedded/manifest.json``, which holds every embedded file's sha256."""
    return fingerprint(paths.data_root() / "manifest.json")


def data_info(
    kind: str, description: str, path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The ``data`` section of a record.

    Args:
        kind: ``"simulated"`` (generated from the embedded or template data), ``"embedded"`` (the
            embedded data as they are) or ``"user"`` (files at ``path``).
        description: one sentence generated from the parameters actually used.
        path: the user's data path (required for ``"user"``).

    Returns:
        ``{"kind", "description", "path", "fingerprint"}``; for simulated and embedded data the
        fingerprint is that of the embedded data set's manifest (the template is pinned with it).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("description must be a non-empty sentence")
    if kind == "user":
        if not path:
            raise ValueError("kind 'user' needs the data path")
        resolved = paths.resolve(path)
        return {
            "kind": kind,
            "description": description,
            "path": str(resolved),
            "fingerprint": fingerprint(resolved),
        }
    manifest = paths.data_root() / "manifest.json"
    return {
        "kind": kind,
        "description": description,
        "path": None,
        "fingerprint": fingerprint(manifest) if manifest.exists() else None,
    }
