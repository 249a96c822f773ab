# One command per task. Everything runs in ./.venv, created on first use with python3.11+.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := build/compiled
# The extras the showcase (examples/showcase) imports: `make demo` installs only these.
DEMO_EXTRAS := templates,db,settings,sessions,security,cache,mail,storage,auth,admin
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: setup test test-compiled wheel lint demo fresh-install bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## make test: install everything into .venv and run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make wheel: the compiled (mypyc) wheel in dist/, built from a copy of the tree (the mypyc
## hook writes its extension modules next to the sources it compiles)
wheel: $(STAMP)
	rm -rf build/wheel-tree dist/celeris-*.whl
	mkdir -p build/wheel-tree
	cp -r src pyproject.toml README.md build/wheel-tree/
	find build/wheel-tree \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
	HATCH_BUILD_HOOKS_ENABLE=1 $(BIN)/python -m pip wheel --no-deps -q -w dist build/wheel-tree

## make test-compiled: the whole suite again, against the compiled build
test-compiled: wheel
	rm -rf $(COMPILED)
	$(BIN)/python -m pip install -q --no-deps --target $(COMPILED) dist/celeris-*.whl
	CELERIS_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(BIN)/python -m pytest $(PYTEST_ARGS)

## make lint: ruff and mypy (strict on src/celeris)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[$(DEMO_EXTRAS)]'
	touch $(DEMO_STAMP)

## make demo: run the showcase app on http://127.0.0.1:8000 with its embedded defaults (installs
## celeris with the showcase's extras only, DEMO_EXTRAS, not the development toolchain)
demo: $(DEMO_STAMP)
	@echo "celeris showcase on http://127.0.0.1:8000"
	$(BIN)/python -m celeris serve examples.showcase.app:app --host 127.0.0.1 --port 8000

## make fresh-install: the wheel in empty venvs, with no extras and each extra alone (.ci/fresh-install)
fresh-install:
	.ci/fresh-install

## make bench: the full benchmark suite (see bench/README.md); bench-quick is CI's short form
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
