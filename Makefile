# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt

.PHONY: demo test lint typecheck unit bench bench-compare install dev clean browser

# The demo venv: the package and its runtime dependencies.
$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c $(CONSTRAINTS) -e .
	touch $@

# Plus the dev tools (pytest, ruff, mypy).
$(BIN)/.dev-installed: $(BIN)/.installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[dev,lora,ray,tensorboard,mlflow,explain]"
	touch $@

install: $(BIN)/.installed
dev: $(BIN)/.dev-installed

demo: install
	$(BIN)/mtrec run

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The package and the tests, for Python 3.10 (pyproject.toml's [tool.mypy]).
typecheck: dev
	$(BIN)/mypy

# Headless Chromium and its driver for the report's browser test (Debian packages; as root).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium chromium-driver; \
	fi

# One pytest worker per core (pytest-xdist), each with a single torch thread: tiny models
# gain nothing from intra-op threads, and two workers never fight over the cores. The workers
# share one smoke run (tests/conftest.py's smoke_run); the slow tests run too.
unit: dev browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n auto --dist worksteal --durations=15

test: lint typecheck unit

# The tools the benchmarks compare against (sentence-transformers), for them only.
$(BIN)/.bench-installed: $(BIN)/.dev-installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[bench]"
	touch $@

# Ratios against plain torch and sentence-transformers measured in the same run; printed and
# saved to .benchmarks/.
bench: $(BIN)/.bench-installed
	$(BIN)/python -m pytest benchmarks --benchmark-autosave

# Against the latest saved `make bench` run: fail when any benchmark's mean is 10% slower.
bench-compare: dev
	$(BIN)/python -m pytest benchmarks --benchmark-compare --benchmark-compare-fail=mean:10%

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
