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
# make repro JOBS=2: notebooks at once through DVC's experiment queue: one queued experiment per
# notebook stage (a temporary copy of the repository with the ignored data copied in), run by
# `dvc exp run --run-all --jobs`, their results merged into the work tree (git merge --squash of
# the experiments' branches), then verdicts and report by `dvc repro`. Needs a clean work tree.
# PYTHONPATH=src: each queued run imports the package from its own copy (a relative path, resolved
# in the copy), not from the work tree the editable install points at.
# FORCE=1: rerun every notebook stage (dvc repro -f -s <ids> / dvc exp run -f -s <id>), e.g. to
# time a full run; the data and calibration stages rerun only when changed (in the queue, forcing
# them would rebuild the data once per notebook), the verdicts and report after the notebooks.
PROFILE ?=
JOBS ?= 1
FORCE ?=
DVC_FORCE := $(if $(FORCE),-f,)
NOTEBOOK_FORCE := $(if $(FORCE),-f -s,)
NOTEBOOK_IDS := $(sort $(notdir $(basename $(wildcard notebooks/*/*.ipynb))))
QUEUE_DATA := data/embedded data/fmri data/rtmri/ci data/rtmri/full
QUEUE_COPY = $(foreach d,$(QUEUE_DATA),$(if $(wildcard $(d)),-C $(d)))
PROFILE_ARGS = $(if $(PROFILE),$$($(PY) -m mricompendium.profiles $(PROFILE) --shell),)

repro: setup data
ifneq ($(PROFILE),)
	$(PY) -m mricompendium.profiles $(PROFILE) --check
endif
ifeq ($(JOBS),1)
ifeq ($(PROFILE),)
ifneq ($(FORCE),)
	$(VENV)/bin/dvc repro $(NOTEBOOK_FORCE) $(NOTEBOOK_IDS)
endif
	$(VENV)/bin/dvc repro
else
	eval $(VENV)/bin/dvc exp run $(DVC_FORCE) -n $(PROFILE)-$$(date +%Y%m%d-%H%M%S) $(PROFILE_ARGS)
endif
else
	git diff --quiet HEAD -- || { echo "make repro JOBS=$(JOBS): commit or stash first"; exit 1; }
	# the stages upstream of the notebooks first, here, so that each copy gets their outputs
	$(VENV)/bin/dvc repro data rtmri_full
	stamp=$$(date +%Y%m%d-%H%M%S); \
	for id in $(NOTEBOOK_IDS); do \
	  eval $(VENV)/bin/dvc exp run --queue $(NOTEBOOK_FORCE) -n "$$id-$$stamp" $(QUEUE_COPY) \
	    $(PROFILE_ARGS) $$id \
	    || exit 1; \
	done; \
	PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(VENV)/bin/dvc exp run --run-all --jobs $(JOBS) \
	  || exit 1; \
	if $(VENV)/bin/dvc queue status | grep -E -- "-$$stamp +.*Failed"; then \
	  echo "failed (dvc queue logs <name> shows why); nothing merged"; exit 1; fi; \
	for id in $(NOTEBOOK_IDS); do \
	  $(VENV)/bin/dvc exp branch "$$id-$$stamp" "exp-$$id-$$stamp" >/dev/null || exit 1; \
	done; \
	git merge --squash $$(for id in $(NOTEBOOK_IDS); do echo "exp-$$id-$$stamp"; done) || exit 1; \
	for id in $(NOTEBOOK_IDS); do git branch -q -D "exp-$$id-$$stamp"; done
	$(VENV)/bin/dvc repro
endif

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
