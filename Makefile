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

.PHONY: setup data repro test unit nbval lab bench lint clean stages new

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

repro: setup data
	$(VENV)/bin/dvc repro

unit: setup
	$(NETGUARD) $(PY) -m pytest tests

nbval: setup data
	$(NETGUARD) $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

test: setup data
	$(NETGUARD) $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env

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
