# zerossl-issuer — every entry point creates .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=
export PROMETHEUS_DISABLE_CREATED_SERIES := True

.PHONY: all test lint fmt typecheck pytest manifests sysdeps controlplane demo bench chaos sandbox clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[sandbox,test,dev,loadtests]'
	@touch $(STAMP)

# System packages the tests drive for real: kubectl (already on these machines),
# Prometheus + promtool, BIND9 + nsupdate. Installed from Debian when missing.
sysdeps:
	@bash scripts/sysdeps.sh

# The real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) built from
# their Go modules into .controlplane/ once, then reused: the world the tests check the sandbox
# against. The first build takes ~10-15 minutes on 2 cores; later runs take a second.
controlplane:
	@bash scripts/controlplane.sh

test: $(STAMP) sysdeps controlplane lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check controller tests loadtests benchmarks
	$(VENV)/bin/ruff format --check controller tests loadtests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix controller tests loadtests benchmarks
	$(VENV)/bin/ruff format controller tests loadtests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) sysdeps controlplane
	$(PY) -m pytest -q $(PYTEST_ARGS)

manifests: $(STAMP) sysdeps
	$(PY) -m pytest -q tests/manifests

demo: $(STAMP)
	$(if $(findstring --real,$(ARGS)),@bash scripts/controlplane.sh)
	$(PY) -m controller.sandbox demo $(ARGS)

sandbox: $(STAMP)
	$(PY) -m controller.sandbox kube --port 6443 --kubeconfig .sandbox/kubeconfig \
		--crds controller/sandbox/crds --crds manifests/crds

bench: $(STAMP) sysdeps
	$(PY) -m loadtests bench $(ARGS)

chaos: $(STAMP) sysdeps
	$(PY) -m loadtests chaos $(ARGS)

clean:
	rm -rf $(VENV) .sandbox .controlplane .pytest_cache .mypy_cache .ruff_cache
