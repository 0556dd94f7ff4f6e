"""A notebook's ``parameters`` cell, the values a run injects, and their checks before a kernel.

:func:`notebook_parameters` reads the cell tagged ``parameters`` without executing it (an AST
parse: one ``name = literal`` per statement, its ``#`` comment kept). :func:`load_sections` and
:func:`load_params` read ``params.yaml`` strictly (a duplicate key or a YAML error names the file
and line); :func:`parse_sets` types ``--set key=value`` like each key's default. :func:`check`
compares the parameters a run would inject with the cell and returns every :class:`Problem`:

- a key the cell does not define (with the closest name as a suggestion);
- a value whose type does not match the default's (``int`` vs ``float`` vs ``list`` ...);
- a non-empty ``*_path`` value that does not exist;
- a value outside its rule (:func:`rule_for`: :data:`mricompendium.rules.RULES`, overridden by
  the parameter's comment, ``# ... in [lo, hi]`` or ``# ... one of a, b, c``), or two values that
  do not fit together (:data:`mricompendium.rules.RELATIONS`).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import fnmatch
import io
import json
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mricompendium import paths, yamlfile
from mricompendium.rules import RELATIONS, RULES, SAMPLING_PATTERNS, Rule

__all__ = [
    "RULES",
    "SAMPLING_PATTERNS",
    "Parameter",
    "Problem",
    "Rule",
    "check",
    "coerce",
    "load_params",
    "load_sections",
    "notebook_parameters",
    "parse_sets",
    "rule_for",
]


@dataclass(frozen=True)
class Parameter:
    """One assignment of a ``parameters`` cell: name, default value, ``#`` comment, line."""

    name: str
    default: Any
    comment: str = ""
    line: int = 0


@dataclass(frozen=True)
class Problem:
    """What is wrong (``message``) with a parameter or a file (``source``)."""

    source: str
    message: str

    def line(self, nb_id: str) -> str:
        """The one-line report ``<id>: <file or parameter>: <problem>``."""
        return f"{nb_id}: {self.source}: {self.message}"


_COMMENT_RANGE = re.compile(r"\bin \[\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*\]")
_COMMENT_CHOICES = re.compile(r"\bone of:? ([\w.@-]+(?:\s*,\s*[\w.@-]+)+)")


def notebook_parameters(notebook: str | Path) -> dict[str, Parameter]:
    """The assignments of ``notebook``'s cell tagged ``parameters``, in order.

    Raises:
        FileNotFoundError: no such notebook.
        ValueError: no ``parameters`` cell, or a statement that is not ``name = literal``
            (the message names the notebook and the line).
    """
    nb_path = Path(notebook)
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{nb_path}: no cell tagged 'parameters'")
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    comments = _comments(source)
    out: dict[str, Parameter] = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if not isinstance(target, ast.Name) or len(node.targets) != 1:  # type: ignore[union-attr]
            raise ValueError(f"{nb_path}: parameters line {node.lineno}: not `name = literal`")
        try:
            value = ast.literal_eval(node.value)  # type: ignore[union-attr]
        except ValueError as e:
            raise ValueError(f"{nb_path}: parameters line {node.lineno}: {e}") from e
        end = node.end_lineno or node.lineno
        out[target.id] = Parameter(target.id, value, comments.get(end, ""), node.lineno)
    return out


