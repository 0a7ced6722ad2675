# One entry point for humans and CI. `make test` builds the venv on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck pytest docs demo clean bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -p $(BIN)/python -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

PY_DIRS := $(wildcard otel_llm tests benchmarks)

lint: venv
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest -q

docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .site

test: lint typecheck docs pytest

demo: venv
	$(BIN)/otel-llm demo

# Benchmarks (not part of `make test`): peers live only in benchmarks/.venv.
BENCH_VENV := benchmarks/.venv
$(BENCH_VENV)/.installed: $(STAMP) benchmarks/requirements.txt pyproject.toml
	$(BIN)/uv venv -q --allow-existing -p $(BIN)/python $(BENCH_VENV)
	$(BIN)/uv pip install -q -p $(BENCH_VENV)/bin/python -e . -r benchmarks/requirements.txt
	touch $@

bench: venv $(BENCH_VENV)/.installed
	cd benchmarks && .venv/bin/python run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
