"""Gather ``reports/metrics/*.json`` into ``reports/README.md``, the compendium's front page.

Usage: ``python -m mricompendium.report`` (the last DVC stage). One row per paper of the
catalogue (``catalogue.yaml``); papers without a notebook yet are marked "not yet". Each notebook's
key figures (``extra.key_figures`` in its metrics JSON, paths relative to ``reports/``) are
embedded below the table, and ``reports/benchmarks.json`` (``benchmarks/run.py``) becomes a
benchmark table.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mricompendium import paths
from mricompendium.io import atomic_write_text

VERDICT_MARK = {
    "reproduced": "reproduced",
    "partial": "partial",
    "not_reproduced": "**not reproduced**",
}


def load_catalogue() -> list[dict[str, Any]]:
    """The paper catalogue shipped with the package (S-number, id, family, claim, ...)."""
    text = resources.files("mricompendium").joinpath("catalogue.yaml").read_text()
    return yaml.safe_load(text)


def load_metrics(reports: Path) -> dict[str, dict[str, Any]]:
    """Every ``reports/metrics/<id>.json``, keyed by id; a broken file is an error naming it."""
    out = {}
    for f in sorted((reports / "metrics").glob("*.json")):
        try:
            data = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not valid JSON ({exc})") from exc
        out[data.get("id", f.stem)] = data
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _values(section: dict[str, Any] | None, limit: int = 4) -> str:
    if not section:
        return "-"
    if section.get("summary"):
        return _cell(section["summary"])
    vals = section.get("values") or {}
    items = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in vals.items()]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return _cell(f"{section.get('metric', '')}: " + "; ".join(items[:limit]) + more)


def _row(paper: dict[str, Any], m: dict[str, Any] | None) -> str:
    claim = _cell(m["claim"] if m else paper.get("claim", ""))
    if m is None:
        fig = paper.get("paper_figure", "")
        fig = f"{fig} (UNVERIFIED)" if any(c.isdigit() for c in fig) else fig
        cells = [
            paper["s"],
            paper["id"],
            paper["family"],
            claim,
            _cell(fig),
            "not yet",
            "not yet",
            "-",
        ]
    else:
        nb = f"[{paper['id']}](notebooks/{paper['id']}.ipynb)"
        cells = [
            paper["s"],
            nb,
            paper["family"],
            claim,
            _values(m.get("paper")),
            _values(m.get("ours")),
            VERDICT_MARK.get(m["verdict"], m["verdict"]),
            f"{m.get('runtime_s', 0):.0f} s",
        ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _benchmarks(reports: Path) -> list[str]:
    f = reports / "benchmarks.json"
    if not f.exists():
        return ["No benchmark run recorded yet (`make bench`)."]
    data = json.loads(f.read_text())
    lines = [
        f"Measured by `{data.get('command', 'benchmarks/run.py')}` on "
        f"{data.get('machine', 'unknown machine')}.",
        "",
        "| benchmark | value | unit | note |",
        "|---|---|---|---|",
    ]
    for r in data.get("rows", []):
        v = r.get("value")
        v = f"{v:.4g}" if isinstance(v, float) else v
        lines.append(
            f"| {_cell(r['name'])} | {v} | {r.get('unit', '')} | {_cell(r.get('note', ''))} |"
        )
    return lines


def _details(nb_id: str, m: dict[str, Any]) -> list[str]:
    out = [
        f"### {m.get('seed_paper', '')} {nb_id}",
        "",
        f"*Claim.* {m['claim']}",
        "",
        f"*Verdict:* {VERDICT_MARK.get(m['verdict'], m['verdict'])}. *Evidence:* {m['evidence']}",
        "",
    ]
    scale = m.get("scale") or {}
    if scale:
        out += ["*Scale:* " + ", ".join(f"{k} {v}" for k, v in scale.items()), ""]
    extra = m.get("extra") or {}
    if extra.get("differences"):
        out += [f"*What differs from the paper:* {extra['differences']}", ""]
    for fig in extra.get("key_figures", []):
        out += [f"![{nb_id}: {Path(fig).stem}]({fig})", ""]
    return out


# Cross-model tables shown on the front page: one row per method, one column per setting.
FRONT_TABLES = {
    "cirim": {
        "title": "Reconstruction benchmark (S02 notebook): every model, same data, masks, protocol",
        "csv": "tables/cirim.csv",
        "cost": "tables/cirim_cost.csv",
        "value": "ssim_brain",
        "protocol": "SSIM inside the brain mask, per slice (slice-normalised, uniform 7x7 window), "
        "mean +- sd over the test slices; 8 simulated coils, 64x64, equal training steps; "
        "settings marked * were not seen in training",
    },
}


def _front_table(reports: Path, spec: dict[str, str]) -> list[str]:
    import pandas as pd

    f = reports / spec["csv"]
    if not f.exists():
        return []
    df = pd.read_csv(f)
    v = spec["value"]
    settings = list(dict.fromkeys(df["setting"]))
    seen = dict(zip(df["setting"], df["seen_in_training"], strict=False))
    heads = [f"{s}{'' if seen.get(s, True) else '*'}" for s in settings]
    cost = {}
    if (reports / spec["cost"]).exists():
        c = pd.read_csv(reports / spec["cost"])
        cost = {r.method: (int(r.parameters), float(r.ms_per_slice)) for r in c.itertuples()}
    lines = [
        f"### {spec['title']}",
        "",
        f"*Protocol:* {spec['protocol']}.",
        "",
        "| method | " + " | ".join(heads) + " | parameters | ms / slice |",
        "|---|" + "---|" * (len(heads) + 2),
    ]
    for method in dict.fromkeys(df["method"]):
        rows = df[df["method"] == method].set_index("setting")
        cells = [
            f"{rows.at[s, v + '_mean']:.3f} +- {rows.at[s, v + '_sd']:.3f}"
            if s in rows.index
            else "-"
            for s in settings
        ]
        p, ms = cost.get(method, ("-", None))
        lines.append(
            f"| {method} | " + " | ".join(cells) + f" | {p} | "
            f"{'-' if ms is None else f'{ms:.1f}'} |"
        )
    return lines + [""]


def render(reports: Path | None = None) -> str:
    """The front page's Markdown."""
    reports = reports or paths.REPORTS
    metrics = load_metrics(reports)
    catalogue = load_catalogue()
    done = sum(1 for p in catalogue if p["id"] in metrics)
    lines = [
        "# mricompendium: does the paper's claim hold?",
        "",
        "Each row is one paper. *Ours* is measured by its notebook at the `params.yaml` size",
        "on the embedded data (simulated k-space from real anatomy; see each notebook), and the",
        "verdict is computed by code from paired statistics over test cases",
        "(`mricompendium.claims`).",
        "Paper figures are printed only where checked against the paper; others say UNVERIFIED.",
        "Regenerate with `make repro`; this page is written by `python -m mricompendium.report`.",
        "",
        f"{done} of {len(catalogue)} papers have a notebook.",
        "",
        "| S | id | family | claim under test | paper's figure | ours | verdict | runtime |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(p, metrics.get(p["id"])) for p in catalogue]
    lines += [""]
    for nb_id, spec in FRONT_TABLES.items():
        if nb_id in metrics:
            lines += _front_table(reports, spec)
    lines += ["## Results in detail", ""]
    for nb_id, m in metrics.items():
        lines += _details(nb_id, m)
    lines += ["## Benchmarks", ""] + _benchmarks(reports) + [""]
    return "\n".join(lines)


def main() -> int:
    atomic_write_text(paths.REPORTS / "README.md", render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
