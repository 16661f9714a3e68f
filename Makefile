# concernlog: `make run` serves on SQLite in ./data/, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint bench clean web

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "concernlog needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	mkdir -p data
	$(BIN)/concernlog migrate
	@if [ "$${CONCERNLOG_ENV:-development}" = "development" ]; then \
		$(BIN)/concernlog seed-demo --if-empty --api-url http://$(HOST):$(PORT); fi
	$(BIN)/concernlog serve --host $(HOST) --port $(PORT)

# In parallel (pytest-xdist): each worker has its own SQLite files and PostgreSQL databases.
# One worker more than the cores: the suite also waits (on PostgreSQL, fsync, server
# processes), and a spare worker fills those waits.
TEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN) + 1 )))
test: install
	$(BIN)/pytest -n $(TEST_WORKERS)

# ruff, ruff format, mypy (strict on the application), the floors' import directions and
# module sizes (tests/test_architecture.py), and the Dockerfile.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pytest -q -p no:cacheprovider tests/test_architecture.py
	$(BIN)/hadolint Dockerfile

# The web client (web/, issue 24): needs Node.js 20+ and npm. Dumps the OpenAPI document,
# generates the client's types from it, type-checks (a breaking API change fails here) and
# builds into api/client_files/ with a stamp of its sources. The built files are committed:
# `make run` needs no Node.js, and the tests fail on a stale build.
web: install
	cd web && npm ci --no-audit --no-fund
	$(BIN)/concernlog openapi --output web/openapi.json
	cd web && npx openapi-typescript openapi.json -o src/generated/api.d.ts
	cd web && npx tsc --noEmit
	cd web && npx vite build
	$(BIN)/python web/stamp.py write

# The table (bare, naive, limit and concernlog on SQLite and PostgreSQL), then one and two
# server processes on PostgreSQL (issue 23).
bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.workers

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-scale
# The data-scale run of issue #7: a million concerns on SQLite and PostgreSQL (tens of minutes).
bench-scale: install
	$(BIN)/python -m bench.seed --concerns 1000000
