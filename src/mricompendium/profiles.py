"""Parameter profiles: ``params.<name>.yaml`` applied over ``params.yaml`` as a DVC experiment.

A profile (``params.gpu.yaml``: every notebook at its papers' configuration) holds sections like
``params.yaml``'s. :func:`dvc_args` turns it into ``dvc exp run`` arguments, one
``-S ++<section>.<key>=<value>`` per entry (Hydra's add-or-override syntax, which DVC's
``--set-param`` parses), so that DVC itself applies and records the values::

    python -m mricompendium.profiles gpu --check      # every key against its notebook's cell
    eval dvc exp run $(python -m mricompendium.profiles gpu --shell)   # = make repro PROFILE=gpu

Nothing here runs a notebook; ``mricompendium.run`` keeps reading ``params.yaml`` only.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from mricompendium import paths

__all__ = ["check", "dvc_args", "load_profile", "profile_path"]

_KEYWORDS = ("true", "false", "null", "nan", "inf")  # Hydra reads these unquoted as non-strings


def profile_path(name: str) -> Path:
    """``params.<name>.yaml`` at the repository root."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"profile names are letters, digits and _, got {name!r}")
    return paths.ROOT / f"params.{name}.yaml"


def load_profile(name: str) -> dict[str, dict[str, Any]]:
    """The profile's sections (``global`` and notebook ids)."""
    path = profile_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such profile")
    data = yaml.safe_load(path.read_text()) or {}
    bad = [k for k, v in data.items() if not isinstance(v, dict)]
    if bad:
        raise ValueError(f"{path}: sections must be mappings: {bad}")
    return data


def _hydra(value: Any) -> str:
    """A value in Hydra's override grammar (what ``dvc exp run -S`` parses)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if "'" in value:
            raise ValueError(f"profile strings cannot hold a single quote: {value!r}")
        plain = re.fullmatch(r"[A-Za-z_][\w.@-]*", value) and value.lower() not in _KEYWORDS
        return value if plain else f"'{value}'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot pass {type(value).__name__} through dvc exp run -S")


def dvc_args(name: str) -> list[str]:
    """``["-S", "++cirim.scale='paper'", ...]`` for every entry of the profile."""
    args = []
    for section, values in load_profile(name).items():
        for key, value in values.items():
            args += ["-S", f"++{section}.{key}={_hydra(value)}"]
    return args


def apply(name: str, params: Path | None = None) -> None:
    """Write the profile into ``params`` (default ``params.yaml``) with DVC's own override
    function, the one ``dvc exp run -S`` applies (for ``make repro PROFILE=... JOBS=N``, which
    runs the notebooks outside an experiment)."""
    from dvc.utils.hydra import apply_overrides

    args = dvc_args(name)
    apply_overrides(params or paths.PARAMS, args[1::2])


def check(name: str) -> list[str]:
    """One line per problem: keys a notebook does not define, wrong types, out-of-range values
    (:func:`mricompendium.run.check_run` on each section over ``params.yaml``), as if a data set
    were given to every notebook that takes one; data are not read."""
    from mricompendium import run

    problems = []
    profile = load_profile(name)
    glob = profile.pop("global", {})
    known = {p.stem for p in paths.NOTEBOOKS.glob("*/*.ipynb")}
    for nb_id, section in profile.items():
        if nb_id not in known:
            problems.append(f"{nb_id}: not a notebook id")
            continue
        from mricompendium import parameters

        cell = parameters.notebook_parameters(paths.notebook_path(nb_id))
        overrides = {**{k: v for k, v in glob.items() if k in cell}, **section}
        if "data_path" in cell and not overrides.get("data_path"):
            # The papers' sizes are for their data sets: check as if one were given (it is, at
            # run time, with -S <id>.data_path=...); its content is not read here.
            overrides["data_path"] = str(paths.ROOT / "data")
        try:
            run.check_run(nb_id, overrides, data=False)
        except run.RunError as e:
            problems += e.lines
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="profile name: params.<name>.yaml")
    parser.add_argument("--check", action="store_true", help="check every key; print nothing else")
    parser.add_argument("--json", action="store_true", help="the arguments as one JSON list")
    parser.add_argument("--shell", action="store_true", help="the arguments shell-quoted, one line")
    parser.add_argument(
        "--apply", action="store_true", help="write it into params.yaml (as dvc exp run -S)"
    )
    args = parser.parse_args(argv)
    try:
        if args.apply:
            apply(args.name)
            print(f"params.yaml: profile {args.name} applied")
            return 0
        if args.check:
            problems = check(args.name)
            for line in problems:
                print(line, file=sys.stderr)
            return 1 if problems else 0
        out = dvc_args(args.name)
    except (FileNotFoundError, ValueError, TypeError) as e:
        print(f"profile {args.name}: {e}", file=sys.stderr)
        return 1
    if args.shell:
        print(shlex.join(out))
    else:
        print(json.dumps(out) if args.json else "\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
