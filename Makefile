# mricompendium: `make repro` reruns the compendium, `make test` checks it. Both set up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0
# One torch/BLAS thread: the models are small, one thread is as fast on two cores, immune to
# contention, and makes every run (nbval's checked outputs included) bit-for-bit repeatable.
# Override with `make repro OMP_NUM_THREADS=2`.
export OMP_NUM_THREADS ?= 1
# DVC stage commands call `python`: make it the project venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
EUID ?= $(shell id -u)
# Tests run behind a network guard (tests/netguard/sitecustomize.py, kernels included): any
# connection outside loopback is refused and recorded; pytest then fails (tests/conftest.py).
NETGUARD = PYTHONPATH="$(CURDIR)/tests/netguard$${PYTHONPATH:+:$$PYTHONPATH}" \
	MRICOMPENDIUM_NETGUARD_LOG="$(CURDIR)/.scratch/netguard.log"

.PHONY: setup data repro test unit realdata nbval lab bench lint clean stages new

setup: $(STAMP)

# Idempotent: reinstalls only when pyproject.toml or constraints.txt changed.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,speech]"
	# fastmri only for the E2E-VarNet cross-check (its own pins would downgrade the stack)
	$(PY) -m pip install -q --no-deps fastmri==0.3.0
	$(PY) -m ipykernel install --sys-prefix --name mricompendium \
		--display-name "Python (mricompendium)" >/dev/null
	touch $@

# The embedded data set (offline, deterministic); checked against data.dvc's pinned hash.
data: setup
	$(PY) -m mricompendium.data.build --if-changed
	$(PY) -m mricompendium.data.fmri.build --out data/fmri
	$(PY) -m mricompendium.data.rtmri.build --preset ci --if-changed

# make repro PROFILE=gpu: params.<PROFILE>.yaml over params.yaml, as a DVC experiment
# (dvc exp run -S ++section.key=value ..., recorded by `dvc exp show`; params.yaml then holds it).
# make repro JOBS=2: the notebook stages `dvc status` finds changed run JOBS at once as GNU make
# jobs (each runs its stage's own command, python -m mricompendium.run <id>, in this work tree),
# then `dvc commit` records the ones that finished and `dvc repro` runs the verdicts and report.
# Needs a clean work tree (the deps must not change while the notebooks run: checked before the
# commit). With PROFILE, the profile is first written into params.yaml (DVC's own -S override
# function; no experiment is recorded). DVC's experiment queue (dvc exp run --queue, --run-all
# --jobs) is not used: its second worker died here of a known race of its file-system broker
# (treeverse/dvc#10428), after which the queue ran one notebook at a time.
# FORCE=1: rerun every notebook stage (dvc repro -f -s <ids>, or all ids as jobs), e.g. to time a
# full run; the data and calibration stages rerun only when changed, the verdicts and report after.
PROFILE ?=
JOBS ?= 1
FORCE ?=
DVC_FORCE := $(if $(FORCE),-f,)
NOTEBOOK_IDS := $(sort $(notdir $(basename $(wildcard notebooks/*/*.ipynb))))
PROFILE_ARGS = $(if $(PROFILE),$$($(PY) -m mricompendium.profiles $(PROFILE) --shell),)
WATCHED := src notebooks params.yaml data.dvc dvc.yaml

repro: setup data
ifneq ($(PROFILE),)
	$(PY) -m mricompendium.profiles $(PROFILE) --check
endif
ifeq ($(JOBS),1)
ifeq ($(PROFILE),)
ifneq ($(FORCE),)
	$(VENV)/bin/dvc repro -f -s $(NOTEBOOK_IDS)
endif
	$(VENV)/bin/dvc repro
else
	eval $(VENV)/bin/dvc exp run $(DVC_FORCE) -n $(PROFILE)-$$(date +%Y%m%d-%H%M%S) $(PROFILE_ARGS)
endif
else
	git diff --quiet HEAD -- || { echo "make repro JOBS=$(JOBS): commit or stash first"; exit 1; }
ifneq ($(PROFILE),)
	$(PY) -m mricompendium.profiles $(PROFILE) --apply
endif
	$(VENV)/bin/dvc repro data rtmri_full
	mkdir -p .scratch && rm -f .scratch/repro-finished
	ids="$(if $(FORCE),$(NOTEBOOK_IDS),$$($(PY) -m mricompendium.stages --stale))"; \
	[ -n "$$ids" ] || { echo "no notebook stage to run"; exit 0; }; \
	echo "running $$(echo $$ids | wc -w) notebooks, $(JOBS) at once: $$ids"; \
	before=$$(git diff HEAD -- $(WATCHED) | md5sum); \
	$(MAKE) --no-print-directory -k -j$(JOBS) $$(printf 'notebook/%s ' $$ids); failed=$$?; \
	[ "$$(git diff HEAD -- $(WATCHED) | md5sum)" = "$$before" ] \
	  || { echo "$(WATCHED) changed during the run: nothing recorded"; exit 1; }; \
	done_ids=$$(cat .scratch/repro-finished 2>/dev/null); \
	[ -z "$$done_ids" ] || $(VENV)/bin/dvc commit -f $$done_ids || exit 1; \
	[ $$failed -eq 0 ] || { echo "a notebook failed (.scratch/logs/); the others are recorded"; exit 1; }
	$(VENV)/bin/dvc repro
endif

# One notebook stage's command, for the parallel repro above; a finished one is listed for the commit.
notebook/%:
	python -m mricompendium.run $* && echo $* >> .scratch/repro-finished

unit: setup
	$(NETGUARD) $(PY) -m pytest tests -m "not realdata_run"

# One tiny notebook run per real-data format of the README (tests/realdata_runs): minutes.
realdata: setup data
	$(NETGUARD) $(PY) -m pytest tests/realdata_runs -m realdata_run

nbval: setup data
	$(NETGUARD) $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

# TEST_JOBS pytest workers (pytest-xdist); one file per worker at a time, so a notebook's
# cells run in order in one kernel. TEST_JOBS=0 runs everything in this process.
TEST_JOBS ?= 2
test: setup data
	$(NETGUARD) $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -m "not realdata_run" \
		$(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

# Jupyter refuses to run as root without --allow-root (the usual case in a container).
lab: setup data
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(EUID)),--allow-root) $(LAB_ARGS)

bench: setup data
	$(PY) benchmarks/run.py

# dvc.yaml's stages and their dependencies, generated from the notebooks' import closures.
stages: setup
	$(PY) -m mricompendium.stages

# Scaffold a paper from the catalogue: make new ID=scse
new: setup data
	$(PY) -m mricompendium.new $(ID)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf .scratch .pytest_cache
