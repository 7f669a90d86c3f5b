# PureLaka: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint format install seed serve clean screenshots bench bench-quick mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

# Demo: SQLite and offline payments, whatever .env says; the server with a Celery
# worker and beat beside it on a broker that needs no server (scripts/demo.sh).
demo: $(INSTALLED)
	scripts/demo.sh

test: $(INSTALLED)
	scripts/test.sh

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Full-page PNGs of the demo, per role, into docs/screens/ (throwaway database).
screenshots: $(INSTALLED)
	$(BIN)/python scripts/screenshots.py

# Benchmarks on PostgreSQL databases of their own (created and dropped): figures and
# ratios against limits measured in the same run; docs/performance.md from the run.
BENCH_ORDERS ?= 1000000
bench: $(INSTALLED)
	$(BIN)/python bench/run.py --orders $(BENCH_ORDERS)
	$(BIN)/python bench/report.py bench/results/bench-$(BENCH_ORDERS).json > docs/performance.md
	@echo "docs/performance.md written from bench/results/bench-$(BENCH_ORDERS).json"

# 20,000 orders in about two minutes; fails on a broken invariant, never on a timing.
bench-quick: $(INSTALLED)
	$(BIN)/python bench/run.py --quick

# Mutation testing of the core modules, two at a time (two cores), each in a copy of
# the tree under .mutants/; a score per module, fails under 85 %. Slow, so not part of
# `make test` (docs/testing.md). MODULES="ledger inbox" runs only those.
mutation: $(INSTALLED)
	$(BIN)/python scripts/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) staticfiles .ruff_cache .pytest_cache db.sqlite3 .mutants .demo
