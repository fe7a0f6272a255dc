# opsapi tasks. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run worker migrate test test-fast contract lint format types check openapi bench clean

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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

bench: $(STAMP) ## Run the benchmarks and update docs/benchmarks.md
	$(BIN)/python -m bench.engine

clean: ## Remove caches (keeps .venv and the embedded database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
