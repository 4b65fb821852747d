# One task runner. Every target that runs code first makes sure .venv is current.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-deep lint typecheck bench load clean contract contract-live

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cognigy-harness demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest

# The contracts against the mocks (also part of `make test`), and against the
# real servers that are configured and reachable (read-only; see README).
contract: $(STAMP)
	$(BIN)/cognigy-harness contract --junit contract-report.xml

contract-live: $(STAMP)
	$(BIN)/cognigy-harness contract --live --junit contract-live-report.xml

# The CI gate on every example integration, as a pull request would run it.
.PHONY: gate
gate: $(STAMP)
	$(BIN)/cognigy-harness gate integrations/ --junit gate-report.xml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Executions/s of the pipeline next to a raw pooled client and a client per
# call, on one loopback mock; then RSS over 20,000 in-process executions.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_execute.py
	$(BIN)/python benchmarks/bench_audit.py

# A locust load run against the mocks on loopback; override either variable,
# e.g. make load LOAD_ARGS="--profile flaky --users 50 --duration 1m".
LOAD_INTEGRATION ?= integrations/account-balance
LOAD_ARGS ?= --users 20 --duration 10s
load: $(STAMP)
	$(BIN)/cognigy-harness load $(LOAD_INTEGRATION) $(LOAD_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
