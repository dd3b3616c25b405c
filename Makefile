# The front door.  `make demo` and `make test` work on a fresh machine: both bootstrap first.
PY := .venv/bin/python
STAMP := .venv/.pgqrs-bootstrapped

.PHONY: all demo test test-c test-python lint typecheck build clean wheel-check bench bench-quick bench-pytest \
	bench-pytest-reference bench-readme churn-readme bench-peers bench-peers-venvs bench-peers-readme

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
	@# The tests too; one run per folder, as each has its own conftest module.
	.venv/bin/mypy --strict tests
	.venv/bin/mypy --strict benchmarks
	.venv/bin/mypy --strict conftest.py

clean:
	rm -rf build dist *.egg-info pgqrs/_core.c pgqrs/*.so .pytest_cache .mypy_cache .ruff_cache

# What cibuildwheel proves in CI, without Docker: sdist -> wheel -> auditwheel -> fresh venv ->
# seed example on a throwaway PostgreSQL, plus the pure wheel and [tool.cibuildwheel].
wheel-check: $(STAMP)
	bash scripts/wheel_check.sh

# Benchmarks (docs/contract.md, Performance targets).  Never part of `make test`: pytest's
# testpaths is tests/ only.  Wrap them in `flock` on a machine others share.
# `make bench` prints pgqrs/baseline ratios measured on a durable throwaway server
#   (BENCH_ARGS="--fast-server", "--only notify,wakeup", "--list", "--json out.json" ...);
# `make bench-pytest` runs the pytest-benchmark suites and fails when a ratio falls more than
#   its tolerance below benchmarks/reference.json; `make bench-pytest-reference` rewrites that
#   file from a run (on purpose only: review the diff, then commit it);
# `make bench-readme RUNS="a.json b.json c.json"` writes the README's performance block from
#   `pgqrs bench --json` runs.
BENCH_ARGS ?=
RUNS ?=

bench: build
	.venv/bin/pgqrs bench $(BENCH_ARGS)

bench-quick: build
	.venv/bin/pgqrs bench --quick $(BENCH_ARGS)

bench-pytest: build
	$(PY) -m pytest benchmarks $(PYTEST_ARGS)

bench-pytest-reference: build
	$(PY) -m pytest benchmarks --ratio-update $(PYTEST_ARGS)

bench-readme: $(STAMP)
	@test -n "$(RUNS)" || { echo 'usage: make bench-readme RUNS="run1.json run2.json ..."'; exit 2; }
	$(PY) scripts/bench_readme.py $(RUNS)

# `make churn-readme RUN=churn.json` writes the README's churn block from one
#   `pgqrs bench churn --json` run.
churn-readme: $(STAMP)
	@test -n "$(RUN)" || { echo 'usage: make churn-readme RUN=churn.json'; exit 2; }
	$(PY) scripts/churn_readme.py $(RUN)

# pgqrs side by side with PgQueuer, procrastinate and the Rust-based pgqrs from PyPI, each against
# the same-run raw psycopg baseline, on one durable throwaway server (benchmarks/peers/runner.py).
# Each peer runs in its own virtualenv under .venv-peers/, created from PyPI on first use
# (`make bench-peers-venvs` creates them without measuring anything).  Writes $(PEERS_JSON) and
# prints the table; `make bench-peers-readme` puts that table into the README.
#   PEERS_ARGS="--peers pgqrs,pgqueuer", "--rounds 3", "--quick", "--dsn ..."
PEERS_JSON ?= peers.json
PEERS_ARGS ?=

bench-peers-venvs: $(STAMP)
	$(PY) benchmarks/peers/runner.py --install-only $(PEERS_ARGS)

bench-peers: build
	$(PY) benchmarks/peers/runner.py --json $(PEERS_JSON) $(PEERS_ARGS)
	$(PY) scripts/peers_readme.py $(PEERS_JSON) --readme -

bench-peers-readme: $(STAMP)
	$(PY) scripts/peers_readme.py $(PEERS_JSON)
