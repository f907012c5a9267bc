# The README's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the notebooks need (a room downloads it at once): `make lab`. The test tools come with `make test`.
LAB_STAMP := $(VENV)/.installed-lab
# Seconds one notebook cell may take under nbval before it counts as stuck.
CELL_TIMEOUT ?= 120

# The workshop hub's environment: from a system Python, since every learner's account runs it (a Python
# under /root or a home folder is closed to them).
HUB_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
HUB_VENV := build/hub/venv
HUB_STAMP := $(HUB_VENV)/.installed

.PHONY: setup lab-setup lab hub-setup hub test test-fast lint typecheck run bench slides clean

# The full install: the course and its test tools.
setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP) $(LAB_STAMP)

# The learner's install: the course and what its notebooks run, no test tools.
lab-setup: $(LAB_STAMP)

$(LAB_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e .
	touch $(LAB_STAMP)

lab: lab-setup
	$(BIN)/course doctor
	$(BIN)/course lab

# The workshop hub: JupyterHub, its authenticator and idle culler, and configurable-http-proxy from npm.
hub-setup: $(HUB_STAMP)

$(HUB_STAMP): pyproject.toml deploy/hub/package-lock.json
	test -x $(HUB_VENV)/bin/python || $(HUB_PYTHON) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/python -m pip install --disable-pip-version-check -q -e '.[hub]'
	npm ci --prefix deploy/hub --no-audit --no-fund
	touch $(HUB_STAMP)

hub: hub-setup
	$(HUB_VENV)/bin/course hub --ip 0.0.0.0

lint: setup
	$(BIN)/ruff check course_lib tests notebooks

typecheck: setup
	$(BIN)/mypy

test: lint typecheck hub-setup
	$(BIN)/pytest tests
	$(BIN)/pytest --nbval-lax --nbval-cell-timeout=$(CELL_TIMEOUT) notebooks

# The inner loop: lint, types, and the unit tests on the embedded backends (no services, no browser,
# no notebooks), in about two minutes on 2 cores. `make test` is what CI runs.
test-fast: lint typecheck
	COURSE_FAST=1 COURSE_BACKENDS=embedded COURSE_REQUIRE_SERVICES= $(BIN)/pytest tests -q

run: lab-setup
	$(BIN)/course run

bench: lab-setup
	$(BIN)/course bench idempotency
	$(BIN)/course bench jitter
	$(BIN)/course bench events
	$(BIN)/course bench orders
	$(BIN)/course bench guards
	$(BIN)/course bench sql
	$(BIN)/course bench s3

slides: lab-setup
	$(BIN)/course slides

clean:
	rm -rf build .pytest_cache .ruff_cache
