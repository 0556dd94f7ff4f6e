"""Track a data set that lives outside the repository, so that DVC reruns the stages that read it.

Convention: a user data set is linked in as ``data/user/<name>``, a symbolic link to the folder
(or file) wherever it lives; a notebook reads it through ``data_path: data/user/<name>`` in
``params.yaml``; and the notebook's stage lists ``data/user/<name>`` among its ``deps``
(:func:`stage_data_deps` gives those entries from the stage's parameters; the ``dvc.yaml``
generator calls it). DVC hashes a dependency through the link (and caches the hashes by file
size and modification time), so ``dvc.lock`` records the content of the data actually read and
rewriting any file under the link makes ``dvc status`` report exactly the stages that list it.

Why this rather than the alternatives (measured with DVC 3.67.1): ``dvc add`` refuses a path
outside the repository; ``dvc import-url --no-download`` writes a frozen ``.dvc`` file whose
status ignores changes at the source and leaves nothing in the workspace to read. Absolute paths
in ``deps`` do work (DVC external dependencies), and :func:`stage_data_deps` returns one for a
``data_path`` outside the repository, but they write a machine's own paths into ``dvc.yaml``;
the link keeps ``params.yaml``, ``dvc.yaml`` and ``dvc.lock`` the same on every machine, each
machine linking its own copy (a copy with different content shows up as a changed stage).

Command line::

    python -m mricompendium.userdata add <name> <path> [--force]   # data/user/<name> -> <path>
    python -m mricompendium.userdata list
    python -m mricompendium.userdata remove <name>
    python -m mricompendium.userdata deps <id> [--set key=value ...]  # the stage's data deps
    python -m mricompendium.userdata check    # every stage's data paths are among its deps
"""

from __future__ import annotations

import argparse
import errno
import os
import posixpath
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mricompendium import paths, process

__all__ = [
    "add",
    "data_params",
    "link_path",
    "registered",
    "remove",
    "stage_data_deps",
    "untracked_data_deps",
]

USER_DIR = Path("data") / "user"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_GITIGNORE = "# links to data sets outside the repository (machine-specific)\n*\n!.gitignore\n"


def link_path(name: str, root: Path | None = None) -> Path:
    """``<root>/data/user/<name>`` after checking ``name`` (letters, digits, ``_ . -``)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a data set name is letters, digits, '_', '.', '-'")
    return (root or paths.ROOT) / USER_DIR / name


def add(
    name: str, target: str | os.PathLike[str], *, root: Path | None = None, force: bool = False
) -> Path:
    """Link ``data/user/<name>`` to ``target`` (made absolute); returns the link.

    Raises:
        FileNotFoundError: ``target`` does not exist.
        FileExistsError: ``data/user/<name>`` exists (another target, or not a link) and not
            ``force``; a path that is not a link is never replaced.
    """
    link = link_path(name, root)
    try:
        dest = Path(target).expanduser().resolve()
        dest.stat()
    except RuntimeError:  # Python < 3.13: a loop of symbolic links
        raise ValueError(f"{target}: a loop of symbolic links") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"{target}: a loop of symbolic links") from None
    if not dest.exists():
        raise FileNotFoundError(f"{dest}: data set not found")
    link.parent.mkdir(parents=True, exist_ok=True)
    ignore = link.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text(_GITIGNORE)
    if link.is_symlink():
        if Path(os.readlink(link)) == dest:
            return link
        if not force:
            raise FileExistsError(f"{link} already links to {os.readlink(link)} (use --force)")
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a link: move it away first")
    link.symlink_to(dest, target_is_directory=dest.is_dir())
    return link


def remove(name: str, *, root: Path | None = None) -> None:
    """Remove the link ``data/user/<name>`` (never the data it points at)."""
    link = link_path(name, root)
    if not link.is_symlink():
        raise FileNotFoundError(f"{link}: no such data set link")
    link.unlink()


def registered(root: Path | None = None) -> dict[str, Path]:
    """Every ``data/user/<name>`` link and its target, by name."""
    folder = (root or paths.ROOT) / USER_DIR
    if not folder.is_dir():
        return {}
    return {p.name: Path(os.readlink(p)) for p in sorted(folder.iterdir()) if p.is_symlink()}


def data_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The non-empty ``*data_path*`` parameters (``data_path``, ``shift_data_path`` ...)."""
    return {k: str(v) for k, v in params.items() if "data_path" in k and v}


