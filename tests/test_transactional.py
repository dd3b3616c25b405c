"""Enqueue in the caller's own transaction (``conn=``): the transactional outbox.  Rolled back,
no message; committed, every message; never visible to a consumer before the commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import sqlalchemy
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.ext.asyncio import create_async_engine

from pgqrs import Config, Producer, QueueMessage, ValidationError

from conftest import Clients

# Sizes that take each path: one statement, a small batch in one INSERT, a COPY batch.
BATCHES = [1, 10, 500]


async def enqueue_in(producer: Producer, conn: Any, size: int) -> list[int]:
    if size == 1:
        return [await producer.enqueue({"n": 0}, conn=conn)]
    return await producer.enqueue_batch([{"n": n} for n in range(size)], conn=conn)


def orders_table(dsn: str, schema: str) -> sql.Identifier:
    table = sql.Identifier(schema, "orders")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id int PRIMARY KEY)").format(table))
    return table


@pytest.mark.parametrize("size", BATCHES)
async def test_rollback_leaves_no_message_and_commit_leaves_all(
    clients: Clients, queue_factory: Callable[..., Any], size: int
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    messages = clients.admin().get_messages()
    orders = orders_table(clients.dsn, clients.schema)
    async with await psycopg.AsyncConnection.connect(clients.dsn) as conn:
        await conn.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(orders))
        ids = await enqueue_in(producer, conn, size)
        assert len(ids) == size  # known before the commit
        assert await messages.count(queue=queue) == 0  # not visible outside the transaction
        await conn.rollback()
        assert await messages.count(queue=queue) == 0
        await conn.execute(sql.SQL("INSERT INTO {} VALUES (2)").format(orders))
        ids = await enqueue_in(producer, conn, size)
        await conn.commit()
    assert sorted(m.id for m in await messages.list(queue=queue, limit=1000)) == sorted(ids)
    # The order row and its messages committed together; the rolled-back order is gone.
    with psycopg.connect(clients.dsn) as check:
        rows = check.execute(sql.SQL("SELECT id FROM {}").format(orders)).fetchall()
    assert rows == [(2,)]


@pytest.mark.parametrize("size", BATCHES)
async def test_sync_connection_in_its_transaction(
    clients: Clients, queue_factory: Callable[..., Any], size: int
) -> None:
    # A sync framework's connection (Django's, SQLAlchemy's sync engine): the same code path.
    queue = await queue_factory()
    producer = clients.producer(queue)
    messages = clients.admin().get_messages()
    with psycopg.connect(clients.dsn) as conn:
        await enqueue_in(producer, conn, size)
        conn.rollback()
        assert await messages.count(queue=queue) == 0
        ids = await enqueue_in(producer, conn, size)
        assert await messages.count(queue=queue) == 0
        conn.commit()
    assert sorted(m.id for m in await messages.list(queue=queue, limit=1000)) == sorted(ids)


async def test_consumer_sees_nothing_before_the_commit_and_wakes_at_it(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue, config=Config(notify=True))
    consumer = clients.consumer(queue, config=Config(poll_interval=30))
    seen: list[QueueMessage] = []
    stop = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        seen.append(message)
        stop.set()

    await consumer.heartbeat()
    loop = asyncio.create_task(consumer.consume(handler, stop=stop))
    await asyncio.sleep(0.3)  # idle, listening, polling only every 30 s
    async with await psycopg.AsyncConnection.connect(clients.dsn) as conn:
        message_id = await producer.enqueue({"outbox": 1}, conn=conn)
        assert await consumer.dequeue_many(10) == []  # invisible before the commit
        await asyncio.sleep(0.5)
        assert seen == []  # the NOTIFY is not sent before the commit either
        await conn.commit()
    # Only the NOTIFY sent at the commit can wake the loop before its 30-second poll.
    await asyncio.wait_for(loop, 10)
    assert [m.id for m in seen] == [message_id]


async def test_conn_must_be_a_psycopg_connection(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    producer = clients.producer(await queue_factory())
    with pytest.raises(ValidationError, match="conn must be a psycopg"):
        await producer.enqueue({}, conn="postgresql://")  # type: ignore[arg-type]


def _sqlalchemy_url(dsn: str, driver: str) -> str:
    params = conninfo_to_dict(dsn)
    return (
        f"postgresql+{driver}://{params['user']}@/{params['dbname']}"
        f"?host={params['host']}&port={params['port']}"
    )


async def test_sqlalchemy_async_session_as_the_readme_says(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    messages = clients.admin().get_messages()
    engine = create_async_engine(_sqlalchemy_url(clients.dsn, "psycopg"))
    try:
        for commit in (False, True):
            async with engine.connect() as conn:
                await conn.begin()
                raw = (await conn.get_raw_connection()).driver_connection
                message_id = await producer.enqueue({"commit": commit}, conn=raw)
                await (conn.commit() if commit else conn.rollback())
        assert [m.id for m in await messages.list(queue=queue)] == [message_id]
    finally:
        await engine.dispose()


async def test_sqlalchemy_sync_engine_as_the_readme_says(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    engine = sqlalchemy.create_engine(_sqlalchemy_url(clients.dsn, "psycopg"))
    try:
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            ids = await producer.enqueue_batch([{"n": n} for n in range(100)], conn=raw)
    finally:
        engine.dispose()
    listed = await clients.admin().get_messages().list(queue=queue, limit=200)
    assert sorted(m.id for m in listed) == ids
