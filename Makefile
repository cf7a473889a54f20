# civicgrid — the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CG := $(BIN)/civicgrid
PRESET ?= city
SEED ?= 1
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/civicgrid
# The demo keeps its state (SQLite database, uploads, generated keys) under var/.
DEMO_ENV := CIVICGRID_VAR_DIR=$(CURDIR)/var

.PHONY: setup demo serve test lint types check pytest-sqlite pytest-postgres browser-deps bench messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Compiled catalogs and collected static files are build products, never committed.
messages: $(VENV)/.installed
	cd src/civicgrid && ../../$(CG) compilemessages --ignore '.venv' -v 0

setup: $(VENV)/.installed node_modules/.installed messages
	$(DEMO_ENV) $(CG) collectstatic --noinput -v 0

demo: setup
	$(DEMO_ENV) $(CG) migrate --noinput -v 0
	$(DEMO_ENV) $(CG) demo-city --preset $(PRESET) --seed $(SEED) --if-empty
	$(DEMO_ENV) $(CG) serve --host $(HOST) --port $(PORT)

browser-deps:
	bash scripts/ensure-browser.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed
	$(BIN)/mypy

check: setup
	$(CG) check --fail-level WARNING
	$(CG) makemigrations --check --dry-run -v 1

pytest-sqlite: setup browser-deps
	env -u DATABASE_URL $(BIN)/pytest -n $${PYTEST_WORKERS:-2} -p no:cacheprovider $(PYTEST_ARGS)

# Under CI=true PostgreSQL is required; elsewhere a machine without it skips this run, loudly.
pytest-postgres: setup browser-deps
	@if bash scripts/ensure-postgres.sh "$(PG_URL)"; then \
	  DATABASE_URL=$(PG_URL) $(BIN)/pytest -n $${PYTEST_WORKERS:-2} -p no:cacheprovider $(PYTEST_ARGS); \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "civicgrid: PostgreSQL is required under CI=true" >&2; exit 1; \
	else \
	  echo "civicgrid: WARNING: PostgreSQL is not available; the PostgreSQL run was SKIPPED" >&2; \
	fi

test: lint types check pytest-sqlite pytest-postgres

bench: setup
	bash scripts/ensure-postgres.sh "$(PG_URL)"
	DATABASE_URL=$(PG_URL) $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var node_modules $(VENV) src/civicgrid/static/vendor
