"""A notebook's ``parameters`` cell, and the checks run parameters pass before a kernel starts.

:func:`notebook_parameters` reads the cell tagged ``parameters`` without executing it (an AST
parse: one ``name = literal`` per statement, its ``#`` comment kept). :func:`check` compares the
parameters a run would inject (``params.yaml`` and ``--set``) with that cell and returns every
:class:`Problem`:

- a key the cell does not define (with the closest name as a suggestion);
- a value whose type does not match the default's (``int`` vs ``float`` vs ``list`` ...);
- a non-empty ``*_path`` value that does not exist;
- a number outside its range, or a string outside its choices, where :data:`RULES` or the
  parameter's comment says so. Comment conventions: ``# ... in [lo, hi]`` (a closed range) and
  ``# ... one of a, b, c`` (choices).
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import io
import json
import math
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mricompendium import paths

__all__ = ["RULES", "Parameter", "Problem", "Rule", "check", "coerce", "notebook_parameters"]


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


@dataclass(frozen=True)
class Rule:
    """A declared range (inclusive unless open) or a set of choices; ``each`` checks list items."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None

    def violation(self, value: Any) -> str | None:
        """Why ``value`` breaks the rule, or ``None`` (lists are checked item by item)."""
        if isinstance(value, list | tuple):
            return next((v for v in map(self.violation, value) if v), None)
        if isinstance(value, str):
            if self.choices and value not in self.choices:
                return f"{value!r} is not one of {', '.join(self.choices)}"
            if self.pattern and not re.fullmatch(self.pattern, value):
                return f"{value!r} does not match {self.pattern}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return f"{value} is not a finite number"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return f"{value} must be {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None and value > self.hi:
            return f"{value} must be <= {self.hi:g}"
        return None


# The sampling patterns of mricompendium.physics.masks.PATTERNS (a test keeps them equal; this
# module does not import torch, so a bad key fails in a fraction of a second).
SAMPLING_PATTERNS = ("equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d", "radial")
_SAMPLING = rf"({'|'.join(SAMPLING_PATTERNS)})@[0-9.]+x?(\s*,\s*(cf|calib)=[0-9.]+)*"

# Declared ranges, by parameter name (fnmatch patterns; the first match wins).
RULES: dict[str, Rule] = {
    "device": Rule(pattern=r"auto|cpu|mps|cuda(:\d+)?"),
    "pattern": Rule(choices=SAMPLING_PATTERNS),
    "*_samplings": Rule(pattern=_SAMPLING),
    "*_setting": Rule(pattern=_SAMPLING),
    "data_format": Rule(choices=("fastmri", "calgary_campinas")),
    "scale": Rule(choices=("small", "paper")),
    "image_size": Rule(lo=8, hi=4096),
    "batch_size": Rule(lo=1),
    "eval_batch_size": Rule(lo=1),
    "lr": Rule(lo=0, lo_open=True, hi=10),
    "snr": Rule(lo=0, lo_open=True),
    "dropout": Rule(lo=0, hi=0.99),
    "*_fraction": Rule(lo=0, hi=1),
    "*_tolerance": Rule(lo=0),
    "*accelerations": Rule(lo=1),
    "*_acceleration": Rule(lo=1),
    "*_coils": Rule(lo=1, hi=1024),
    "seed": Rule(lo=0),
    "seeds": Rule(lo=0),
    "torch_threads": Rule(lo=0),
    "train_steps": Rule(lo=0),
    "n_*": Rule(lo=0),
    "num_*": Rule(lo=1),
    "*_iters": Rule(lo=1),
    "max_slices": Rule(lo=1),
    "*_max_slices": Rule(lo=1),
}
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
    """A ``--set key=raw`` value: kept as text for string parameters, YAML-parsed otherwise."""
    import yaml

    param = cell.get(key)
    if param is not None and isinstance(param.default, str):
        parsed = yaml.safe_load(raw) if raw[:1] in "\"'" else raw
        return parsed if isinstance(parsed, str) else raw
    return yaml.safe_load(raw)


def check(
    nb_id: str,
    cell: Mapping[str, Parameter],
    params: Mapping[str, Any],
    origins: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of ``params`` against the notebook's ``cell`` (empty when all is well).

    Args:
        nb_id: the notebook id (named in suggestions).
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
        message = _type_problem(cell[key].default, value) or _range_problem(cell[key], value)
        if message is None and key.endswith("_path") and value:
            message = _path_problem(value)
        if message:
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


def _rule_for(param: Parameter) -> Rule | None:
    match = _COMMENT_RANGE.search(param.comment)
    if match:
        return Rule(lo=float(match.group(1)), hi=float(match.group(2)))
    match = _COMMENT_CHOICES.search(param.comment)
    if match:
        return Rule(choices=tuple(c.strip() for c in match.group(1).split(",")))
    return next((r for pat, r in RULES.items() if fnmatch.fnmatchcase(param.name, pat)), None)


def _range_problem(param: Parameter, value: Any) -> str | None:
    rule = _rule_for(param)
    return rule.violation(value) if rule else None


def _path_problem(value: Any) -> str | None:
    path = paths.resolve(str(value))
    if not path.exists():
        hint = " (a broken link)" if path.is_symlink() else ""
        return f"{path} does not exist{hint}"
    return None
