"""pgqrs through a real PgBouncer in transaction pooling mode (tests/pgbouncer.py starts it).

With ``Config(prepare=False, listen=False)`` the whole flow works, with more clients than
PgBouncer has server connections.  With the default config, prepared statements land on server
connections that never prepared them (or prepared another client's), and every such failure is
one ``ConfigurationError`` that names PgBouncer and the settings to use.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from pgqrs import (
    Admin,
    Config,
    ConfigurationError,
    Consumer,
    PgqrsConnectionError,
    PgqrsError,
    Producer,
    QueueMessage,
)
from pgqrs._translate import translate

from pgbouncer import POOL_SIZE

BEHIND_PGBOUNCER = Config(prepare=False, listen=False, poll_interval=0.05)
CLIENTS = 3 * POOL_SIZE  # more clients than server connections


def drop_schema(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def bounced_schema(dsn: str) -> Iterator[str]:
    """A schema name for a test to install through PgBouncer; dropped (directly) afterwards."""
    name = f"pgqrs_b_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(dsn, name)


def transactions_pooled(pgbouncer_dsn: str) -> int:
    """Transactions PgBouncer has passed to servers so far (its admin console's SHOW STATS)."""
    with psycopg.connect(pgbouncer_dsn, dbname="pgbouncer", autocommit=True) as conn:
        cur = conn.execute("SHOW STATS")
        index = [column.name for column in cur.description or []].index("total_xact_count")
        return sum(int(row[index]) for row in cur.fetchall())


async def test_whole_flow_through_transaction_pooling(
    pgbouncer_dsn: str, bounced_schema: str
) -> None:
    config = replace(BEHIND_PGBOUNCER, schema=bounced_schema)
    before = transactions_pooled(pgbouncer_dsn)
    async with Admin(pgbouncer_dsn, config=config) as admin:
        await admin.install()
        await admin.install()  # idempotent through the pooler too
        await admin.verify()
        await admin.create_queue("jobs")

        async def produce(port: int) -> list[int]:
            async with Producer(pgbouncer_dsn, "jobs", "bouncer", port, config=config) as producer:
                ids = [await producer.enqueue({"one": port})]
                ids += await producer.enqueue_batch([{"small": n} for n in range(10)])
                ids += await producer.enqueue_batch([{"copy": n} for n in range(500)])  # COPY
                await producer.enqueue_delayed({"later": port}, 3600)
                return ids

        produced = await asyncio.gather(*(produce(1000 + i) for i in range(CLIENTS)))
        ids = [i for batch in produced for i in batch]
        assert len(set(ids)) == CLIENTS * 511
        metrics = await admin.queue_metrics("jobs")
        assert metrics.pending_messages == len(ids)
        assert metrics.delayed_messages == CLIENTS

        async with Consumer(pgbouncer_dsn, "jobs", "bouncer", 1, config=config) as consumer:
            first = await consumer.dequeue_many(20)
            assert len(first) == 20
            assert {m.id for m in first} <= set(ids)
            assert await consumer.archive(first[0].id)
            assert await consumer.archive_many([m.id for m in first[1:]]) == [True] * 19
        handled: list[int] = []
        stop = asyncio.Event()

        async def handler(message: QueueMessage) -> None:
            handled.append(message.id)
            if len(handled) == len(ids) - 20:
                stop.set()

        async def consume(port: int) -> int:
            async with Consumer(pgbouncer_dsn, "jobs", "bouncer", port, config=config) as c:
                return await c.consume(handler, batch_size=50, concurrency=4, stop=stop)

        counts = await asyncio.wait_for(
            asyncio.gather(*(consume(2000 + i) for i in range(CLIENTS))), 60
        )
        assert sum(counts) == len(ids) - 20
        assert sorted(handled + [m.id for m in first]) == sorted(ids)
        metrics = await admin.queue_metrics("jobs")
        assert (metrics.pending_messages, metrics.in_flight_messages) == (0, 0)
        assert metrics.archived_messages == len(ids)
        assert metrics.delayed_messages == CLIENTS
    # It all went through PgBouncer.
    assert transactions_pooled(pgbouncer_dsn) - before > len(ids) // 50


async def test_default_config_behind_pgbouncer_says_what_to_change(
    pgbouncer_dsn: str, bounced_schema: str
) -> None:
    config = Config(schema=bounced_schema)  # prepare=True, listen=True: the defaults
    async with Admin(pgbouncer_dsn, config=BEHIND_PGBOUNCER, schema=bounced_schema) as admin:
        await admin.install()
        await admin.create_queue("jobs")

    async def produce(port: int) -> None:
        async with Producer(pgbouncer_dsn, "jobs", "clash", port, config=config) as producer:
            for n in range(20):
                await producer.enqueue({"n": n})
                await producer.enqueue_delayed({"n": n}, 60)

    # Each client names its prepared statements _pg3_0, _pg3_1, ...: with more clients than
    # server connections, two of them prepare the same name on one server connection.
    results = await asyncio.gather(
        *(produce(3000 + i) for i in range(CLIENTS)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors, "no prepared-statement clash behind a transaction-pooling PgBouncer"
    for error in errors:
        assert isinstance(error, ConfigurationError), repr(error)
        assert "PgBouncer" in str(error)
        assert "Config(prepare=False, listen=False)" in str(error)
        assert isinstance(error.__cause__, psycopg.Error)  # the original stays inspectable
        assert error.__cause__.sqlstate in {"42P05", "26000", "08P01"}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [("_pg3_7", ConfigurationError), ("my_statement", PgqrsError)],
)
def test_bind_protocol_violation_is_not_a_lost_connection(
    dsn: str, statement: str, expected: type[PgqrsError]
) -> None:
    # A Bind with more parameters than its statement was prepared with: the server's 08P01, as
    # a client behind PgBouncer gets it when another client's statement holds its name.
    with psycopg.connect(dsn, autocommit=True) as conn:
        name = sql.Identifier(statement)
        conn.execute(sql.SQL("PREPARE {} AS SELECT $1::int + $2::int").format(name))
        pgconn = conn.pgconn
        pgconn.send_query_prepared(statement.encode(), [b"1", b"2", b"3", b"4", b"5"])
        result = pgconn.get_result()
        while pgconn.get_result() is not None:
            pass
        assert result is not None
        exc = psycopg.errors.error_from_result(result)
        assert exc.sqlstate == "08P01"
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection lives on
    error = translate(exc, schema="public")
    assert type(error) is expected
    assert not isinstance(error, PgqrsConnectionError)
    if expected is ConfigurationError:
        assert "Config(prepare=False, listen=False)" in str(error)
    else:
        assert str(error).startswith("protocol error [08P01]: bind message supplies 5")
