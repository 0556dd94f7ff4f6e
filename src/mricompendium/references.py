"""The papers' reported figures, as data: ``references.yaml`` (one file for every notebook).

Each notebook id maps to a list of figures. A figure holds its ``value``, ``metric``, ``method``,
``setting``, ``source`` (where it was read), ``kind`` (``paper``: the paper or its abstract;
``author_file``: the authors' code or model card, not the paper; ``other``: another code base's
table) and ``verified`` (read in that source, per ``shared/papers/reference_figures.md``).
Notebooks and the front page print figures only through this module, with their source, and
"UNVERIFIED" exactly where ``verified`` is false.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mricompendium import yamlfile

__all__ = ["Figure", "figures", "load", "paper_section", "table"]

KINDS = ("paper", "author_file", "other")


@dataclass(frozen=True)
class Figure:
    """One reported number and where it comes from."""

    value: float
    metric: str
    method: str
    setting: str
    source: str
    kind: str
    verified: bool
    note: str = ""

    def label(self) -> str:
        """``"<method> <metric> <setting>"``, the key used in records and tables."""
        return " ".join(x for x in (self.method, self.metric, self.setting) if x)

    def cite(self) -> str:
        """The source, marked UNVERIFIED where the figure was not checked."""
        mark = "" if self.verified else "UNVERIFIED; "
        return f"{mark}{self.kind.replace('_', ' ')}: {self.source}"


def _parse(nb_id: str, i: int, entry: Any) -> Figure:
    where = f"references.yaml: {nb_id}[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
    missing = [k for k in ("value", "metric", "source", "kind", "verified") if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    if entry["kind"] not in KINDS:
        raise ValueError(f"{where}: kind must be one of {KINDS}, got {entry['kind']!r}")
    if not isinstance(entry["verified"], bool):
        raise ValueError(f"{where}: verified must be true or false")
    unknown = set(entry) - {f for f in Figure.__dataclass_fields__}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        value = float(entry["value"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: value must be a number, got {entry['value']!r}") from None
    return Figure(
        value=value,
        metric=str(entry["metric"]),
        method=str(entry.get("method", "")),
        setting=str(entry.get("setting", "")),
        source=str(entry["source"]),
        kind=str(entry["kind"]),
        verified=entry["verified"],
        note=str(entry.get("note", "")),
    )


PATH = Path(str(resources.files("mricompendium").joinpath("references.yaml")))


@functools.cache
def _raw() -> dict[str, Any]:
    """The parsed file; a YAML error or a duplicate key names the file and line, in one line."""
    raw = yamlfile.loads(PATH.read_text(encoding="utf-8"), "references.yaml")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(
            f"references.yaml: expected a mapping of notebook ids, got {type(raw).__name__}"
        )
    return raw


@functools.cache
def figures(nb_id: str) -> tuple[Figure, ...]:
    """The figures for one notebook id (empty when the paper reports none we could check).

    Only this id's entries are parsed, so a malformed entry fails its own notebook alone.
    """
    entries = _raw().get(nb_id) or []
    if not isinstance(entries, list):
        raise ValueError(f"references.yaml: {nb_id}: expected a list of figures")
    return tuple(_parse(nb_id, i, e) for i, e in enumerate(entries))


def load() -> dict[str, tuple[Figure, ...]]:
    """Every notebook id's figures, validated (a malformed entry is an error naming it)."""
    return {nb_id: figures(nb_id) for nb_id in _raw()}


def table(nb_id: str) -> list[dict[str, Any]]:
    """Rows for a notebook's "paper figures" table: one dict per figure, with ``cite``."""
    return [{**asdict(f), "cite": f.cite()} for f in figures(nb_id)]


def paper_section(nb_id: str) -> dict[str, Any]:
    """The ``paper`` section of a notebook's record: values, sources and verified flags.

    Returns:
        ``{"metric", "values": {label: value}, "source", "verified": bool (all verified),
        "figures": [...]}``; ``source`` names every distinct source, UNVERIFIED marked.
    """
    figs = figures(nb_id)
    sources = list(dict.fromkeys(f.cite() for f in figs))
    return {
        "metric": ", ".join(dict.fromkeys(f.metric for f in figs)) or "-",
        "values": {f.label(): f.value for f in figs},
        "source": "; ".join(sources) if sources else "the paper reports no figure we could check",
        "verified": bool(figs) and all(f.verified for f in figs),
        "figures": [asdict(f) for f in figs],
    }
