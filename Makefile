# MSR flight-software emulator. Two commands do all the set-up on a fresh machine:
#   make sil    run the software-in-the-loop job (every board emulated)
#   make test   ruff, import contracts and the whole test suite
# Each target creates .venv and installs the project on demand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all sil test lint contracts pytest bench codegen clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

sil: $(STAMP)
	$(BIN)/msr sil

test: lint contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

codegen: $(STAMP)
	$(BIN)/python tools/gen_layouts.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
