# Shortcuts; the README's two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-envs demo test bench clean

$(VENV)/.core: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.envs: $(VENV)/.core requirements-envs.txt
	$(PY) -m pip install -q -r requirements-envs.txt
	touch $@

setup: $(VENV)/.core

setup-envs: $(VENV)/.envs

demo: setup
	PYTHON=$(PY) bash train_scripts/demo.sh

test: setup-envs
	$(PY) -m pytest -q tests

bench: setup
	$(PY) benchmarks/throughput.py

clean:
	rm -rf runs .pytest_cache
