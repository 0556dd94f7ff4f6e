#!/usr/bin/env bash
# Time a full `make repro` with the notebooks one after another (JOBS=1) and as
# GNU make jobs (JOBS=2, or the jobs given), every notebook stage forced to rerun, each in a scratch
# worktree of HEAD (the work tree here is not touched; the venv is linked, the ignored data
# copied). Run on a quiet machine; writes the times into reports/benchmarks.json (rows
# "make repro ..."), with the load average before each run.
#
#   bash benchmarks/repro_timing.sh [JOBS ...]        # default: 1 2
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[ -x .venv/bin/python ] || { echo "run make setup data first"; exit 1; }
jobs_list=("${@:-1}")
[ $# -gt 0 ] || jobs_list=(1 2)
results=()
for jobs in "${jobs_list[@]}"; do
  scratch=$(mktemp -d)
  git worktree add --quiet --detach "$scratch/repo" HEAD
  ln -s "$root/.venv" "$scratch/repo/.venv"
  for d in data/embedded data/fmri data/rtmri/ci data/rtmri/full; do
    [ -e "$root/$d" ] || continue
    mkdir -p "$scratch/repo/$(dirname "$d")" "$root/.scratch" && cp -a "$root/$d" "$scratch/repo/$d"
  done
  # the scratch copy's own package (not the work tree the editable install points at) and the DVC
  # cache of this repository (so that the copied data count as cached, not as changed outputs)
  export PYTHONPATH="$scratch/repo/src"
  (cd "$scratch/repo" && .venv/bin/dvc cache dir --local "$root/.dvc/cache")
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  # -o setup -o data: the venv and the data are there already (never reinstall or rebuild here)
  make -C "$scratch/repo" -o setup -o data repro JOBS="$jobs" FORCE=1 \
    > "$root/.scratch/repro_timing_jobs$jobs.log" 2>&1 || status=$?
  end=$(date +%s.%N)
  unset PYTHONPATH
  results+=("$jobs $start $end $load ${status:-0}")
  git worktree remove --force "$scratch/repo"
  rm -rf "$scratch"
  unset status
done
printf '%s\n' "${results[@]}" | .venv/bin/python -c '
import json, os, platform, sys
from pathlib import Path
rows = []
for line in sys.stdin:
    jobs, start, end, load, status = line.split()
    wall = float(end) - float(start)
    note = f"every notebook forced (FORCE=1), scratch worktree; load {load} before; exit {status}"
    rows.append({"name": f"make repro JOBS={jobs} (FORCE=1)", "value": float(wall), "unit": "s",
                 "note": note + f"; {platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} CPUs"})
    print(f"JOBS={jobs}: {float(wall):.0f} s (load {load}, exit {status})")
out = Path("reports/benchmarks.json")
data = json.loads(out.read_text()) if out.exists() else {"rows": []}
names = {r["name"] for r in rows}
data["rows"] = [r for r in data.get("rows", []) if r["name"] not in names] + rows
out.write_text(json.dumps(data, indent=2) + "\n")
'