def _comments(source: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            found[tok.start[0]] = tok.string.lstrip("#").strip()
    return found


def coerce(cell: Mapping[str, Parameter], key: str, raw: str) -> Any:
    """A ``--set key=raw`` value: kept as text for string parameters, YAML-parsed otherwise.

    Raises:
        ValueError: ``raw`` is not valid YAML (or repeats a key): one line naming ``key``.
    """
    param = cell.get(key)
    try:
        if param is not None and isinstance(param.default, str):
            parsed = yamlfile.loads(raw, f"--set {key}") if raw[:1] in "\"'" else raw
            return parsed if isinstance(parsed, str) else raw
        return yamlfile.loads(raw, f"--set {key}")
    except yamlfile.YamlFileError as e:
        raise ValueError(f"--set {key}: not a YAML value ({e.problem})") from None


def parse_sets(items: Sequence[str], cell: Mapping[str, Parameter]) -> dict[str, Any]:
    """``["key=value", ...]`` from the command line, typed like each key's default.

    Raises:
        ValueError: an item without ``=`` or with a value that is not YAML.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = coerce(cell, key.strip(), value)
    return out


def load_sections(nb_id: str, params_file: Path | None = None) -> tuple[dict, dict]:
    """``(global, <nb_id>)`` sections of ``params.yaml``, read strictly.

    Raises:
        FileNotFoundError: no params file.
        KeyError: no section ``nb_id``.
        ValueError: a YAML error or a duplicate key (``<file> line <n>: <problem>``), or a
            section that is not a mapping.
    """
    params_file = params_file or paths.PARAMS
    if not params_file.exists():
        raise FileNotFoundError(f"{params_file}: params file not found")
    shown = yamlfile.display_path(params_file)
    params = yamlfile.load(params_file, shown) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{shown}: expected a mapping of sections, got {type(params).__name__}")
    if nb_id not in params:
        raise KeyError(f"{params_file}: no section {nb_id!r} (sections: {sorted(params)})")
    for name in ("global", nb_id):
        if not isinstance(params.get(name) or {}, dict):
            raise ValueError(f"{shown}: section {name!r} is not a mapping of parameters")
    return dict(params.get("global") or {}), dict(params[nb_id] or {})


def load_params(nb_id: str, params_file: Path | None = None) -> dict[str, Any]:
    """``global`` merged with the notebook's own section of ``params.yaml`` (its keys win)."""
    glob, own = load_sections(nb_id, params_file)
    return {**glob, **own}


def check(
    nb_id: str,
    cell: Mapping[str, Parameter],
    params: Mapping[str, Any],
    origins: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of ``params`` against the notebook's ``cell`` (empty when all is well).

    Args:
        nb_id: the notebook id (named in suggestions; selects notebook-specific rules).
        cell: :func:`notebook_parameters` of the notebook.
        params: the values a run would inject.
        origins: where each key came from (``"--set"``, ``"params.yaml"``), for the messages.
    """
    origins = origins or {}
    problems: list[Problem] = []
    for key, value in params.items():
        if key not in cell:
            problems.append(Problem(key, _unknown(nb_id, key, cell, origins.get(key))))
            continue
        rule = rule_for(nb_id, cell[key])
        message = _type_problem(cell[key].default, value)
        if message is None and rule is not None:
            message = rule.violation(value)
            if message is None and rule.path and value:
                message = _path_problem(value)
        if message:
            where = f" (from {origins[key]})" if key in origins else ""
            problems.append(Problem(key, message + where))
    if not problems:
        effective = {**{k: p.default for k, p in cell.items()}, **params}
        for relation in RELATIONS.get(nb_id, ()):
            text = relation(effective)
            if text:
                key, _, message = text.partition(": ")
                where = f" (from {origins[key]})" if key in origins else ""
                problems.append(Problem(key, message + where))
    return problems


def _unknown(nb_id: str, key: str, cell: Mapping[str, Parameter], origin: str | None) -> str:
    close = difflib.get_close_matches(key, list(cell), n=1, cutoff=0.6)
    where = f" (from {origin})" if origin else ""
    hint = f"; did you mean {close[0]}?" if close else f"; its parameters: {', '.join(cell)}"
    return f"unknown parameter of {nb_id}{where}{hint}"


def _type_name(value: Any) -> str:
    return type(value).__name__


def _a(value: Any) -> str:
    name = _type_name(value)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _type_problem(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot stand for ``default`` (int for float is fine, bool for int is not)."""
    if default is None:
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float)
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
        if ok and default and len({type(d) for d in default}) == 1:
            bad = next((v for v in value if _type_problem(default[0], v)), None)
            if bad is not None:
                return f"item {bad!r} is {_a(bad)}, expected {_type_name(default[0])}"
    else:
        ok = isinstance(value, type(default))
    if ok:
        return None
    return f"{value!r} is {_a(value)}, expected {_a(default)} like {default!r}"


def rule_for(nb_id: str, param: Parameter) -> Rule | None:
    """The rule of ``param`` in notebook ``nb_id``: :data:`RULES`, then the comment's range
    (``in [lo, hi]``) or choices (``one of a, b``) in place of the table's."""
    base = next(
        (r for pat, r in RULES.items()
         if fnmatch.fnmatchcase(f"{nb_id}.{param.name}" if "." in pat else param.name, pat)),
        None,
    )  # fmt: skip
    match = _COMMENT_RANGE.search(param.comment)
    if match:
        lo, hi = float(match.group(1)), float(match.group(2))
        return dataclasses.replace(base or Rule(), lo=lo, hi=hi, lo_open=False)
    match = _COMMENT_CHOICES.search(param.comment)
    if match:
        choices = tuple(c.strip() for c in match.group(1).split(","))
        return dataclasses.replace(base or Rule(), choices=choices, pattern=None)
    return base


def _path_problem(value: Any) -> str | None:
    path = paths.resolve(str(value))
    if not path.exists():
        hint = " (a broken link)" if path.is_symlink() else ""
        return f"{path} does not exist{hint}"
    return None
