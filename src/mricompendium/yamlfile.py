"""The project's YAML files, read strictly: a duplicate key or a syntax error names file and line.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word and reports syntax errors
over several lines. :func:`load` reads with the safe loader (no tags executed) but refuses a key
given twice in one mapping, and turns every YAML error into one :class:`YamlFileError` line,
``<file> line <n>: <problem>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlFileError", "display_path", "load", "loads"]


class YamlFileError(ValueError):
    """A YAML file that cannot be read: ``<file> line <n>: <problem>`` (``line`` may be 0)."""

    def __init__(self, file: str, line: int, problem: str) -> None:
        self.file, self.line_no, self.problem = file, line, problem
        where = f"{file} line {line}" if line else file
        super().__init__(f"{where}: {problem}")


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the base constructor says so
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def loads(text: str, name: str = "<string>") -> Any:
    """Parse ``text`` strictly; errors are :class:`YamlFileError` naming ``name`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if exc.context and exc.problem and "duplicate key" not in problem:
            problem = f"{problem} ({' '.join(str(exc.context).split())})"
        raise YamlFileError(name, line, problem) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise YamlFileError(name, 0, first[0] if first else "invalid YAML") from None


def load(path: str | os.PathLike[str], name: str | None = None) -> Any:
    """Read and parse the YAML file ``path`` strictly (``name``: how messages show it).

    Raises:
        FileNotFoundError: no such file (other ``OSError`` as raised).
        YamlFileError: a syntax error, a duplicate key or text that is not UTF-8.
    """
    shown = name or display_path(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(
            shown, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    return loads(text, shown)


def display_path(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    from mricompendium import paths

    try:
        return str(path.resolve().relative_to(paths.ROOT.resolve()))
    except ValueError:
        return str(path)
