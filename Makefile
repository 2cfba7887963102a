# MSR flight-software emulator. Two commands do all the set-up on a fresh machine:
#   make sil    run the software-in-the-loop job (every board emulated)
#   make test   ruff, import contracts and the test suite (make test-long: the few that take
#               minutes of wall time; CI runs both)
# Each target creates .venv and installs the project on demand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all sil test test-long lint contracts pytest system-tools bench codegen clean bytecode

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,yamcs,cluster]'  # yamcs: msr yamcs and its test (0046); cluster: Dask (0049)
	@touch $(STAMP)

# The project's bytecode, compiled where Python would write it on import: a machine that sets
# PYTHONDONTWRITEBYTECODE (containers often do) otherwise compiles every module from source in
# every process a campaign starts (a simulator, three nodes, a station, a procedure: about 0.3 s
# of CPU each, every run of a Monte Carlo farm). Only what changed is compiled again.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q fsw hal sim_hardware ground_tools >/dev/null

sil: $(STAMP) bytecode
	$(BIN)/msr sil

test: lint contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) system-tools bytecode
	$(BIN)/pytest -q -p no:cacheprovider -m "not long"

# The tests that take minutes of wall time each (the real-time tube load through a socat cable,
# a 30-tube campaign beside a client that never reads, Yamcs, the Monte Carlo farms), and the
# slowest of the rest (20 to 110 s each: the cable's loss and recovery, tshark over a whole
# campaign, the wall-clock bench, a rerun's byte comparison, the lander-reset scenario and
# process death), so that make test stays under 15 minutes: CI runs them after make test.
test-long: $(STAMP) system-tools bytecode
	$(BIN)/pytest -q -p no:cacheprovider -m long

# Programs the system tests run besides Python: socat builds the serial cable of the
# hardware-in-the-loop test (tests/system/test_hil_cable.py, decision 0032); tshark reads every
# capture of a campaign with the generated Wireshark dissector (tests/system/test_wireshark.py,
# decision 0042); jq reads msr's JSON lines in a pipe as an operator does (tests/system/
# test_limits.py); chromium takes the headless screenshot of the Yamcs web interface
# (tests/system/test_yamcs.py, decision 0046). Installed with the system's package manager when
# missing (Debian/Ubuntu: apt-get, as root or through sudo; the Debian package of each is named
# like its command).
SYSTEM_TOOLS := socat tshark jq chromium
system-tools:
	@missing=$$(for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || echo $$tool; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || { echo "make: $$tool is needed by the system tests and could not be installed" >&2; exit 1; }; done

codegen: $(STAMP)
	$(BIN)/python tools/gen_layouts.py

bench: $(STAMP) bytecode
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
	find fsw hal sim_hardware ground_tools -name __pycache__ -prune -exec rm -rf {} +
