"""Admin: install/verify/uninstall, queues, metrics and the table classes."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import (
    Admin,
    MessageNotFoundError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    SchemaError,
    ValidationError,
    WorkerNotFoundError,
    WorkerStatus,
)
from pgqrs._sql import SCHEMA_VERSION

from conftest import Clients


async def test_install_is_idempotent_and_verifies(dsn: str, bare_schema: str) -> None:
    async with Admin(dsn, schema=bare_schema) as admin:
        with pytest.raises(SchemaError, match="missing"):
            await admin.verify()
        await admin.install()
        await admin.install()
        await admin.verify()
        await admin.create_queue("kept")
        await admin.install()  # does not disturb data
        assert (await admin.get_queue("kept")).queue_name == "kept"


async def test_install_sql_applied_by_hand_installs(dsn: str, bare_schema: str) -> None:
    """What a DBA does with `pgqrs sql`: apply the text in one transaction, then verify."""
    admin = Admin(dsn, schema=bare_schema)
    text = admin.install_sql()  # no I/O: nothing is installed yet
    assert f'"{bare_schema}".pgqrs_messages' in text
    with psycopg.connect(dsn) as conn:
        conn.execute(text)
    async with admin:
        await admin.verify()
        await admin.install()  # and install() sees a current schema


async def test_concurrent_installs(dsn: str, bare_schema: str) -> None:
    admins = [Admin(dsn, schema=bare_schema) for _ in range(4)]
    await asyncio.gather(*(a.install() for a in admins))
    await admins[0].verify()
    for a in admins:
        await a.close()


async def test_uninstall_removes_everything(dsn: str, bare_schema: str) -> None:
    async with Admin(dsn, schema=bare_schema) as admin:
        await admin.install()
        await admin.create_queue("q")
        await admin.uninstall()
        with pytest.raises(SchemaError):
            await admin.verify()
        with pytest.raises(SchemaError, match="not installed"):
            await admin.create_queue("q")
        await admin.install()
        assert await admin.get_queues().count() == 0


async def test_verify_reports_missing_index(dsn: str, bare_schema: str) -> None:
    async with Admin(dsn, schema=bare_schema) as admin:
        await admin.install()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP INDEX {}").format(
                    sql.Identifier(bare_schema, "pgqrs_messages_queue_vt_idx")
                )
            )
        with pytest.raises(SchemaError, match="pgqrs_messages_queue_vt_idx"):
            await admin.verify()


async def test_newer_schema_version_refused(dsn: str, bare_schema: str) -> None:
    async with Admin(dsn, schema=bare_schema) as admin:
        await admin.install()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(
                    sql.Identifier(bare_schema, "pgqrs_schema_version")
                ),
                (SCHEMA_VERSION + 1,),
            )
        with pytest.raises(SchemaError, match="upgrade pgqrs"):
            await admin.install()
        with pytest.raises(SchemaError, match="version"):
            await admin.verify()


async def test_queue_lifecycle(admin: Admin) -> None:
    created = await admin.create_queue("orders")
    assert created.queue_name == "orders"
    assert created.id > 0
    assert created.created_at.tzinfo is not None
    with pytest.raises(QueueAlreadyExistsError, match="Queue 'orders' already exists") as info:
        await admin.create_queue("orders")
    assert isinstance(info.value, RuntimeError)
    assert await admin.get_queue("orders") == created
    assert await admin.get_queues().get(created.id) == created
    await admin.delete_queue("orders")
    for call in (admin.get_queue, admin.delete_queue, admin.purge_queue, admin.queue_metrics):
        with pytest.raises(QueueNotFoundError, match="'orders'"):
            await call("orders")


@pytest.mark.parametrize("name", ["", None, 5, "nul\x00"])
async def test_bad_queue_names(admin: Admin, name: Any) -> None:
    with pytest.raises(ValidationError):
        await admin.create_queue(name)


async def test_hostile_queue_name_is_plain_data(clients: Clients, admin: Admin) -> None:
    name = "x'; drop table pgqrs_messages; --"
    await admin.create_queue(name)
    msg_id = await clients.producer(name).enqueue({"safe": True})
    [message] = await clients.consumer(name).dequeue()
    assert message.id == msg_id
    assert (await admin.get_queue(name)).queue_name == name
    assert (await admin.queue_metrics(name)).in_flight_messages == 1
    await admin.verify()  # every table is still there


async def test_hostile_schema_name_is_quoted(dsn: str) -> None:
    name = f'we"ird; drop schema public cascade; -- {uuid.uuid4().hex[:6]}'
    try:
        async with Admin(dsn, schema=name) as admin:
            await admin.install()
            await admin.verify()
            await admin.create_queue("q")
            assert await admin.get_queues().count() == 1
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


async def test_purge_and_delete_queue(
    clients: Clients, admin: Admin, queue_factory: Callable[..., Any]
) -> None:
    queue, other = await queue_factory(), await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue_batch(list(range(7)))
    await clients.producer(other).enqueue_batch(["keep", "archived"])
    other_consumer = clients.consumer(other)
    [kept, archived] = await other_consumer.dequeue_many(2)
    assert await other_consumer.archive(archived.id)
    assert await other_consumer.release(kept.id)
    consumer = clients.consumer(queue)
    [first] = await consumer.dequeue_many(1)
    await consumer.archive(first.id)
    assert await admin.purge_queue(queue) == 6
    assert await admin.get_messages().count(queue=queue) == 0
    assert await admin.get_archive().count(queue=queue) == 1  # purge keeps the archive
    await admin.delete_queue(queue)
    # The queue's archive went with it; the other queue's messages and archive are untouched.
    assert await admin.get_archive().count(queue=other) == 1
    assert await admin.get_archive().count() == 1
    assert await admin.get_messages().count() == 1
    workers = await admin.get_workers().list()
    assert {w.queue_id for w in workers if w.port == producer.port} == {None}


async def test_queue_metrics_agree_with_tables(
    clients: Clients, admin: Admin, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    empty = await admin.queue_metrics(queue)
    assert (empty.total_messages, empty.pending_messages, empty.oldest_pending_age) == (0, 0, None)
    producer = clients.producer(queue)
    await producer.enqueue_batch(list(range(10)))
    await producer.enqueue_delayed("later", 3600)
    consumer = clients.consumer(queue)
    leased = await consumer.dequeue_many(4)
    await consumer.archive_many([m.id for m in leased[:2]])
    metrics = await admin.queue_metrics(queue)
    assert metrics.queue_name == queue
    assert metrics.total_messages == 9 == await admin.get_messages().count(queue=queue)
    assert metrics.pending_messages == 6
    assert metrics.in_flight_messages == 2
    assert metrics.delayed_messages == 1
    assert metrics.archived_messages == 2 == await admin.get_archive().count(queue=queue)
    assert metrics.oldest_pending_age is not None
    assert metrics.oldest_pending_age.total_seconds() >= 0
    assert metrics.newest_message_at is not None
    # The same counts from the all-queues form; only the clock-derived fields move.
    (again,) = [m for m in await admin.all_queues_metrics() if m.queue_name == queue]
    same_clock = dataclasses.replace(
        again, measured_at=metrics.measured_at, oldest_pending_age=metrics.oldest_pending_age
    )
    assert same_clock == metrics


async def test_tables_list_count_get_and_filters(
    clients: Clients, admin: Admin, queue_factory: Callable[..., Any]
) -> None:
    first, second = await queue_factory(), await queue_factory()
    ids = await clients.producer(first).enqueue_batch(list(range(5)))
    await clients.producer(second).enqueue_batch(list(range(3)))
    consumer = clients.consumer(first)
    await consumer.dequeue_many(2)
    await consumer.archive(ids[0])

    queues = admin.get_queues()
    assert await queues.count() == 2
    assert [q.queue_name for q in await queues.list()] == [first, second]
    assert [q.queue_name for q in await queues.list(limit=1, offset=1)] == [second]

    messages = admin.get_messages()
    assert await messages.count() == 7
    assert await messages.count(queue=first) == 4
    assert [m.payload for m in await messages.list(queue=first, limit=2)] == [1, 2]
    assert (await messages.get(ids[1])).read_ct == 1
    with pytest.raises(MessageNotFoundError):
        await messages.get(ids[0])  # archived

    archive = admin.get_archive()
    [archived] = await archive.list(queue=first)
    assert archived.original_msg_id == ids[0]
    assert archived.payload == 0
    assert await archive.get(archived.id) == archived
    with pytest.raises(MessageNotFoundError):
        await archive.get(archived.id + 1000)

    workers = admin.get_workers()
    assert await workers.count() == 3
    assert await workers.count(queue=first) == 2
    assert await workers.count(status="ready") == 3
    assert await workers.count(status=WorkerStatus.STOPPED) == 0
    listed = await workers.list(queue=second)
    assert len(listed) == 1
    assert listed[0].status is WorkerStatus.READY
    assert await workers.get(listed[0].id) == listed[0]
    with pytest.raises(WorkerNotFoundError):
        await workers.get(10**9)
    with pytest.raises(ValidationError):
        await workers.count(status="sleeping")
    with pytest.raises(QueueNotFoundError):
        await messages.count(queue="nope")
    with pytest.raises(ValidationError):
        await messages.list(limit=-1)
