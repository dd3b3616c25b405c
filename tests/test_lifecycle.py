"""Construction without I/O, event loops, worker identity, closing, and error translation."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pgqrs import (
    Admin,
    Config,
    Consumer,
    PgqrsConnectionError,
    PgqrsError,
    Producer,
    SchemaError,
    ValidationError,
    WorkerStatus,
)
from pgqrs._database import Database
from pgqrs._pool import IDLE_CHECK_AFTER
from pgqrs._sql import Statement, queries_for

from conftest import Clients
from processes import spawn

UNREACHABLE = "host=127.0.0.1 port=1 dbname=nothing user=nobody connect_timeout=1"


def test_constructors_do_no_io() -> None:
    # Nothing listens on port 1: construction must still succeed, outside any event loop.
    Admin(UNREACHABLE)
    Producer(UNREACHABLE, "tasks", "api", 8000)
    Consumer(UNREACHABLE, "tasks", "worker", 8001, schema="other", config=Config(prepare=False))


def test_constructor_validates_arguments() -> None:
    with pytest.raises(ValidationError):
        Producer(UNREACHABLE, "", "h", 1)
    with pytest.raises(ValidationError):
        Producer(UNREACHABLE, "q", "h", 70000)
    with pytest.raises(ValidationError):
        Consumer(UNREACHABLE, "q", "h", "80")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Admin(UNREACHABLE, config={"schema": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Config(pool_min_size=5, pool_max_size=2)


async def test_unreachable_server_raises_connection_error() -> None:
    producer = Producer(UNREACHABLE, "tasks", "api", 8000, config=Config(connect_timeout=1))
    with pytest.raises(PgqrsConnectionError) as info:
        await producer.enqueue({})
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, psycopg.Error)  # kept as the cause, not leaked
    await producer.close()


async def test_not_installed_raises_schema_error(dsn: str) -> None:
    async with Producer(dsn, "tasks", "h", 1, schema="pgqrs_never_installed") as producer:
        with pytest.raises(SchemaError, match=r"run Admin\.install"):
            await producer.enqueue({})


def test_same_object_across_event_loops(dsn: str, schema: str) -> None:
    producer = Producer(dsn, "loops", "h", 1, schema=schema)
    consumer = Consumer(dsn, "loops", "h", 2, schema=schema)

    async def setup() -> None:
        async with Admin(dsn, schema=schema) as admin:
            await admin.create_queue("loops")

    async def produce() -> int:
        return await producer.enqueue({"loop": id(asyncio.get_running_loop())})

    asyncio.run(setup())
    ids = [asyncio.run(produce()) for _ in range(3)]
    got = asyncio.run(consumer.dequeue())
    assert [m.id for m in got] == ids

    async def close() -> None:
        await producer.close()
        await consumer.close()

    asyncio.run(close())


async def test_close_marks_worker_stopped_and_reuse_reregisters(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    workers = clients.admin().get_workers()
    async with Producer(clients.dsn, queue, "ctx", 4242, schema=clients.schema) as producer:
        await producer.enqueue(1)
        worker_id = producer.worker_id
        assert (await workers.get(worker_id)).status is WorkerStatus.READY  # type: ignore[arg-type]
    stopped = await workers.get(worker_id)  # type: ignore[arg-type]
    assert stopped.status is WorkerStatus.STOPPED
    assert stopped.shutdown_at is not None
    await producer.enqueue(2)  # used again after close: registers anew, same row
    assert producer.worker_id == worker_id
    again = await workers.get(worker_id)  # type: ignore[arg-type]
    assert again.status is WorkerStatus.READY
    assert again.shutdown_at is None
    await producer.close()


SNIPPET = """
import asyncio, sys
from pgqrs import Producer, Consumer

async def main(dsn, schema, queue):
    producer = Producer(dsn, queue, "proc-host", 5000, schema=schema)
    await producer.enqueue({"pid": __import__("os").getpid()})
    consumer = Consumer(dsn, queue, "proc-host", 5001, schema=schema)
    for message in await consumer.dequeue():
        await consumer.archive(message.id)
    # no close(): the process simply exits

