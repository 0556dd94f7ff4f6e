"""Every path the compendium uses, anchored at the repository root.

Papermill runs notebooks from the repository root, nbval and JupyterLab from the notebook's folder;
opening files only through this module makes both work.

Environment overrides:
    MRICOMPENDIUM_ROOT: the repository root (default: found from this file's location).
    MRICOMPENDIUM_DATA: the embedded data folder (default: ``<root>/data/embedded``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("MRICOMPENDIUM_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "dvc.yaml").exists() or (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd().resolve()


ROOT: Path = _find_root()
NOTEBOOKS: Path = ROOT / "notebooks"
REPORTS: Path = ROOT / "reports"
SCRATCH: Path = ROOT / ".scratch"  # CI-size runs write here, never into reports/
PARAMS: Path = ROOT / "params.yaml"


def data_root() -> Path:
    """The embedded data folder (``MRICOMPENDIUM_DATA`` overrides it)."""
    env = os.environ.get("MRICOMPENDIUM_DATA")
    return Path(env).resolve() if env else ROOT / "data" / "embedded"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve a user path: absolute paths stay, relative ones start at the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else ROOT / p


def output_root(output_dir: str | os.PathLike[str] | None, nb_id: str) -> Path:
    """Where a notebook writes its reports.

    Args:
        output_dir: ``"reports"`` under ``dvc repro``; empty or ``None`` (the CI default) means a
            scratch folder ``.scratch/<id>`` so that CI-size runs never overwrite the real reports.
        nb_id: the notebook id.
    """
    if not output_dir:
        return SCRATCH / nb_id
    return resolve(output_dir)


def notebook_path(nb_id: str) -> Path:
    """The source notebook ``notebooks/<family>/<id>.ipynb`` for a notebook id."""
    hits = sorted(NOTEBOOKS.glob(f"*/{nb_id}.ipynb"))
    if not hits:
        raise FileNotFoundError(f"no notebook with id {nb_id!r} under {NOTEBOOKS}/<family>/")
    if len(hits) > 1:
        raise FileExistsError(f"notebook id {nb_id!r} is ambiguous: {[str(h) for h in hits]}")
    return hits[0]


class ReportPaths:
    """The files one notebook writes, under an output root (``reports/`` or a scratch folder).

    Layout: ``figures/<id>/<name>.png``, ``tables/<id><suffix>.csv``, ``results/<id>.csv`` (the
    per-case results a verdict is computed from), ``records/<id>.json`` (the notebook's record:
    declared claim, scale, data, training histories; everything but the verdict) and
    ``metrics/<id>.json`` (the record plus the verdict, written by the verdict stage).
    """

    def __init__(self, root: Path, nb_id: str) -> None:
        self.root = Path(root)
        self.nb_id = nb_id

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures" / self.nb_id

    def figure(self, name: str) -> Path:
        """Path of a figure, e.g. ``figure("ssim_vs_acceleration.png")``."""
        return self.figures_dir / name

    def table(self, suffix: str = "") -> Path:
        """``tables/<id>.csv`` (main table) or ``tables/<id>_<suffix>.csv``."""
        name = f"{self.nb_id}_{suffix}" if suffix else self.nb_id
        return self.root / "tables" / f"{name}.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / f"{self.nb_id}.json"

    @property
    def results(self) -> Path:
        """``results/<id>.csv``: one row per (setting, method, seed, budget, case)."""
        return self.root / "results" / f"{self.nb_id}.csv"

    @property
    def record(self) -> Path:
        """``records/<id>.json``: the notebook's record, from which the verdict is computed."""
        return self.root / "records" / f"{self.nb_id}.json"

    def __repr__(self) -> str:
        return f"ReportPaths(root={str(self.root)!r}, nb_id={self.nb_id!r})"


def report_paths(output_dir: str | os.PathLike[str] | None, nb_id: str) -> ReportPaths:
    """The :class:`ReportPaths` a notebook writes to for its ``output_dir`` parameter."""
    return ReportPaths(output_root(output_dir, nb_id), nb_id)
