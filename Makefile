# The README's commands. Each target creates or refreshes .venv, installs a
# pinned torch first (so pip never pulls a multi-GB CUDA build by accident),
# then the project, then runs.
#   make demo   the comparison (lineage compare --preset demo)
#   make study  the study of the eight questions (lineage study --preset cpu, about 4 hours on 2 cores, 3 of them the Transformer's components)
#   make test   the test suite
#   make bench  the speed benchmarks
# GPU users: make demo TORCH_VERSION=2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cu128

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
PIP = $(VENV)/bin/pip
STAMP = $(VENV)/.lineage-installed

.PHONY: setup demo study test bench compat clean

T4_VENV ?= .venv-t4

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e ".[dev,app]"
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/lineage compare --preset demo $(ARGS)

study: setup
	$(VENV)/bin/lineage study --preset cpu $(ARGS)

# One worker per core (at most 4: memory), a test file per worker (files share their fixtures); the slowest tests listed last.
test: setup
	$(VENV)/bin/python -m pytest --numprocesses auto --maxprocesses 4 --dist loadfile --durations 20 $(ARGS)

# The same model folders under transformers 4.57 (built-in pipelines), in a second venv.
compat: setup
	PYTHON=$(PYTHON) T4_VENV=$(T4_VENV) TORCH_VERSION=$(TORCH_VERSION) TORCH_INDEX=$(TORCH_INDEX) bash tests/compat/setup_venv.sh
	LINEAGE_T4_PYTHON=$(abspath $(T4_VENV))/bin/python $(VENV)/bin/python -m pytest tests/test_compat_transformers4.py $(ARGS)

bench: setup
	$(VENV)/bin/python benchmarks/speed.py $(ARGS)
	$(VENV)/bin/python benchmarks/fast_paths.py

clean:
	rm -rf $(VENV) $(T4_VENV) .pytest_cache