asyncio.run(main(*sys.argv[1:]))
"""


async def test_same_identity_in_new_processes(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    for _ in range(2):
        proc = await spawn(SNIPPET, clients.dsn, clients.schema, queue, stderr=subprocess.PIPE)
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    admin = clients.admin()
    assert await admin.get_archive().count(queue=queue) == 2
    assert await admin.get_workers().count(queue=queue) == 2


@pytest.mark.parametrize("prepare", [True, False])
async def test_prepare_setting_controls_server_side_statements(
    clients: Clients, prepare: bool
) -> None:
    # The database layer is the unit: one connection, so the session inspected is the one that
    # ran the hot statements.
    db = Database(Config(dsn=clients.dsn, prepare=prepare, pool_min_size=1, pool_max_size=1))
    queries = queries_for(clients.schema)
    assert queries.heartbeat.hot
    assert not queries.get_queue.hot
    try:
        for _ in range(8):  # past psycopg's automatic prepare threshold (5)
            await db.fetch(queries.heartbeat, {"worker_id": 0, "started_at": None})
            await db.fetch(queries.get_queue, {"queue_name": "none"})
        count: Statement[Any] = Statement(
            "count", b"SELECT count(*) FROM pg_prepared_statements", None, False
        )
        async with db.transaction() as tx:
            ((prepared,),) = await tx.fetch(count)
        assert (int.from_bytes(prepared) > 0) is prepare
    finally:
        await db.close()


def test_error_hierarchy() -> None:
    import pgqrs

    for name in pgqrs.errors.__all__:
        cls = getattr(pgqrs, name)
        assert issubclass(cls, PgqrsError)
        assert issubclass(cls, RuntimeError)
    assert issubclass(pgqrs.SerializationError, TypeError)
    assert issubclass(pgqrs.ValidationError, ValueError)


def test_translate_tells_connection_errors_from_misuse() -> None:
    from pgqrs._translate import translate

    lost = translate(psycopg.OperationalError("server closed the connection"), schema="s")
    assert type(lost) is PgqrsConnectionError
    misuse = translate(psycopg.ProgrammingError("cannot adapt type"), schema="s")
    assert type(misuse) is PgqrsError
    assert "cannot adapt type" in str(misuse)


async def test_cancelled_calls_leave_the_client_usable(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    import contextlib

    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue("first")
    for delay in (0, 0.001, 0.005, 0.02, 0.05):
        batch = asyncio.create_task(producer.enqueue_batch([{"n": n} for n in range(20_000)]))
        await asyncio.sleep(delay)
        batch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batch
        assert await producer.enqueue({"after": delay}) > 0
    total = await clients.admin().get_messages().count(queue=queue)
    assert (total - 6) % 20_000 == 0  # every cancelled batch is all or nothing


async def test_connections_closed_by_the_server_while_idle_are_replaced(
    dsn: str, schema: str, queue_factory: Callable[..., Any]
) -> None:
    # What an idle_session_timeout, a proxy or a server restart does to a quiet client: its
    # next call must run on a new connection, not fail on the dead one.  Nothing had been sent
    # on the dead one, so no statement is in doubt.
    queue = await queue_factory()
    name = "pgqrs-test-victim"
    victim_dsn = psycopg.conninfo.make_conninfo(dsn, application_name=name)
    async with Producer(victim_dsn, queue, "victim", 7300, schema=schema) as producer:
        consumer = Consumer(victim_dsn, queue, "victim", 7301, schema=schema)
        async with consumer:
            await producer.enqueue_batch([{"n": n} for n in range(100)])
            assert len(await consumer.dequeue_many(10)) == 10
            for round_no in range(2):
                await asyncio.sleep(IDLE_CHECK_AFTER + 0.1)  # idle: checked before use
                with psycopg.connect(dsn, autocommit=True) as conn:
                    killed = conn.execute(
                        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                        " WHERE application_name = %s",
                        [name],
                    ).fetchone()
                assert killed is not None
                assert killed[0] >= 2
                assert await producer.enqueue({"round": round_no}) > 0
                assert len(await producer.enqueue_batch([{"n": n} for n in range(100)])) == 100
                messages = await consumer.dequeue_many(10)
                assert len(messages) == 10
                assert await consumer.archive_many([m.id for m in messages]) == [True] * 10
