# opsapi tasks. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.DEFAULT_GOAL := help
.PHONY: help install run worker migrate test test-fast contract lint format types check openapi \
	clean bench bench-engine bench-peers bench-http bench-e2e bench-notify

help: ## List the tasks
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "opsapi needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

run: $(STAMP) ## Serve the API with an in-process worker (embedded PostgreSQL unless OPSAPI_DATABASE_URL is set)
	$(BIN)/opsapi serve

worker: $(STAMP) ## Run a worker process
	$(BIN)/opsapi worker

migrate: $(STAMP) ## Apply database migrations
	$(BIN)/opsapi migrate

test: $(STAMP) ## Run the whole test suite against a real PostgreSQL
	$(BIN)/pytest

CONTRACT_EXAMPLES ?= 100
contract: $(STAMP) ## Long contract run: schemathesis over every route (CONTRACT_EXAMPLES per route, default 100)
	OPSAPI_CONTRACT_EXAMPLES=$(CONTRACT_EXAMPLES) $(BIN)/pytest -p no:cacheprovider --timeout=0 tests/contract

lint: $(STAMP) ## ruff: lint and format check
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

format: $(STAMP) ## ruff: fix and format
	$(BIN)/ruff check --fix backend tests bench
	$(BIN)/ruff format backend tests bench

types: $(STAMP) ## mypy in strict mode
	$(BIN)/mypy

check: lint types test ## What CI runs: lint, types, tests

openapi: $(STAMP) ## Regenerate docs/openapi.json from the app
	$(BIN)/opsapi openapi --output docs/openapi.json

# Benchmarks: each writes bench/results/*.json and *.png and its section of
# docs/benchmarks.md. Server: OPSAPI_BENCH_DATABASE_URL, else OPSAPI_DATABASE_URL's,
# else the embedded PostgreSQL (each benchmark drops and recreates its own databases).
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || echo "bench-http needs wrk (Debian/Ubuntu: apt-get install wrk)"
	touch $(BENCH_STAMP)

bench: bench-peers bench-http bench-e2e bench-notify bench-engine ## Run every benchmark (about 20 min) and update docs/benchmarks.md

bench-peers: $(BENCH_STAMP) ## Engine throughput and enqueue latency beside procrastinate and pgqueuer
	$(BIN)/python -m bench.peers

bench-http: $(BENCH_STAMP) ## HTTP create/GET at 64 connections beside a bare FastAPI floor (needs wrk)
	$(BIN)/python -m bench.http_load

bench-e2e: $(BENCH_STAMP) ## 5,000 operations over HTTP, 1/2/4 workers, fake model of 1-3 s
	$(BIN)/python -m bench.e2e

bench-notify: $(BENCH_STAMP) ## Completion to /wait, SSE and 1 s polling clients
	$(BIN)/python -m bench.notify

bench-engine: $(BENCH_STAMP) ## Engine alone: throughput, pickup and create latency
	$(BIN)/python -m bench.engine --repeat 1

clean: ## Remove caches (keeps .venv and the embedded database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
