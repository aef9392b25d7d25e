# Mesh for Data — developer entry points. `make test` and `make demo` set up everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CACHE_DIR ?= $(HOME)/.cache/m4d
export M4D_CACHE_DIR := $(CACHE_DIR)

.PHONY: install lint typecheck unit test bench crds clean demo

install: $(STAMP)

# pip names each package as it fetches it (the first install takes a few minutes); setuptools' notice that
# an editable install uses an import finder is information only, so it is silenced.
$(STAMP): pyproject.toml setup.py
	@echo "== installing m4d and its dependencies into $(VENV) (first time: a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	set -o pipefail; PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --progress-bar off -e '.[dev]' \
		| { grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed)' || true; }
	touch $(STAMP)
	@echo "== installed: $(BIN)/m4d"

lint: install
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --check --no-cache .

# mypy -p m4d, with pyproject's folder mapping (generator/ is m4d.generator, ...): see tools/typecheck.py.
typecheck: install
	$(BIN)/python tools/typecheck.py

unit: install
	$(BIN)/pytest tests/unit

# The CRDs, and their copies in the Helm charts (which cannot read outside their own folder).
crds: install
	$(BIN)/m4d crds --out deploy/crds
	$(BIN)/m4d crds --out deploy/charts/m4d-hub/files/crds
	$(BIN)/m4d crds --out deploy/charts/m4d-agent/files/crds

# Every benchmark prints its figure as a ratio against a baseline measured in the same run.
bench: install
	set -e; for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

# The whole flow on this machine: an embedded hub, two members, GitOps, agents and modules; governed data
# read over Arrow Flight at the end. `.venv/bin/m4d demo --keep` leaves it running (`m4d down` stops it).
demo: install
	$(BIN)/m4d demo

clean:
	rm -rf $(VENV) .m4d .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Each component keeps its own targets in mk/<component>.mk (testenv, bench, demo, ...); a target that
# provides test servers adds itself to SERVERS.
SERVERS :=
include $(wildcard mk/*.mk)

# The whole suite. The test servers are built (or found in $(CACHE_DIR)) while the virtualenv is installed
# and lint, types and the unit tier run, which need no server; then the other tiers (pyproject's testpaths)
# run against them. PYTEST_ARGS (options such as -x or -k) go to both pytest runs; the second lists its 25
# slowest tests (where the cached run's time goes: docs/testing.md).
.PHONY: servers checks

test:
	$(MAKE) --no-print-directory -j2 servers checks
	$(BIN)/pytest --ignore=tests/unit --durations=25 $(PYTEST_ARGS)

servers: $(SERVERS)

checks: lint typecheck
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)
