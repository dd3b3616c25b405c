"""The lean road for hot statements (``pgqrs._lane``): taken when it can be, left for psycopg
when it cannot, and indistinguishable from psycopg in results and errors."""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pgqrs import Config, PgqrsConnectionError, PgqrsError
from pgqrs._database import Database
from pgqrs._impl import core
from pgqrs._pool import JsonbBinary
from pgqrs._sql import Statement, queries_for

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
