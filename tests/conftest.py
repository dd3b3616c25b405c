"""Fixtures: a real PostgreSQL for every test that touches the database.

The server (the ``dsn`` fixture) comes from the root ``conftest.py``, shared with the
benchmarks.  Each test gets either its own database (``fresh_dsn``, for the seed examples that
use the default schema) or its own installed schema (``schema``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgqrs import Admin, Consumer, Producer

from pgbouncer import OPT_OUT_ENV, transaction_pooler


@pytest.fixture(scope="session")
def pgbouncer_dsn(dsn: str) -> Iterator[str]:
    """DSN of the test server's maintenance database through a transaction-pooling PgBouncer.

    A missing pgbouncer binary fails the tests that use this, unless PGQRS_TEST_NO_PGBOUNCER=1.
    """
    if os.environ.get(OPT_OUT_ENV) == "1":
        pytest.skip(f"{OPT_OUT_ENV}=1: PgBouncer tests skipped on request")
    with transaction_pooler(dsn) as bouncer_dsn:
        yield bouncer_dsn


def _admin_exec(dsn: str, statement: sql.Composed) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def fresh_dsn(dsn: str) -> Iterator[str]:
    """DSN of a new, empty database, dropped after the test."""
    name = f"pgqrs_test_{uuid.uuid4().hex[:12]}"
    _admin_exec(dsn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(dsn, dbname=name)
    # FORCE: examples may leave connections open, as the seed's snippets never close.
    _admin_exec(dsn, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def module_dsn(dsn: str) -> Iterator[str]:
    """DSN of a database of the test module's own, with pgqrs installed in ``public``: the
    CLI tests share it, each with queues of its own."""
    name = f"pgqrs_mod_{uuid.uuid4().hex[:12]}"
    _admin_exec(dsn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = make_conninfo(dsn, dbname=name)

    async def install() -> None:
        async with Admin(database) as admin:
            await admin.install()

    asyncio.run(install())
    yield database
    _admin_exec(dsn, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def bare_schema(dsn: str) -> Iterator[str]:
    """A schema name with nothing installed; dropped afterwards if something created it."""
    name = f"pgqrs_bare_{uuid.uuid4().hex[:10]}"
    yield name
    _admin_exec(dsn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A freshly installed pgqrs schema in the shared test database, dropped after the test."""
    name = f"pgqrs_t_{uuid.uuid4().hex[:12]}"

    async def install() -> None:
        async with Admin(dsn, schema=name) as admin:
            await admin.install()

    asyncio.run(install())
    yield name
    _admin_exec(dsn, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


Client = TypeVar("Client", Admin, Producer, Consumer)


class Clients:
    """Creates pgqrs objects bound to the test's schema and closes them afterwards."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self._opened: list[Admin | Producer | Consumer] = []
        self._ports = iter(range(20000, 30000))

    def _keep(self, obj: Client) -> Client:
        self._opened.append(obj)
        return obj

    def track(self, obj: Client) -> Client:
        """Close ``obj``, made elsewhere, with the others after the test."""
        return self._keep(obj)

    def admin(self, **kwargs: Any) -> Admin:
        return self._keep(Admin(self.dsn, schema=self.schema, **kwargs))

    def producer(
        self, queue: str, port: int | None = None, hostname: str = "test-host", **kwargs: Any
    ) -> Producer:
        port = next(self._ports) if port is None else port
        return self._keep(Producer(self.dsn, queue, hostname, port, schema=self.schema, **kwargs))

    def consumer(
        self, queue: str, port: int | None = None, hostname: str = "test-host", **kwargs: Any
    ) -> Consumer:
        port = next(self._ports) if port is None else port
        return self._keep(Consumer(self.dsn, queue, hostname, port, schema=self.schema, **kwargs))

    async def close(self) -> None:
        for obj in reversed(self._opened):
            await obj.close()


@pytest.fixture
async def clients(dsn: str, schema: str) -> AsyncIterator[Clients]:
    made = Clients(dsn, schema)
    yield made
    await made.close()


@pytest.fixture
async def admin(clients: Clients) -> Admin:
    return clients.admin()


@pytest.fixture
def queue_factory(admin: Admin) -> Callable[..., Any]:
    async def create(name: str | None = None) -> str:
        name = name or f"q-{uuid.uuid4().hex[:8]}"
        await admin.create_queue(name)
        return name

    return create


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not db"` selects what runs without a server (a wheel's own test, for instance).
    for item in items:
        if "dsn" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
