"""The lean road for hot statements (``pgqrs._lane``): taken when it can be, left for psycopg
when it cannot, and indistinguishable from psycopg in results and errors."""

from __future__ import annotations

import asyncio
import decimal
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pgqrs import Config, PgqrsConnectionError, PgqrsError
from pgqrs._database import Database
from pgqrs._impl import core
from pgqrs._pool import JsonbBinary, LaneConnection
from pgqrs._sql import Statement, numbered, queries_for

from conftest import Clients

PREPARED: Statement[Any] = Statement(
    "prepared", b"SELECT name FROM pg_prepared_statements ORDER BY name", None, False
)
BACKEND: Statement[Any] = Statement("backend", b"SELECT pg_backend_pid()", None, False)


@pytest.fixture
async def db(clients: Clients) -> AsyncIterator[Database]:
    # One connection, so the session inspected is the one that ran the statements.
    database = Database(Config(dsn=clients.dsn, pool_min_size=1, pool_max_size=1))
    yield database
    await database.close()


async def prepared_names(db: Database) -> list[str]:
    async with db.transaction() as tx:
        return [row[0] for row in await tx.fetch(PREPARED)]


async def queue_id(clients: Clients) -> int:
    return (await clients.admin().create_queue("lane")).id


async def test_hot_statements_take_the_lane(clients: Clients, db: Database) -> None:
    queries = queries_for(clients.schema)
    qid = await queue_id(clients)
    enqueue = {"payload": JsonbBinary(core.encode_jsonb({"n": 1}, None)), "queue_id": qid}
    ((raw_id,),) = await db.fetch(queries.enqueue, enqueue | {"worker_id": 7})
    lease: dict[str, Any] = {
        "queue_id": qid,
        "count": 5,
        "max_read_ct": 5,
        "lock_seconds": 30.0,
        "floor": None,
    }
    (message,) = core.decode_messages(await db.fetch(queries.dequeue, lease | {"worker_id": 7}))
    assert message.id == core.decode_int8(raw_id)
    assert message.payload == {"n": 1}
    ack = {"ids": [message.id], "queue_id": qid, "worker_id": 7}
    assert core.decode_ids(await db.fetch(queries.archive_messages, ack)) == [message.id]
    names = await prepared_names(db)
    # Prepared on the lane under its own names: statement and parameter type oids.
    assert "pgqrs_enqueue_3802_20_20" in names
    assert any(name.startswith("pgqrs_dequeue_") for name in names)
    assert "pgqrs_archive_messages_1016_20_20" in names
    # A consumer's bounded dequeue sends its scan floor as epoch seconds: float8 (oid 701).
    bounded = lease | {"worker_id": 7, "floor": message.enqueued_at.timestamp() - 1.0}
    assert await db.fetch(queries.dequeue, bounded) == []
    dequeues = [n for n in await prepared_names(db) if n.startswith("pgqrs_dequeue_")]
    assert len(dequeues) == 2, dequeues
    assert any("_701" in n for n in dequeues), dequeues


async def test_a_parameter_the_lane_does_not_encode_goes_through_psycopg(
    clients: Clients, db: Database
) -> None:
    queries = queries_for(clients.schema)
    qid = await queue_id(clients)
    params = {
        "payload": JsonbBinary(core.encode_jsonb({"n": 2}, None)),
        "queue_id": qid,
        "worker_id": 7,
        "delay_seconds": decimal.Decimal("1.5"),  # numeric: not a type the lane encodes
    }
    ((raw_id,),) = await db.fetch(queries.enqueue_delayed, params)
    assert core.decode_int8(raw_id) > 0
    assert not any(n.startswith("pgqrs_enqueue_delayed") for n in await prepared_names(db))
    params["delay_seconds"] = 1.5
    await db.fetch(queries.enqueue_delayed, params)
    assert any(n.startswith("pgqrs_enqueue_delayed") for n in await prepared_names(db))


