# Every target creates .venv when missing and reinstalls only when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean wheel-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m testsupport.demo

# Four workers (pytest-xdist) even on two cores: most of a test's time is spent waiting on an emulator or a
# clock, and each worker has its own SQLite files and PostgreSQL database. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The runtime wheel as an operator gets it: built, installed in a fresh venv outside the checkout, then
# `mailmagnet --version`, `manifest` and a short multi-workspace `serve` against the emulators (.ci/run runs it).
wheel-check: $(STAMP)
	$(BIN)/python -m testsupport.wheel_check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache mailmagnet.db demo.db
