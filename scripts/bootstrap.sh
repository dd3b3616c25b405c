#!/usr/bin/env bash
# Set up everything pgqrs needs on a fresh Debian/Ubuntu machine; safe to run again.
#  - system: PostgreSQL server binaries (the tests start a throwaway cluster), libpq headers and
#    pg_config (psycopg[c] compiles against them), a C compiler (the Cython core), PgBouncer
#    (the suite runs the whole flow through a transaction-pooling PgBouncer), a `postgres` OS
#    user (initdb and pgbouncer refuse root);
#  - Python: a virtualenv in .venv with pgqrs installed editable, its compiled core built in
#    place, and the test/bench/lint tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v pg_config >/dev/null 2>&1 || missing+=(libpq-dev)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# Debian puts pgbouncer in /usr/sbin, which is not on an ordinary user's PATH.
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  missing+=(pgbouncer)
fi
# ab (Apache Bench) is the HTTP load generator of `pgqrs bench --only web`.
command -v ab >/dev/null 2>&1 || missing+=(apache2-utils)
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip "setuptools>=77" wheel "Cython>=3.0"
.venv/bin/python -m pip install -q -e ".[c,dev]"
PGQRS_IMPL=c .venv/bin/python setup.py -q build_ext --inplace  # fails loudly if the core does not compile
echo "bootstrap: done ($(.venv/bin/python -c 'import pgqrs; print("pgqrs", pgqrs.__version__, "core:", pgqrs.__impl__)'))"
