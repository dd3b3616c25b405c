"""Fixtures shared by the test suite (``tests/``) and the benchmarks (``benchmarks/``).

With ``PGQRS_TEST_DSN`` set, both use that server (the role needs CREATEDB); otherwise one
throwaway cluster (:class:`pgqrs.embedded.EmbeddedPostgres`, the fast kind: durability off) is
started for the session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest imports this file by putting its directory, the checkout, first on sys.path.  The
# wheel tests set PYTHONSAFEPATH so that `import pgqrs` finds the installed wheel and not the
# checkout's sources: for them, take the checkout off again (nothing else here needs it).
if sys.flags.safe_path:
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _here]

import pgqrs
from pgqrs.embedded import given_or_throwaway


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    """DSN of the server's maintenance database: ``PGQRS_TEST_DSN``, else a throwaway
    cluster's."""
    with given_or_throwaway(os.environ.get("PGQRS_TEST_DSN")) as server_dsn:
        yield server_dsn


def pytest_report_header() -> str:
    return f"pgqrs {pgqrs.__version__}, core: {pgqrs.__impl__}"
