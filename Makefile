# One command per task. Everything runs in ./.venv, created on first use with python3.11+.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo bench bench-quick clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## make test: install everything into .venv and run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make lint: ruff and mypy (strict on src/celeris)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

## make demo: run the showcase app on http://127.0.0.1:8000 with its embedded defaults
demo: $(STAMP)
	@echo "celeris showcase on http://127.0.0.1:8000"
	$(BIN)/python -m celeris serve examples.showcase.app:app --host 127.0.0.1 --port 8000

## make bench: the full benchmark suite (see bench/README.md); bench-quick is CI's short form
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
