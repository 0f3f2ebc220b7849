# Parley: `make run` serves on the embedded SQLite default; `make test` runs lint, types
# and the whole suite (starting a throwaway PostgreSQL on 127.0.0.1).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/parley serve

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install
	bash scripts/run-tests

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash scripts/run-tests

bench: install
	$(BIN)/parley bench --quick --out bench-out/latest

clean:
	rm -rf $(VENV) .pgtest .mypy_cache .ruff_cache .pytest_cache
