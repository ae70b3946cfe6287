# Quantagro User Service — the README's two commands are `make run` and `make test`.
# Every install step lives here so a fresh machine needs nothing done by hand.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
SDK_STAMP := $(VENV)/.sdk-installed
SDK_SOURCES := $(shell find sdk/src -name '*.py' -o -name py.typed 2>/dev/null) sdk/pyproject.toml sdk/README.md
NODE_STAMP := frontend/node_modules/.installed
DIST_STAMP := frontend/dist/index.html

# Embedded default for `make run`: plain HTTP on 127.0.0.1, so the cookie cannot be Secure-only.
HOST ?= 127.0.0.1
PORT ?= 8001
COOKIE_SECURE ?= false
export HOST PORT COOKIE_SECURE

.PHONY: run test test-python test-sdk test-frontend test-e2e lint format bench bench-tools drills lock install demo \
        install-python install-frontend build-frontend dev-frontend openapi clean

## run: install what is missing, migrate, create keys, serve API + frontend on $(HOST):$(PORT)
run: install-python build-frontend
	$(BIN)/user-service migrate
	$(BIN)/user-service serve

## demo: the User Service, the Kite stand-in and the backend/ticker/alerts examples; Ctrl-C stops all
demo: install-python build-frontend
	$(BIN)/python scripts/demo.py

## test: lint + type checks, Python tests on both back-ends, frontend unit and browser tests
test: install-python lint test-sdk test-python test-frontend test-e2e

install: install-python install-frontend

$(PY_STAMP): requirements.lock service/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e service
	touch $@

# The SDK is installed the way a service team installs it (`pip install ./sdk`), not editable:
# its tests and the example services run against the built package.
$(SDK_STAMP): $(PY_STAMP) $(SDK_SOURCES)
	rm -rf sdk/build
	$(BIN)/python -m pip install --quiet './sdk[fastapi,redis]'
	touch $@

install-python: $(PY_STAMP) $(SDK_STAMP)

$(NODE_STAMP): frontend/package-lock.json frontend/package.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

install-frontend: $(NODE_STAMP)

$(DIST_STAMP): $(NODE_STAMP) $(shell find frontend/src frontend/index.html frontend/vite.config.ts -type f 2>/dev/null)
	cd frontend && npm run build
	touch $@

build-frontend: $(DIST_STAMP)

dev-frontend: install-frontend
	cd frontend && npm run dev

lint: install-python install-frontend
	$(BIN)/ruff check service bench
	$(BIN)/ruff format --check service bench
	cd service && ../$(BIN)/mypy user_service
	$(BIN)/ruff check sdk examples scripts
	$(BIN)/ruff format --check sdk examples scripts
	cd sdk && ../$(BIN)/mypy --strict
	cd frontend && npm run lint

format: install-python install-frontend
	$(BIN)/ruff format service bench sdk examples scripts
	$(BIN)/ruff check --fix service bench sdk examples scripts
	cd frontend && npm run format

test-python: install-python
	cd service && ../$(BIN)/python -m pytest -q

## test-sdk: the SDK's own tests, against the installed package
test-sdk: install-python
	cd sdk && ../$(BIN)/python -m pytest -q

test-frontend: install-frontend
	cd frontend && npm run typecheck && npm run check:api && npm test

test-e2e: install-python install-frontend
	bash scripts/install-chromium.sh
	$(BIN)/python scripts/e2e_stack.py --no-build

## bench: every hot path against its bound, in one run (prints ratios and goals, asserts nothing)
# BENCH_ARGS="--soak-seconds 600" for the recorded 10-minute soak (default: 60 s).
bench: install-python bench-tools
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## drills: fault drills on their own PostgreSQL cluster and redis-server (docs/reliability.md)
drills: install-python
	$(BIN)/python bench/drills.py $(DRILLS_ARGS)

# wrk (Debian) is the load generator; py-spy (PyPI, not in the lock) profiles the server.
bench-tools:
	@command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet py-spy

## openapi: regenerate the OpenAPI document and the frontend's API types
openapi: install-python install-frontend
	$(BIN)/user-service openapi --output frontend/openapi.json
	cd frontend && npm run gen:api

## lock: re-resolve requirements.lock from service/pyproject.toml
# The SDK (a dependency of the service) comes from ./sdk, so it is offered as a local wheel
# and left out of the lock file; `install-python` installs it from the repository.
lock: install-python
	$(BIN)/python -m pip install --quiet uv
	rm -rf .lock-wheels && $(BIN)/python -m pip wheel --quiet --no-deps ./sdk -w .lock-wheels
	$(BIN)/uv pip compile service/pyproject.toml --extra test --python-version 3.11 -o requirements.lock \
		--find-links .lock-wheels --no-emit-package quantagro-auth --custom-compile-command "make lock" -q
	rm -rf .lock-wheels

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
