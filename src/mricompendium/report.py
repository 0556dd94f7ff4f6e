"""Gather ``reports/metrics/*.json`` into ``reports/README.md``, the compendium's front page.

Usage: ``python -m mricompendium.report`` (the last DVC stage). The page has one row per paper of
the catalogue (``catalogue.yaml``), then for each notebook a short results section: the verdict
and its reasons in words, the scale and the data in one line each, the comparison table (effect
[95 % CI], P(A > B), Holm p, outcome), where groups disagree, the paper's figures with their
source (UNVERIFIED exactly where ``references.yaml`` says so), what would settle an inconclusive
verdict, the effect-vs-budget plot and the notebook's key figures; last, the benchmark table.
It reads JSON only: no verdict is computed here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from mricompendium import catalogue, paths, process, publish
from mricompendium.io import atomic_write_text

VERDICT_MARK = {
    "reproduced": "reproduced",
    "partial": "partial",
    "not_reproduced": "**not reproduced**",
    "inconclusive": "*inconclusive*",
}
# What would settle a verdict held back for each kind of reason.
SETTLE = {
    "too few independent units": "more independent units (subjects or volumes), not more slices",
    "under-trained": "a longer training budget, until the validation curves flatten",
    "convergence not judged": "validation curves recorded during training",
    "seed-dependent": "more training seeds and a longer budget",
    "budget-dependent": "a budget at which the effect stops changing",
    "undecided": "more test units: the CI is wider than the smallest effect that matters",
    "did not learn": "a model that learns: a longer budget, a better-conditioned task or a fix",
    "diverged": "a stable training run (learning rate, precision, gradient clipping)",
    "non-finite validation": "a validation metric that is defined on every validation case",
}


def load_catalogue() -> list[dict[str, Any]]:
    """The paper catalogue shipped with the package (S-number, id, family, claim, ...)."""
    return catalogue.entries()


class ReportError(ValueError):
    """A report input that cannot be read: ``<file>: <problem>``."""


def _read_json(f: Path) -> Any:
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{process.show(f)}: not valid JSON ({exc})") from exc


def load_metrics(reports: Path) -> dict[str, dict[str, Any]]:
    """Every ``reports/metrics/<id>.json``, keyed by id; a broken file is an error naming it."""
    out = {}
    for f in sorted((reports / "metrics").glob("*.json")):
        data = _read_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("verdict"), str):
            raise ReportError(f"{process.show(f)}: not a metrics record (no verdict)")
        out[data.get("id", f.stem)] = {**data, "_file": process.show(f)}
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(x: Any, fmt: str = ".3f") -> str:
    return f"{x:{fmt}}" if isinstance(x, int | float) else "-"


KIND_MARK = {"paper": "", "author_file": " [authors' code, not the paper]",
             "other": " [another code base]"}  # fmt: skip


def _figure_text(f: dict[str, Any]) -> str:
    what = " ".join(x for x in (f.get("method"), f.get("metric"), f.get("setting")) if x)
    mark = "" if f.get("verified") else " UNVERIFIED"
    return f"{what} {f.get('value')}{mark}{KIND_MARK.get(str(f.get('kind')), '')}"


def _paper_cell(paper: dict[str, Any], m: dict[str, Any] | None) -> str:
    figures = ((m or {}).get("paper") or {}).get("figures")
    if figures:
        shown = "; ".join(_figure_text(f) for f in figures[:3])
        more = f" (+{len(figures) - 3} more)" if len(figures) > 3 else ""
        return _cell(shown + more)
    text = paper.get("paper_figure", "")
    if not text:
        return "-"
    return _cell(f"{text} (not yet checked)")


def _ours_cell(m: dict[str, Any]) -> str:
    comps = [c for c in m.get("comparisons", []) if c.get("role") == "primary"]
    if comps and "effect" in comps[0]:
        c = comps[0]
        more = f" (+{len(comps) - 1} primary)" if len(comps) > 1 else ""
        return _cell(
            f"{c['comparison']}: {c['metric']} {_num(c['effect'], '+.3f')} "
            f"[{_num(c['ci_low'], '+.3f')}, {_num(c['ci_high'], '+.3f')}]{more}"
        )
    vals = (m.get("ours") or {}).get("values") or {}
    items = [f"{k} {_num(v)}" for k, v in list(vals.items())[:3]]
    return _cell(f"{(m.get('ours') or {}).get('metric', '')}: " + "; ".join(items))


def _verdict_text(m: dict[str, Any]) -> str:
    """The verdict in words, "on a proxy claim" when the tested comparison is not the paper's."""
    verdict = VERDICT_MARK.get(m["verdict"], m["verdict"])
    if (m.get("declaration") or {}).get("proxy"):
        verdict += ", on a proxy claim"
    if m.get("smoke"):
        verdict += " (smoke run)"
    return verdict


