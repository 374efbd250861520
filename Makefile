# Everything runs from a local virtualenv (.venv) that these targets create on first use, with exactly
# the versions in requirements-dev.lock. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STACK  ?= dev
LOCK   := requirements-dev.lock
# uv installs everything else; pip bootstraps it at the version the lock pins.
UV_VERSION := $(shell sed -n 's/^uv==\([^ ;]*\).*/\1/p' $(LOCK))

.DEFAULT_GOAL := help
# No "Entering directory" lines on stdout when make is started by another make (or by a test under one).
MAKEFLAGS += --no-print-directory
.PHONY: help run preview preview-json first-run lint test lock catalog-files clean

help: ## list the targets (the default goal)
	@echo "usage: make <target> [STACK=<stack>]   (stacks: the Pulumi.<stack>.yaml files)"
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z][a-zA-Z_-]*:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Installs print to stderr so that `make preview-json > out.json` stays valid JSON on first use too.
# --compile-bytecode writes every package's .pyc once, here: where PYTHONDONTWRITEBYTECODE is set (many CI
# images), Python never writes them itself and each preview would spend seconds compiling pulumi_aws
# (python -m tools.bench_preview measures it). The Makefile is a prerequisite: a changed install recipe
# reinstalls.
$(VENV)/.installed: $(LOCK) Makefile
	@echo "installing the development toolchain from $(LOCK) into $(VENV)" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) >&2
	@$(UV) pip sync --quiet --compile-bytecode --python $(PY) $(LOCK) >&2
	@touch $@

# ARGS passes options on: make run ARGS="--auto-approve --exit-after-deploy" (python -m tools.run_local --help).
run: $(VENV)/.installed ## the training workflow of STACK end to end on this machine: train, evaluate, approve in a browser, serve, infer
	$(PY) -m tools.run_local --stack $(STACK) $(ARGS)

preview: $(VENV)/.installed ## what `pulumi up` would create for STACK (default dev), offline, with the policy pack
	$(PY) -m tools.preview --stack $(STACK)

preview-json: $(VENV)/.installed ## the same preview as one JSON document on stdout (pipe-able)
	@$(PY) -m tools.preview --stack $(STACK) --json

first-run: $(VENV)/.installed ## upload the sample data to deployed STACK's bucket, start its training workflow (DRY_RUN=1: print only)
	$(PY) -m tools.first_run --stack $(STACK) $(if $(DRY_RUN),--dry-run)

lint: $(VENV)/.installed ## ruff and mypy over the code (what and how: pyproject.toml)
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

test: lint ## lint, then the whole test suite
	$(PY) -m pytest

# requirements-dev.txt includes requirements.txt, policies/ and container/requirements.txt with -r.
lock: $(VENV)/.installed ## recompile requirements-dev.lock after editing a requirements file (UPGRADE=1: newest versions)
	$(UV) pip compile requirements-dev.txt --output-file $(LOCK) --generate-hashes --universal \
		--python-version 3.11 $(if $(UPGRADE),--upgrade)

catalog-files: $(VENV)/.installed ## regenerate catalog/builtin_frameworks.json and program/sagemaker_images.json (from sagemaker-core) and the catalog's JSON Schema
	$(PY) -m tools.catalog_files

clean: ## remove the virtualenv, the tools' caches and make run's work files (.run/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .run
