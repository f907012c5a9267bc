# The README's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Seconds one notebook cell may take under nbval before it counts as stuck.
CELL_TIMEOUT ?= 120

.PHONY: setup lab test lint run bench slides clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

lab: setup
	$(BIN)/course doctor
	$(BIN)/course lab

lint: setup
	$(BIN)/ruff check course_lib tests notebooks

test: lint
	$(BIN)/pytest tests
	$(BIN)/pytest --nbval-lax --nbval-cell-timeout=$(CELL_TIMEOUT) notebooks

run: setup
	$(BIN)/course run

bench: setup
	$(BIN)/course bench idempotency
	$(BIN)/course bench jitter
	$(BIN)/course bench events
	$(BIN)/course bench orders
	$(BIN)/course bench sql
	$(BIN)/course bench s3

slides: setup
	$(BIN)/course slides

clean:
	rm -rf build .pytest_cache .ruff_cache