def floor_summary(m: dict[str, Any]) -> str:
    """Whether every primary model beat its floor: "beat floor", "did not learn: ...", or "-"."""
    checks = [(c, f) for c in m.get("comparisons") or [] if c.get("role") == "primary"
              for f in c.get("floor_check") or []]  # fmt: skip
    primaries = [c for c in m.get("comparisons") or [] if c.get("role") == "primary"]
    if not primaries or any(c.get("floor") in (None, "") for c in primaries):
        return "no floor declared"
    failed = sorted({f["method"] for _, f in checks if not f.get("learned")})
    if failed:
        return "did not learn: " + ", ".join(failed)
    return "beat floor" if checks else "-"


def _row(paper: dict[str, Any], m: dict[str, Any] | None) -> str:
    claim = _cell((m or {}).get("claim") or paper.get("claim", ""))
    if m is None:
        cells = [paper["s"], paper["id"], paper["family"], claim, _paper_cell(paper, None),
                 "not yet", "-", "not yet", "-"]  # fmt: skip
    else:
        cells = [paper["s"], f"[{paper['id']}](#{paper['s'].lower()}-{paper['id']})",
                 paper["family"], claim, _paper_cell(paper, m), _ours_cell(m),
                 _cell(floor_summary(m)), _verdict_text(m),
                 f"{m.get('runtime_s', 0):.0f} s"]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _comparison_table(m: dict[str, Any]) -> list[str]:
    comps = [c for c in m.get("comparisons", []) if "effect" in c and "role" in c]
    if not comps:
        return [f"*Evidence:* {_cell(m.get('evidence', ''))}", ""]
    lines = ["| role | comparison | metric | effect [95% CI] | P(A>B) | Holm p | units | outcome |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in comps:
        lines.append(
            f"| {c['role']} | {_cell(c['comparison'])} | {c['metric']} | "
            f"{_num(c['effect'], '+.3f')} [{_num(c['ci_low'], '+.3f')}, "
            f"{_num(c['ci_high'], '+.3f')}] | {_num(c['p_a_gt_b'], '.2f')} | "
            f"{_num(c['p_holm'], '.2g')} | {c['units']} | {c['outcome']} |"
        )
    lines.append("")
    for c in comps:
        lines += [f"- *{_cell(c['comparison'])}:* {_cell(x)}" for x in c.get("caveats") or []]
    return lines + ([""] if any(c.get("caveats") for c in comps) else [])


def _claim_lines(m: dict[str, Any]) -> list[str]:
    """The paper's claim, the tested claim when it differs, proxy label and deviations."""
    decl = m.get("declaration") or {}
    tested = _cell(m["claim"])
    paper_claim = decl.get("paper_claim")
    out = []
    if paper_claim and paper_claim != m.get("claim"):
        tag = " (a proxy)" if decl.get("proxy") else ""
        out += [f"*The paper's claim (our words).* {_cell(paper_claim)}", "",
                f"*Tested here{tag}.* {tested}", ""]  # fmt: skip
    else:
        proxy = " (a proxy)" if decl.get("proxy") else ""
        out += [f"*Claim (our words){proxy}.* {tested}", ""]
    devs = decl.get("deviations")
    if isinstance(devs, list):
        out += ["*What differs from the paper:*" if devs else "*What differs from the paper:* "
                "nothing declared", ""]  # fmt: skip
        out += [f"- {_cell(d)}" for d in devs] + ([""] if devs else [])
    for c in m.get("checks") or []:
        op = ">=" if c.get("higher_is_better") else "<="
        state = "holds" if c.get("holds") else "fails"
        value = _num(c.get("value"), ".4g")
        out += [f"*Exact check ({c.get('role')}):* {_cell(c.get('name'))} {value} "
                f"(needs {op} {c.get('limit')}): {state}", ""]  # fmt: skip
    return out


def _floor_lines(m: dict[str, Any]) -> list[str]:
    """Each primary model against its floor, and degenerate outputs, for the section."""
    out = []
    for c in m.get("comparisons") or []:
        if c.get("role") != "primary":
            continue
        if c.get("floor") in (None, ""):
            out.append(f"- *Floor of {_cell(c['comparison'])}:* none declared")
            continue
        parts = [f"{f['method']}{'' if f['seed'] < 0 else ' seed ' + str(f['seed'])} "
                 f"{_num(f['effect'], '+.3f')}{'' if f.get('learned') else ' (did not learn)'}"
                 for f in c.get("floor_check") or []]  # fmt: skip
        out.append(f"- *Floor of {_cell(c['comparison'])}* ({c['floor']}, to beat by "
                   f"{c.get('smallest_effect')} {c['metric']}): " + ", ".join(parts))  # fmt: skip
    flagged = [d for d in m.get("degenerate") or [] if d.get("degenerate")]
    total = sum(1 for _ in m.get("degenerate") or [])
    if total:
        if flagged:
            text = "; ".join(f"{d['method']} seed {d['seed']} @ {d['setting']}: "
                             f"{d['degenerate']} of {d['cases']}" for d in flagged)  # fmt: skip
        else:
            text = "none"
        out.append(f"- *Degenerate outputs (cases):* {_cell(text)}")
    return out + ([""] if out else [])


def _scale_line(m: dict[str, Any]) -> str:
    scale = m.get("scale") or {}
    items = [f"{k.replace('_', ' ')} {v}" for k, v in scale.items()
             if isinstance(v, str | int | float | bool)]  # fmt: skip
    return "*Scale:* " + (", ".join(items) if items else "not recorded")


def _data_line(m: dict[str, Any]) -> str:
    d = m.get("data") or {}
    if not d:
        return "*Data:* " + _cell((m.get("protocol") or {}).get("data", "not recorded"))
    where = f" from `{d['path']}`" if d.get("path") else ""
    fp = f" (sha256 {d['fingerprint'][:12]}...)" if d.get("fingerprint") else ""
    return f"*Data ({d.get('kind')}{where}{fp}):* {_cell(d.get('description', ''))}"


def _paper_figures(m: dict[str, Any]) -> list[str]:
    figures = (m.get("paper") or {}).get("figures") or []
    if not figures:
        source = (m.get("paper") or {}).get("source")
        return [f"*Paper's figures:* {_cell(source or 'none recorded')}", ""]
    lines = ["*Paper's figures (from `references.yaml`):*", ""]
    for f in figures:
        mark = "" if f.get("verified") else "UNVERIFIED; "
        kind = str(f.get("kind", "")).replace("_", " ")
        lines.append(f"- {_cell(_figure_text(f))} ({mark}{kind}: {_cell(f.get('source', ''))})")
    return lines + [""]


def units_to_decide(c: dict[str, Any]) -> int | None:
    """Test units at which an undecided comparison's CI would no longer straddle its boundary.

    A rough extrapolation: the CI half-width shrinks as 1/sqrt(units) and the effect stays where
    it is. The boundary is ``-margin`` (non-inferiority), else the smallest effect that matters
    when the effect is below it, else zero. ``None`` when the CI or the distance is not usable.
    """
    try:
        effect, low, high, n = (float(c[k]) for k in ("effect", "ci_low", "ci_high", "units"))
    except (KeyError, TypeError, ValueError):
        return None
    margin, smallest = float(c.get("margin") or 0.0), float(c.get("smallest_effect") or 0.0)
    if margin > 0:
        boundary = -margin
    else:
        boundary = smallest if effect < smallest else 0.0
    distance, half = abs(effect - boundary), (high - low) / 2
    if not (math.isfinite(distance) and math.isfinite(half)) or distance <= 0 or n < 1:
        return None
    return max(int(n) + 1, math.ceil(n * (half / distance) ** 2))


def _settle(m: dict[str, Any]) -> list[str]:
    reasons = m.get("verdict_reasons") or []
    wants = [text for key, text in SETTLE.items() if any(r.startswith(key) for r in reasons)]
    if not wants:
        return []
    extra = []
    for c in m.get("comparisons") or []:
        if c.get("role") == "primary" and c.get("outcome") == "undecided":
            need = units_to_decide(c)
            if need is not None:
                extra.append(
                    f"{c['comparison']}: about {need} units at the present effect and spread "
                    f"(now {int(c['units'])}; a 1/sqrt(n) extrapolation)"
                )
    text = "; ".join(dict.fromkeys(wants))
    lines = [f"*What would settle it:* {text}.", ""]
    return lines + [f"- {_cell(e)}" for e in extra] + ([""] if extra else [])


def _details(nb_id: str, m: dict[str, Any], paper: dict[str, Any], reports: Path) -> list[str]:
    title = paper.get("title", "")
    verdict = VERDICT_MARK.get(m["verdict"], m["verdict"])
    smoke = " (smoke run, not a result)" if m.get("smoke") else ""
    out = [f"### {m.get('seed_paper', '')} {nb_id}", "", f"*{_cell(title)}*", ""]
    out += _claim_lines(m)
    verdict = _verdict_text(m) if not smoke else verdict
    out += [f"**Verdict: {verdict}**{smoke}"]
    reasons = m.get("verdict_reasons") or []
    out += [f"- {_cell(r)}" for r in reasons] + [""]
    out += [_scale_line(m), "", _data_line(m), ""]
    out += _comparison_table(m)
    out += _floor_lines(m)
    out += [f"- {_cell(n)}" for n in m.get("notes") or []]
    out += [""] if m.get("notes") else []
    out += _paper_figures(m)
    if m["verdict"] == "inconclusive":
        out += _settle(m)
    diff = (m.get("extra") or {}).get("differences")
    if diff:
        out += [f"*What differs from the paper:* {_cell(diff)}", ""]
    if (reports / "verdicts" / f"{nb_id}.png").exists():
        out += [f"![{nb_id}: primary effect vs training budget](verdicts/{nb_id}.png)", ""]
    for fig in (m.get("extra") or {}).get("key_figures", []):
        if isinstance(fig, str) and (reports / fig).is_file():  # links only what exists
            out += [f"![{nb_id}: {Path(fig).stem}]({fig})", ""]
    if (reports / "notebooks" / f"{nb_id}.ipynb").is_file():
        out += [f"Executed notebook: [notebooks/{nb_id}.ipynb](notebooks/{nb_id}.ipynb)", ""]
    else:
        out += ["Executed notebook: none yet (`dvc repro` writes it)", ""]
    return out


def _benchmarks(reports: Path) -> list[str]:
    f = reports / "benchmarks.json"
    if not f.exists():
        return ["No benchmark run recorded yet (`make bench`)."]
    data = _read_json(f)
    if not isinstance(data, dict) or not isinstance(data.get("rows", []), list):
        raise ReportError(f"{process.show(f)}: expected an object with a list of rows")
    lines = [
        f"Measured by `{data.get('command', 'benchmarks/run.py')}` on "
        f"{data.get('machine', 'unknown machine')}.",
        "",
        "| benchmark | value | unit | note |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(data.get("rows", [])):
        if not isinstance(r, dict) or "name" not in r:
            raise ReportError(f"{process.show(f)}: rows[{i}] is not a row with a name")
        v = r.get("value")
        v = f"{v:.4g}" if isinstance(v, float) else v
        lines.append(
            f"| {_cell(r['name'])} | {v} | {r.get('unit', '')} | {_cell(r.get('note', ''))} |"
        )
    return lines


INTRO = """\
# mricompendium: does the paper's claim hold?

Each row is one paper. Its notebook tests the paper's central claim at a scale that runs on two CPU
cores, on data that ship offline (simulated from real anatomy; each section says what) or on a
user's files. The verdict is computed by code (`mricompendium.claims`) from per-case results and a
declared claim: comparisons with a smallest effect that matters, clustered by the unit of
independence (a subject or source volume, never a slice) with training seeds as a second random
factor, Holm-corrected; each primary model must first beat a trivial floor (zero-filled, identity,
empty mask, chance) by that effect. The engine's own calibration is at the end. It reads:
**reproduced** (every comparison holds), **partial** (the primary comparisons hold, some secondary
does not), **not reproduced** (a primary comparison fails: its CI rules out the claimed effect),
**inconclusive** (this scale cannot settle it: too few units, a model that did not beat its floor,
under-trained or diverged, seed- or budget-dependent, or undecided; the reasons are listed). "On a
proxy claim" marks a verdict on a comparison that is not the paper's own (each section lists what
differs). Paper figures come from
`references.yaml` with their source, marked UNVERIFIED where not checked against the paper.
Regenerate with `make repro`; this page is written by `python -m mricompendium.report`.
"""


def render(reports: Path | None = None) -> str:
    """The front page's Markdown."""
    reports = reports or paths.REPORTS
    metrics = load_metrics(reports)
    catalogue = load_catalogue()
    by_id = {p["id"]: p for p in catalogue}
    done = sum(1 for p in catalogue if p["id"] in metrics)
    tally = {v: sum(m.get("verdict") == v for m in metrics.values()) for v in VERDICT_MARK}
    lines = [INTRO, f"{done} of {len(catalogue)} papers have a notebook: "
             + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in tally.items() if n) + ".", "",
             "| S | notebook | family | claim under test | paper's figure | ours (primary effect) "
             "| floor | verdict | runtime |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    order = sorted(catalogue, key=lambda p: (p["id"] not in metrics, p.get("wave", 9), p["s"]))
    for p in order:
        lines += _guarded(metrics.get(p["id"]), _row, p, metrics.get(p["id"]))
    lines += ["", "## Results", ""]
    for p in order:
        if p["id"] in metrics:
            m = metrics[p["id"]]
            lines += _guarded(m, _details, p["id"], m, by_id[p["id"]], reports)
    lines += ["## Calibration of the verdict engine", ""] + calibration_section(reports) + [""]
    lines += ["## Benchmarks", ""] + _benchmarks(reports) + [""]
    return "\n".join(lines)


def calibration_section(reports: Path) -> list[str]:
    """The engine's calibration (``reports/calibration.json``) as Markdown: summary and table."""
    f = reports / "calibration.json"
    if not f.exists():
        return ["Not run yet (`python -m mricompendium.claims.calibrate`)."]
    try:
        data = json.loads(f.read_text())
        return calibration_markdown(data)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return [f"`{f.name}` could not be read ({type(exc).__name__}); rerun the calibration."]


def calibration_markdown(data: dict[str, Any]) -> list[str]:
    """Summary line and per-design table of a calibration record."""
    s = data["summary"]
    d = data["smallest_effect"]
    lines = [
        f"Simulated results with known answers through the same `evaluate` the notebooks use "
        f"(`python -m mricompendium.claims.calibrate`; smallest effect {d:g}, case SD "
        f"{data['case_sd']:g}, 3 training seeds per model). Over the grid: false holds at most "
        f"**{100 * s['false_holds_max']:.1f} %** under the null (goal <= 5 %), 95 % interval "
        f"coverage at least **{100 * s['coverage_min']:.1f} %** (goal >= 93 %), power at twice "
        f"the smallest effect at least **{100 * s['power_min']:.1f} %** from 12 units without a "
        f"seed offset (goal >= 80 %).",
        "",
        "| units | slices | ICC | seed SD | true effect | data sets | holds | coverage "
        "| CI width |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["designs"]:
        lines.append(
            f"| {r['units']} | {r['slices']} | {r['icc']:g} | {r['seed_sd']:g} x | "
            f"{r['effect']:g} x | {r['reps']} | {100 * r['holds']:.1f} % | "
            f"{100 * r['coverage']:.1f} % | {r['mean_ci_width']:.4f} |"
        )
    lines.append("")
    for row in data.get("seeds_for_power") or []:
        by = ", ".join(f"{k} seeds {100 * v:.0f} %" for k, v in row["power_by_seeds"].items())
        need = row["seeds_for_80pct"]
        lines.append(
            f"- With a seed offset as large as the smallest effect, {row['units']} units x 5 "
            f"slices: power {by}; 80 % needs "
            + (f"{need} seeds." if need else "more seeds than tried.")
        )
    for r in data.get("skewed_noninferiority_null") or []:
        side = "right" if r["skew"] > 0 else "left"
        lines.append(
            f"- Skewed unit differences (centred exponential, {side}) at the non-inferiority "
            f"boundary, {r['units']} units: holds {100 * r['holds']:.1f} % (nominal 5 %)."
        )
    return lines


def _guarded(m: dict[str, Any] | None, fn: Any, *args: Any) -> list[str]:
    """``fn(*args)`` as a list of lines; a malformed record is a :class:`ReportError` naming it."""
    try:
        out = fn(*args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ReportError):
            raise
        where = (m or {}).get("_file", "metrics")
        problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ReportError(f"{where}: cannot be shown ({type(exc).__name__}: {problem})") from exc
    return [out] if isinstance(out, str) else out


def main(argv: list[str] | None = None) -> int:
    """Write ``reports/README.md``; on a bad input print one line and a log, keep the old page."""
    try:
        with process.signals():
            for tx in sorted((paths.REPORTS / publish.TX).glob("*")):  # a switch a kill cut
                publish.recover_if_free(tx.name, paths.REPORTS)
            text = render()
            atomic_write_text(paths.REPORTS / "README.md", text)
    except KeyboardInterrupt as exc:
        print("report: interrupted: reports/README.md unchanged", file=sys.stderr)
        return exc.exit_code if isinstance(exc, process.Interrupted) else 130
    except Exception as exc:  # noqa: BLE001 - one line on the terminal, the traceback in a log
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        line = text if isinstance(exc, ReportError) else f"report: {type(exc).__name__}: {text}"
        log = process.write_log("report", line, exc)
        print(f"{line}\nlog: {process.show(log)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
