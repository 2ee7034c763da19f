# Two commands on a fresh machine: `make demo` (live demo) and `make test` (all tests).
# Each creates the virtual environment .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ml]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/brandpulse demo

# Three test files at a time: the integration tests mostly wait on brokers and workers,
# so this keeps the whole suite near 3-4 minutes on 2 cores.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check streams tests bench grafana
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -rs tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q -rs tests/integration

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
