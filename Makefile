# Rayline: `make demo` runs the whole loop on this machine; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= breast_cancer
DASHBOARD = http://127.0.0.1:$${RAYLINE_RAY_DASHBOARD_PORT:-8265}
# `ray job` reads RAY_ADDRESS, `serve` reads RAY_DASHBOARD_ADDRESS; both need the Ray token.
RAYLINE_ENV = export RAY_AUTH_MODE=token RAY_ADDRESS=$(DASHBOARD) RAY_DASHBOARD_ADDRESS=$(DASHBOARD) PATH="$(CURDIR)/$(BIN):$$PATH";

.PHONY: help install web up down status deploy train demo test lint typecheck unit integration web-test e2e browser wrk prometheus bench chaos clean image podman container-test

help:
	@echo "make demo   - install, start Ray + MLflow, train $(CONFIG), deploy Serve, predict once"
	@echo "make test   - lint, types, unit, integration (real Ray/Serve/MLflow/PostgreSQL/S3), web, e2e"
	@echo "make up | down | status | train CONFIG=iris | deploy | bench | chaos | clean"
	@echo "make image | container-test   - the image (Dockerfile); compose.yaml run for real"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The V2 gRPC stubs are generated from the vendored .proto (serve_app/protos), not committed.
$(VENV)/.installed: pyproject.toml serve_app/protos/open_inference_grpc.proto | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
		serve_app/protos/open_inference_grpc.proto
	touch $@

web/dist/index.html: web/package.json web/package-lock.json $(shell find web/src -type f 2>/dev/null) web/index.html
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

web: web/dist/index.html

install: $(VENV)/.installed web

up: install
	$(BIN)/python -m rayline.stack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m rayline.stack down; else echo "nothing to stop"; fi

status: | $(BIN)/python
	$(BIN)/python -m rayline.stack status

train: up
	$(RAYLINE_ENV) ray job submit --working-dir . -- python -m jobs.train configs/train/$(CONFIG).yaml

deploy: up
	$(RAYLINE_ENV) serve deploy serve_config.yaml
	$(BIN)/python -m rayline.stack wait-ready

demo: install up train deploy
	$(BIN)/python -m rayline.stack try $(CONFIG)
	@echo
	@$(BIN)/python -m rayline.stack status
	@echo "Admin API key    $$($(BIN)/python -m rayline.stack admin-key)"
	@echo "Use the CLIs:    source .rayline/env   (then ray job submit ..., serve status)"
	@echo "Stop it all:     make down"

lint: $(VENV)/.installed
	$(BIN)/ruff check rayline jobs serve_app tests bench
	$(BIN)/ruff format --check rayline jobs serve_app tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

unit: $(VENV)/.installed prometheus
	$(BIN)/pytest tests/unit -q

integration: $(VENV)/.installed web prometheus
	$(BIN)/pytest tests/integration -q

browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: install Debian's chromium (sudo apt-get install chromium)"; exit 1; fi; }

# Prometheus and promtool, for deploy/prometheus/ and its tests. Without the recommended
# node exporter (a second daemon). The package's postinst enables and starts a system
# Prometheus on *:9090, which nothing here uses (the tests start their own on loopback): it is
# disabled and stopped right after the install, and left alone if Prometheus was there before.
prometheus:
	@command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	    && { { systemctl disable --now prometheus || service prometheus stop; } >/dev/null 2>&1 || true; }; \
	  else echo "error: install Debian's prometheus (sudo apt-get install prometheus)"; exit 1; fi; }

e2e: $(VENV)/.installed web browser
	$(BIN)/pytest tests/e2e -q

web-test: web
	cd web && npm run check:api && npm run typecheck && npm run lint && npm test

# Tests run in a random order (pytest-randomly); `make test SEED=N` replays an order. Two
# pytest-xdist workers: each stack's tests stay on one worker (tests/conftest.py).
SEED ?= $(shell date +%s)
WORKERS ?= 2

test: install browser wrk prometheus
	$(MAKE) lint typecheck web-test
	@echo "pytest order seed: $(SEED) (replay it with: make test SEED=$(SEED))"
	$(BIN)/pytest tests -q --durations=15 -p randomly --randomly-seed=$(SEED) -n $(WORKERS) \
		--ignore=tests/container

# The image (Dockerfile, README "Deploy"): the wheelhouse from this venv's pip (this machine's
# own package index settings), then the build, by docker when its engine answers, else podman.
# BASE / NODE_BASE replace the Dockerfile's bases; CA gives npm a TLS proxy's CA bundle.
IMAGE ?= localhost/rayline:0.1.0
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
comma := ,

image: $(VENV)/.installed
	rm -rf .rayline/wheelhouse
	$(BIN)/pip wheel -q --disable-pip-version-check --wheel-dir .rayline/wheelhouse . setuptools \
		2> >(grep -v "^WARNING: Location" >&2)
	rm -f .rayline/wheelhouse/rayline-*.whl
	$(ENGINE) build -q -t $(IMAGE) $(if $(BASE),--build-arg BASE=$(BASE)) \
		$(if $(NODE_BASE),--build-arg NODE_BASE=$(NODE_BASE)) $(if $(CA),--secret id=ca$(comma)src=$(CA)) .

# Podman (no Docker engine here), runc, and mmdebstrap for the test's base images.
podman:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v mmdebstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null; \
	  else echo "error: install Debian's podman, runc and mmdebstrap (sudo apt-get install podman runc mmdebstrap)"; exit 1; fi; }

# compose.yaml for real (tests/container): the image on a Debian base made here, the stack with
# an extra Ray worker, a training job, a deploy, a prediction; then nothing left behind.
container-test: install podman
	$(BIN)/pytest tests/container -q -p no:randomly

# The serving benchmark's load generator (C, so it does not eat the CPU it measures) and its
# MLServer peer, in a venv of its own with this venv's scikit-learn, numpy and pandas (the
# model crosses as a joblib pickle); uvloop 0.22+ kills MLServer's parallel workers on start.
MLSERVER := .rayline/mlserver
MLSERVER_PINS = mlserver==1.7.1 mlserver-sklearn==1.7.1 uvloop==0.21.0 $$($(BIN)/python -c "import sklearn, numpy, pandas; print(f'scikit-learn=={sklearn.__version__} numpy=={numpy.__version__} pandas=={pandas.__version__}')")

wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "error: install Debian's wrk (sudo apt-get install wrk)"; exit 1; fi; }

$(MLSERVER)/.installed: | $(VENV)/.installed
	$(PYTHON) -m venv $(MLSERVER)
	$(MLSERVER)/bin/pip install --quiet $(MLSERVER_PINS)
	touch $@

bench: up wrk $(MLSERVER)/.installed
	$(BIN)/python -m bench.run_all

chaos: install
	$(BIN)/python -m bench.chaos

clean: down
	rm -rf .rayline web/dist