def _dep_entry(value: str, root: Path) -> str:
    """A ``deps`` entry: relative (posix) inside the repository, absolute outside it."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        return posixpath.normpath(p.as_posix())
    try:
        return posixpath.normpath(p.relative_to(root).as_posix())
    except ValueError:
        return posixpath.normpath(p.as_posix())


def stage_data_deps(params: Mapping[str, Any], *, root: Path | None = None) -> list[str]:
    """The ``deps`` entries a stage needs for the data its ``*data_path*`` parameters point at.

    Args:
        params: the stage's parameters (``global`` merged with its section of ``params.yaml``).
        root: the repository root (``dvc.yaml``'s folder); default :data:`paths.ROOT`.

    Returns:
        One entry per distinct non-empty data path, in parameter order: ``data/user/<name>``
        (or any other path inside the repository) relative to the root, a path outside the
        repository absolute (a DVC external dependency). Empty when the stage uses no user data.

    Example:
        >>> stage_data_deps({"data_path": "data/user/ixi", "shift_data_path": ""})
        ['data/user/ixi']
    """
    root = root or paths.ROOT
    out: list[str] = []
    for value in data_params(params).values():
        entry = _dep_entry(value, root)
        if entry not in out:
            out.append(entry)
    return out


def _covers(dep: str, entry: str) -> bool:
    return entry == dep or entry.startswith(dep.rstrip("/") + "/")


def untracked_data_deps(
    stage: str, params: Mapping[str, Any], *, root: Path | None = None
) -> list[str]:
    """The data paths of ``params`` that ``stage``'s ``deps`` in ``dvc.yaml`` do not cover.

    A stage missing from ``dvc.yaml`` (or one generated by ``foreach``) counts as covering all.
    """
    import yaml

    root = root or paths.ROOT
    dvc_yaml = root / "dvc.yaml"
    stages = (
        (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {}) if dvc_yaml.exists() else {}
    )
    spec = stages.get(stage)
    if not isinstance(spec, dict) or "foreach" in spec:
        return []
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec.get("deps") or []]
    return [e for e in stage_data_deps(params, root=root) if not any(_covers(d, e) for d in deps)]


def _stage_params(nb_id: str, sets: Sequence[str]) -> dict[str, Any]:
    from mricompendium import parameters

    params = parameters.load_params(nb_id)
    cell = parameters.notebook_parameters(paths.notebook_path(nb_id))
    return {**params, **parameters.parse_sets(sets, cell)}


def _check_all() -> list[str]:
    import yaml

    text = (paths.ROOT / "dvc.yaml").read_text() if (paths.ROOT / "dvc.yaml").exists() else ""
    sections = yaml.safe_load(paths.PARAMS.read_text()) or {}
    problems = []
    for stage in (yaml.safe_load(text) or {}).get("stages", {}):
        if stage in sections and stage != "global":
            params = {**(sections.get("global") or {}), **(sections[stage] or {})}
            problems += [
                f"{stage}: {d}: not in its deps" for d in untracked_data_deps(stage, params)
            ]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_add = sub.add_parser("add", help="link data/user/<name> to a data set")
    p_add.add_argument("name")
    p_add.add_argument("path")
    p_add.add_argument("--force", action="store_true", help="relink an existing name")
    sub.add_parser("list", help="the linked data sets")
    sub.add_parser("remove", help="unlink data/user/<name>").add_argument("name")
    p_deps = sub.add_parser("deps", help="the dvc deps a notebook stage needs for its data")
    p_deps.add_argument("nb_id")
    p_deps.add_argument("--set", "-S", action="append", default=[], metavar="KEY=VALUE")
    sub.add_parser("check", help="every stage's data paths are among its dvc.yaml deps")
    args = parser.parse_args(argv)
    try:
        with process.signals():
            return _dispatch(args)
    except KeyboardInterrupt as e:
        print(f"userdata {args.cmd}: interrupted", file=sys.stderr)
        return e.exit_code if isinstance(e, process.Interrupted) else 130
    except Exception as e:  # noqa: BLE001 - one line on the terminal, the traceback in a log
        known = isinstance(e, OSError | ValueError | KeyError)
        text = str(e).strip().strip(chr(39)) or type(e).__name__
        line = text if known else f"{type(e).__name__}: {text}"
        line = f"userdata {args.cmd}: {line}".splitlines()[0]
        log = process.write_log(f"userdata-{args.cmd}", line, e)
        print(f"{line}\nlog: {process.show(log)}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "add":
        link = add(args.name, args.path, force=args.force)
        rel = link.relative_to(paths.ROOT).as_posix()
        print(f"{rel} -> {os.readlink(link)}\nuse it with: data_path: {rel}")
    elif args.cmd == "list":
        for name, target in registered().items():
            missing = "" if target.exists() else " (missing)"
            print(f"{(USER_DIR / name).as_posix()} -> {target}{missing}")
    elif args.cmd == "remove":
        remove(args.name)
    elif args.cmd == "deps":
        for dep in stage_data_deps(_stage_params(args.nb_id, args.set)):
            print(f"      - {dep}")
    else:
        problems = _check_all()
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
