# The front door.  `make demo` and `make test` work on a fresh machine: both bootstrap first.
PY := .venv/bin/python
STAMP := .venv/.pgqrs-bootstrapped

.PHONY: all demo test test-c test-python lint typecheck build clean wheel-check bench bench-quick bench-pytest

all: test

$(STAMP): pyproject.toml setup.py scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

# An editable install does not rebuild the extension when _core.pyx changes: rebuild here.
# PGQRS_IMPL=c makes a failed compile fail the build (compiler output stays visible), and the
# import afterwards proves the extension that was built is the one Python loads.
build: $(STAMP)
	PGQRS_IMPL=c $(PY) setup.py -q build_ext --inplace
	PGQRS_IMPL=c $(PY) -c 'import pgqrs; assert pgqrs.__impl__ == "c"; print("pgqrs core:", pgqrs.__impl__)'

demo: build
	$(PY) -m pgqrs demo

# The whole suite once per core implementation; PGQRS_IMPL is strict, so a compiled core that
# fails to import fails the run.
test: build
	PGQRS_IMPL=c $(PY) -m pytest $(PYTEST_ARGS)
	PGQRS_IMPL=python $(PY) -m pytest $(PYTEST_ARGS)

test-c: build
	PGQRS_IMPL=c $(PY) -m pytest $(PYTEST_ARGS)

test-python: build
	PGQRS_IMPL=python $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

clean:
	rm -rf build dist *.egg-info pgqrs/_core.c pgqrs/*.so .pytest_cache .mypy_cache .ruff_cache

# What cibuildwheel proves in CI, without Docker: sdist -> wheel -> auditwheel -> fresh venv ->
# seed example on a throwaway PostgreSQL, plus the pure wheel and [tool.cibuildwheel].
wheel-check: $(STAMP)
	bash scripts/wheel_check.sh

# Benchmarks (SPEC §6).  Never part of `make test`: pytest's testpaths is tests/ only.
# `make bench` prints the ratio table (BENCH_ARGS="--depth-million --json out.json" for more);
# `make bench-pytest` saves each run under .benchmarks/ and, once a saved run exists, fails on a
# regression of more than BENCH_COMPARE_FAIL against the latest one.
BENCH_ARGS ?=
BENCH_COMPARE_FAIL ?= mean:15%

bench: build
	.venv/bin/pgqrs bench $(BENCH_ARGS)

bench-quick: build
	.venv/bin/pgqrs bench --quick $(BENCH_ARGS)

bench-pytest: build
	@if ls .benchmarks/*/*.json >/dev/null 2>&1; then \
		echo "$(PY) -m pytest benchmarks --benchmark-autosave --benchmark-compare --benchmark-compare-fail=$(BENCH_COMPARE_FAIL) $(PYTEST_ARGS)"; \
		$(PY) -m pytest benchmarks --benchmark-autosave --benchmark-compare \
			--benchmark-compare-fail=$(BENCH_COMPARE_FAIL) $(PYTEST_ARGS); \
	else \
		echo "no saved benchmark run yet: this one becomes the reference"; \
		$(PY) -m pytest benchmarks --benchmark-autosave $(PYTEST_ARGS); \
	fi
