# SPDX-License-Identifier: MIT
# `make run` serves the bundled zones; `make test` runs the whole suite. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= zones/fastdns.yaml
EXT_SOURCES := $(wildcard ext/*.pyx ext/*.pxd ext/*.pxi ext/includes/* ext/bpf/*) setup.py pyproject.toml
# The AF_XDP extension is built when libxdp is installed: its arrival means a rebuild.
XDP_HEADER  := $(wildcard /usr/include/xdp/xsk.h)

.PHONY: run test build deps-run deps-test clean debug bench bench-deps

run: deps-run build
	$(BIN)/fastdns serve -c $(CONFIG)

test: deps-test build
	$(BIN)/python -m pytest -q tests

build: $(VENV)/.built

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.deps: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q "setuptools>=68" wheel "Cython>=3.1,<3.3" "dnspython>=2.6" "PyYAML>=6" "prometheus_client>=0.17" "pytest>=8"
	touch $@

$(VENV)/.built: $(EXT_SOURCES) $(XDP_HEADER) $(VENV)/.deps
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	$(BIN)/python setup.py -q build_ext --inplace
	touch $@

debug: $(VENV)/.deps
	FASTDNS_DEBUG=1 $(BIN)/python setup.py -q build_ext --inplace --force
	rm -f $(VENV)/.built

clean:
	rm -rf build $(VENV) fastdns/*.so ext/*.c ext/*.html *.egg-info

# `make bench`: fastdns, Knot DNS and NSD side by side under dnsperf (deploy/bench/); needs root.
# BENCH_ARGS passes options through, e.g. BENCH_ARGS="--names 10000 --rounds 1".
bench: deps-test build bench-deps
	FASTDNS_BENCH_VIA_MAKE=1 $(BIN)/python deploy/bench/bench.py $(BENCH_ARGS)

# matplotlib draws the chart; a benchmark dependency only, not fastdns's.
bench-deps: | $(VENV)/bin/python
	@$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/pip install -q matplotlib
