# Everything runs from a local virtualenv (.venv) that these targets create on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
REQS   := requirements.txt requirements-dev.txt policies/requirements.txt container/requirements.txt

.PHONY: preview preview-json test lint clean

$(VENV)/.installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt
	touch $@

## preview: what `pulumi up` would create for STACK (dev, staging, prod), offline, with the policy pack
preview: $(VENV)/.installed
	$(PY) -m tools.preview --stack $(STACK)

preview-json: $(VENV)/.installed
	$(PY) -m tools.preview --stack $(STACK) --json

## test: the whole test suite
test: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
