"""The paper catalogue shipped with the package (`catalogue.yaml`): S-number, id, family."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import yaml

__all__ = ["check_id", "entries", "entry", "ids"]

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@functools.cache
def _load() -> tuple[dict[str, Any], ...]:
    text = resources.files("mricompendium").joinpath("catalogue.yaml").read_text()
    return tuple(yaml.safe_load(text))


def entries() -> list[dict[str, Any]]:
    """Every catalogue entry, in catalogue order (copies: callers may change them)."""
    return [dict(e) for e in _load()]


def ids() -> list[str]:
    return [str(e["id"]) for e in _load()]


def check_id(nb_id: str) -> str:
    """``nb_id`` if it is a catalogue id; otherwise a ValueError that says so (paths refused)."""
    if not isinstance(nb_id, str) or not _ID.match(nb_id):
        raise ValueError(f"{nb_id!r}: not a notebook id (lower-case letters, digits, '_')")
    if nb_id not in ids():
        raise ValueError(f"{nb_id}: not in the catalogue (src/mricompendium/catalogue.yaml)")
    return nb_id


def entry(nb_id: str) -> dict[str, Any]:
    """The catalogue entry of ``nb_id``."""
    check_id(nb_id)
    return next(dict(e) for e in _load() if e["id"] == nb_id)
