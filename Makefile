# Parley: `make run` serves on the embedded SQLite default; `make test` runs lint, types
# and the whole suite (starting a throwaway PostgreSQL on 127.0.0.1).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: install install-dev run test lint typecheck pytest bench clean clients

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Serving needs the runtime dependencies only; tests and benchmarks add the extras.
$(RUN): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $(RUN)

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(RUN) $(DEV)

install: $(RUN)

install-dev: $(DEV)

run: install
	$(BIN)/parley serve

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	bash scripts/run-tests

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	bash scripts/run-tests

# Rebuild the committed JavaScript bundles (clients/js/dist, api/webapp_static) from the
# TypeScript sources; needs node and npm (not needed to run or test Parley).
clients:
	cd clients/js && npm ci --ignore-scripts && node build.mjs
	cd clients/web && npm ci --ignore-scripts && node build.mjs

bench: install-dev
	$(BIN)/parley bench --quick --out bench-out/latest

clean:
	rm -rf $(VENV) .pgtest .mypy_cache .ruff_cache .pytest_cache
