# SPDX-License-Identifier: MIT
# `make run` serves the bundled zones; `make test` runs the whole suite. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= zones/fastdns.yaml

.PHONY: run test build build-zscanner deps-run deps-test clean debug bench bench-deps bench-load fuzz fuzz-build

run: deps-run build
	$(BIN)/fastdns serve -c $(CONFIG)

# FASTDNS_ZSCANNER=1 for the tests too: those of the libzscanner reader fail rather than skip,
# and a test's own `make build` keeps the module.
test: deps-test build-zscanner $(VENV)/.dev-deps
	FASTDNS_ZSCANNER=1 $(BIN)/python -m pytest -q tests

# The extensions are always built incrementally (build_ext skips what is up to date, about
# 0.5 s): which of them are built follows what this machine can build now, e.g. fastdns._xdp
# as soon as libxdp-dev, libbpf-dev and clang arrive, whatever their files' dates. Stamps
# only guard the venv's packages and the editable install.
build: $(VENV)/.editable
	$(BIN)/python setup.py -q build_ext --inplace

# The build with the opt-in reader over Knot DNS's libzscanner (fastdns._zscanner): a build
# that links it is GPL-3+ as a whole (docs/zone-parser.md), so `make build` and `pip install`
# leave it out (and `make build` removes it again). The tests hold it to ldns's records; the
# load benchmark measures both.
build-zscanner: $(VENV)/.editable
	FASTDNS_ZSCANNER=1 $(BIN)/python setup.py -q build_ext --inplace

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.deps: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q "setuptools>=68" wheel "Cython>=3.1,<3.3" "dnspython>=2.6" "PyYAML>=6" "prometheus_client>=0.17"
	touch $@

# What `make test` runs besides fastdns: pytest, the linters of tests/test_sourcecode.py, and
# cryptography, with which dnspython signs and validates the DNSSEC tests' zones.
$(VENV)/.dev-deps: Makefile | $(VENV)/bin/python
	$(BIN)/pip install -q "pytest>=8" "ruff>=0.6" "mypy>=1.11" types-PyYAML cryptography
	touch $@

# The console script and the package on the venv's path; the checkout's files are served.
$(VENV)/.editable: setup.py pyproject.toml $(VENV)/.deps
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	touch $@

# Assertions and Cython annotations (ext/*.html). setup.py notices the flavour change: the
# next `make build` is a release build again, unless FASTDNS_DEBUG=1 is in the environment.
debug: $(VENV)/.editable
	FASTDNS_DEBUG=1 $(BIN)/python setup.py -q build_ext --inplace

clean:
	rm -rf build dist $(VENV) fastdns/*.so fastdns/*.bpf.o ext/*.c ext/*.html *.egg-info

# `make fuzz`: the data plane's answering core (answer_query, answer_frame) under libFuzzer,
# ASan and UBSan (docs/fuzzing.md), until interrupted. FUZZ_ARGS passes libFuzzer options,
# e.g. FUZZ_ARGS="-max_total_time=3600" or FUZZ_ARGS="-jobs=2 -workers=2". Inputs that add
# coverage go to build/fuzz/corpus, crashes to build/fuzz/crashes/.
FUZZ_ARGS ?=
fuzz: fuzz-build
	@mkdir -p build/fuzz/corpus build/fuzz/crashes
	build/fuzz/fastdns-fuzz -artifact_prefix=build/fuzz/crashes/ $(FUZZ_ARGS) build/fuzz/corpus fuzz/corpus tests/fuzz/crashes

# The fuzzer (fuzz/target.pyx and fuzz/harness.c, clang) and the images it answers from.
fuzz-build: deps-test build $(VENV)/.dev-deps
	$(BIN)/python fuzz/build.py build/fuzz

# `make bench`: fastdns, Knot DNS and NSD side by side under dnsperf (deploy/bench/); needs root.
# BENCH_ARGS passes options through, e.g. BENCH_ARGS="--names 10000 --rounds 1".
bench: deps-test build bench-deps
	FASTDNS_BENCH_VIA_MAKE=1 $(BIN)/python deploy/bench/bench.py $(BENCH_ARGS)

# `make bench-load`: start to first answer, memory and a one-record reload, fastdns beside
# Knot DNS and NSD on 100 k and 1 M names and 10,000 small zones (deploy/bench/load.py), on
# loopback; needs root (cgroups). About five minutes: three rounds, each figure their median
# (each step bounded by --timeout, 900 s).
# LOAD_ARGS passes options through, e.g. LOAD_ARGS="--names 100000 --zones 1000".
bench-load: deps-test build-zscanner
	FASTDNS_BENCH_LOAD_VIA_MAKE=1 $(BIN)/python deploy/bench/load.py $(LOAD_ARGS)

# matplotlib draws the chart; a benchmark dependency only, not fastdns's.
bench-deps: | $(VENV)/bin/python
	@$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/pip install -q matplotlib
