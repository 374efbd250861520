# Everything runs from a local virtualenv (.venv) that these targets create on first use, with exactly
# the versions in requirements-dev.lock.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STACK  ?= dev
LOCK   := requirements-dev.lock
# uv installs everything else; pip bootstraps it at the version the lock pins.
UV_VERSION := $(shell sed -n 's/^uv==\([^ ;]*\).*/\1/p' $(LOCK))

.PHONY: preview preview-json test lock lint clean

$(VENV)/.installed: $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(PY) $(LOCK)
	touch $@

## preview: what `pulumi up` would create for STACK (dev, staging, prod), offline, with the policy pack
preview: $(VENV)/.installed
	$(PY) -m tools.preview --stack $(STACK)

preview-json: $(VENV)/.installed
	$(PY) -m tools.preview --stack $(STACK) --json

## test: the whole test suite
test: $(VENV)/.installed
	$(PY) -m pytest

## lock: recompile requirements-dev.lock after editing a requirements file (UPGRADE=1: newest versions)
# requirements-dev.txt includes requirements.txt, policies/ and container/requirements.txt with -r.
lock: $(VENV)/.installed
	$(UV) pip compile requirements-dev.txt --output-file $(LOCK) --generate-hashes --universal \
		--python-version 3.11 $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
