# Two entry points (see README): `make demo` and `make test`. Both create/update .venv first.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP ?= 127.0.0.1
export DEMO_DIR ?= work/demo
# Byte code: with pip's --no-compile below, Python compiles a module on its first import
# and keeps it in __pycache__ for every later process. An environment that sets
# PYTHONDONTWRITEBYTECODE (CI images and sandboxes often do) keeps nothing, so every
# process (the CLI, each test worker and subprocess, each Spark Python worker) compiles
# all it imports again: `import great_expectations` 11.2 s instead of 5.2, two CLI test
# files 139 s instead of 58 (docs/BENCHMARKS.md, session 26). The venv is this project's
# own, so its targets write the caches.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-slow lint bench mutation venv check-java check-python clean

check-python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "error: Python >= 3.11 is required (found: $$($(PY) --version 2>&1)). Set PY=/path/to/python3.11."; exit 1; }

check-java:
	@J="$${JAVA_HOME:+$$JAVA_HOME/bin/java}"; [ -x "$$J" ] || J="$$(command -v java)"; \
	if [ -z "$$J" ]; then \
	  echo "error: Java 17 is required by Spark and was not found."; \
	  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless"; \
	  echo "  macOS:         brew install openjdk@17"; \
	  echo "  or set JAVA_HOME to a JDK 17 installation."; exit 1; fi; \
	MAJOR="$$("$$J" -version 2>&1 | awk -F'"' '/version/ {split($$2, v, "."); print (v[1] == "1") ? v[2] : v[1]; exit}')"; \
	[ "$${MAJOR:-0}" -ge 17 ] 2>/dev/null || \
	  { echo "error: Spark 4 needs Java 17 or newer; $$J is Java $${MAJOR:-of unknown version}."; \
	    echo "  Install openjdk-17 and put it first on PATH, or set JAVA_HOME to it."; exit 1; }

# --no-compile: pip would byte-compile all ~15,000 .py files of the environment (38-67 s of
# CPU on CI's machine kind, docs/BENCHMARKS.md); Python compiles the modules a process
# imports on first import instead, and keeps them in __pycache__ (about 3,900 for a
# `fraud-app run`; see PYTHONDONTWRITEBYTECODE above).
# constraints.txt: the exact pyspark of dev and CI; pyproject.toml allows the tested range.
$(STAMP): pyproject.toml constraints.txt | check-python
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile --upgrade pip
	$(BIN)/pip install -q --no-compile -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: check-java venv
	$(BIN)/fraud-app -c configs/demo.yaml run --generate

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The fast suite on PYTEST_WORKERS processes (pytest-xdist; 0 = one process, no workers).
# --dist loadfile: a test file's tests share one worker, so its module-scoped fixtures are
# built once; each worker starts its own local[2] SparkSession (tests/conftest.py).
# --no-loadscope-reorder: files are handed out in the workers' collection order, which puts
# the longest files first (tests/heavy_files.py), not xdist's most-tests-first order (that
# left the long one- and two-test files for the end, where one worker waits on the other).
PYTEST_WORKERS ?= 2
test: check-java lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-slow: check-java venv
	$(BIN)/python -m pytest -q -m slow

bench: venv
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python bench/dlcore_vs_torch.py

# Mutation check of auth, wire framing, serialization, checkpoints and ETL accounting
# ([tool.mutmut] in pyproject.toml; results in docs/TESTING.md). CPU-heavy: not in `test`.
# A fresh full run each time (mutmut keeps the verdicts of unchanged code in mutants/, and
# would not re-run a survivor that a new test now kills). On a shared machine:
# make mutation MUTMUT_ARGS="--max-children 2"
MUTMUT_ARGS ?=
mutation: venv
	$(BIN)/pip install -q 'mutmut==3.8.1'
	rm -rf mutants
	env -u PYTHONPATH $(BIN)/mutmut run $(MUTMUT_ARGS)
	$(BIN)/python bench/mutation_report.py

clean:
	rm -rf $(VENV) work .pytest_cache mutants