async def test_server_errors_on_the_lane_are_pgqrs_errors(clients: Clients, db: Database) -> None:
    queries = queries_for(clients.schema)
    lease: dict[str, Any] = {
        "queue_id": 1,
        "count": -1,
        "max_read_ct": 5,
        "lock_seconds": 30.0,
        "worker_id": 7,
    }
    lease["floor"] = None
    with pytest.raises(PgqrsError, match=r"\[2201W\].*LIMIT must not be negative") as info:
        await db.fetch(queries.dequeue, lease)
    assert isinstance(info.value.__cause__, psycopg.Error)
    # The connection is usable afterwards, on the lane again.
    lease["count"] = 1
    assert await db.fetch(queries.dequeue, lease) == []


async def test_a_connection_lost_on_the_lane_is_a_connection_error(
    clients: Clients, db: Database
) -> None:
    queries = queries_for(clients.schema)
    qid = await queue_id(clients)
    params: dict[str, Any] = {
        "queue_id": qid,
        "count": 1,
        "max_read_ct": 5,
        "lock_seconds": 30.0,
        "worker_id": 7,
    }
    params["floor"] = None
    await db.fetch(queries.dequeue, params)
    async with db.transaction() as tx:
        ((pid,),) = await tx.fetch(BACKEND)
    with psycopg.connect(clients.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [int.from_bytes(pid, "big")])
    # Straight away, so the idle check (after a second) does not replace the connection.
    with pytest.raises(PgqrsConnectionError):
        await db.fetch(queries.dequeue, params)
    assert await db.fetch(queries.dequeue, params) == []  # a fresh connection


def _pooled(db: Database) -> LaneConnection:
    """The one connection of ``db``'s pool, as the last call left it."""
    hot = db._connections._hot
    assert hot is not None
    conn = hot.connection
    assert isinstance(conn, LaneConnection)
    return conn


def _slow_lane_statement() -> Statement[Any]:
    """A statement on the lane that surely waits for its result (a fast one may be answered
    before the lane first looks, and then no watch is needed)."""
    statement: Statement[Any] = Statement(
        "slow", b"SELECT %(n)s::int8 FROM pg_sleep(0.02)", None, True
    )
    statement.lane = numbered(statement.sql)
    return statement


async def test_the_watch_outlives_a_lane_call_and_psycopg_ends_it(db: Database) -> None:
    slow = _slow_lane_statement()
    assert await db.fetch(slow, {"n": 1}) == [((1).to_bytes(8, "big"),)]
    conn = _pooled(db)
    assert conn._pgqrs_watch is not None  # kept for the next call
    await db.fetch(BACKEND)  # psycopg's road: it registers its own reader, so ours ends first
    assert conn._pgqrs_watch is None
    async with db.transaction() as tx:  # the lane inside, then psycopg's COMMIT
        await tx.fetch(slow, {"n": 2})
    assert conn._pgqrs_watch is None
    # Had the watch been left believing itself on, this call would wait for ever.
    await asyncio.wait_for(db.fetch(slow, {"n": 3}), 10)
    assert _pooled(db)._pgqrs_watch is not None


async def test_a_goodbye_between_calls_ends_the_watch_without_spinning(
    clients: Clients, db: Database
) -> None:
    queries = queries_for(clients.schema)
    qid = await queue_id(clients)
    enqueue = {"payload": JsonbBinary(core.encode_jsonb({"n": 1}, None)), "queue_id": qid}
    enqueue["worker_id"] = 7
    ((pid,),) = await db.fetch(BACKEND)
    await db.fetch(_slow_lane_statement(), {"n": 1})  # the watch is on
    assert _pooled(db)._pgqrs_watch is not None
    with psycopg.connect(clients.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [int.from_bytes(pid, "big")])
    started = time.process_time()
    await asyncio.sleep(0.5)  # the goodbye arrives while nobody waits
    # A socket left readable at its end of file would have the loop call back without pause.
    assert time.process_time() - started < 0.25
    with pytest.raises(PgqrsConnectionError):
        await asyncio.wait_for(db.fetch(queries.enqueue, enqueue), 10)
    await db.fetch(queries.enqueue, enqueue)  # a fresh connection
