# insar-monitor: `make demo` and `make test` work on a fresh clone (they build .venv first).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch is installed from a local wheel on the project's machines; a looser
# spec would pull gigabytes of CUDA packages. Override on GPU machines, e.g.
#   make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (auto: one per core); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
DEMO_OUT ?= demo-out
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck bench clean system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/insar-monitor demo --out $(DEMO_OUT)

test: $(STAMP) system-deps
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# System packages the tests use: promtool (Debian's prometheus) lints the metrics
# exposition; chromium (Debian's) renders the status page headless. Those missing are
# installed in one apt-get call when the machine lets us (root with apt-get, with an
# `apt-get update` retry); otherwise the tests that need them say they were skipped.
system-deps:
	@pkgs=""; \
	command -v promtool >/dev/null 2>&1 || pkgs="$$pkgs prometheus"; \
	command -v chromium >/dev/null 2>&1 || pkgs="$$pkgs chromium"; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages for the tests:$$pkgs"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      $$pkgs >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      $$pkgs >/dev/null 2>&1; } || echo "could not install:$$pkgs"; \
	  else echo "not found and cannot be installed here:$$pkgs"; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check monitor tests bench scripts
	$(PY) -m mypy

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
