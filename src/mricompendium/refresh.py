"""After ``python -m mricompendium.run <id>``: from new results to the verdict and the front page.

A run publishes a notebook's results and record into ``reports/``; the verdict of record
(``reports/metrics/<id>.json``) and the front page (``reports/README.md``) are written by two
other stages, ``python -m mricompendium.verdicts <id>`` and ``python -m mricompendium.report``
(``dvc repro`` runs them itself). :func:`hint` is the line a run ends with, naming them;
:func:`refresh` runs them, as ``mricompendium.run <id> --refresh`` does.

Hook in ``mricompendium.run.main`` after a successful ``run_notebook`` (one line)::

    return refresh.refresh(args.nb_id) if args.refresh else print(refresh.hint(args.nb_id)) or 0

with ``parser.add_argument("--refresh", action="store_true", help=refresh.FLAG_HELP)``.
"""

from __future__ import annotations

import subprocess
import sys

from mricompendium import paths

__all__ = ["FLAG_HELP", "commands", "hint", "refresh"]

FLAG_HELP = "after the run, recompute its verdict and the front page (reports/README.md)"


def commands(nb_id: str) -> list[list[str]]:
    """The two commands that refresh ``nb_id``'s verdict and then the front page."""
    return [
        ["python", "-m", "mricompendium.verdicts", nb_id],
        ["python", "-m", "mricompendium.report"],
    ]


def hint(nb_id: str) -> str:
    """The line a run ends with: what to run for the verdict and the front page."""
    line = " && ".join(" ".join(c) for c in commands(nb_id))
    return (
        f"{nb_id}: results published to reports/; verdict and front page not refreshed: run "
        f"`{line}` (or pass --refresh; dvc repro runs both stages itself)"
    )


def refresh(nb_id: str) -> int:
    """Run both commands with this interpreter from the repository root; the first failure's
    exit status (its one-line message is the command's own), else 0."""
    for cmd in commands(nb_id):
        done = subprocess.run([sys.executable, *cmd[1:]], cwd=paths.ROOT, check=False)
        if done.returncode:
            return done.returncode
    return 0
