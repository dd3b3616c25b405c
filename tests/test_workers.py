"""Workers: automatic heartbeats, health, suspend/resume, shutdown, identity takeover across
processes (SIGKILL included), and the admin worker operations."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import Config, Consumer, WorkerError, WorkerNotFoundError, WorkerStatus

from conftest import Clients
from processes import spawn

FAST = Config(heartbeat_interval=0.1)  # stale after 0.3 s


async def test_auto_heartbeat_keeps_idle_worker_healthy(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin(config=FAST)
    producer = clients.producer(queue, config=FAST)
    await producer.enqueue({"hello": 1})
    first = (await admin.get_workers().get(producer.worker_id or 0)).heartbeat_at
    await asyncio.sleep(1.0)  # ten intervals, three times the stale threshold
    [health] = await admin.worker_health(queue)
    assert health.worker.heartbeat_at > first
    assert not health.is_stale
    assert health.heartbeat_age.total_seconds() < 0.3
    assert (await admin.worker_stats(queue)).stale == 0


async def test_stopped_worker_is_never_stale(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin(config=FAST)
    producer = clients.producer(queue, config=FAST)
    await producer.enqueue(1)
    await producer.close()
    await asyncio.sleep(0.5)
    [health] = await admin.worker_health(queue)
    assert health.worker.status is WorkerStatus.STOPPED
    assert not health.is_stale
    stats = await admin.worker_stats(queue)
    assert (stats.total, stats.stopped, stats.stale) == (1, 1, 0)


async def test_stale_worker_is_reclaimed_with_its_leases(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin(config=Config(stale_after=0.3))
    producer = clients.producer(queue)
    await producer.enqueue_batch([1, 2, 3])
    # A default heartbeat interval (30 s): from the admin's 0.3 s view it soon looks dead.
    silent = clients.consumer(queue)
    alive = clients.consumer(queue, config=FAST)
    assert len(await silent.dequeue_many(3, lock_seconds=60)) == 3
    await alive.dequeue_many(1)
    await asyncio.sleep(0.5)
    health = {h.worker.id: h for h in await admin.worker_health(queue)}
    assert health[silent.worker_id or 0].is_stale
    assert health[silent.worker_id or 0].leased_messages == 3
    assert not health[alive.worker_id or 0].is_stale
    reclaimed = await admin.reclaim_stale_workers(queue)
    assert reclaimed.worker_ids == sorted([producer.worker_id or 0, silent.worker_id or 0])
    assert reclaimed.released_messages == 3
    metrics = await admin.queue_metrics(queue)
    assert (metrics.pending_messages, metrics.in_flight_messages) == (3, 0)
    assert (await admin.get_workers().get(silent.worker_id or 0)).status is WorkerStatus.STOPPED
    # The reclaimed consumer was alive after all: its next heartbeat finds the row stopped,
    # and its next call registers it again.
    assert await silent.heartbeat() is WorkerStatus.STOPPED
    assert [m.read_ct for m in await silent.dequeue_many(3)] == [2, 2, 2]
    assert (await admin.get_workers().get(silent.worker_id or 0)).status is WorkerStatus.READY


async def test_release_worker_messages_and_purge_stopped(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    await clients.producer(queue).enqueue_batch([1, 2])
    consumer = clients.consumer(queue)
    await consumer.dequeue_many(2, lock_seconds=60)
    assert await admin.release_worker_messages(consumer.worker_id or 0) == 2
    assert (await admin.queue_metrics(queue)).pending_messages == 2
    assert await admin.release_worker_messages(consumer.worker_id or 0) == 0
    with pytest.raises(WorkerNotFoundError):
        await admin.release_worker_messages(10**12)
    await consumer.close()
    assert await admin.purge_stopped_workers(3600) == 0  # stopped just now
    await asyncio.sleep(0.05)
    assert await admin.purge_stopped_workers(0.01) == 1
    assert await admin.get_workers().count(queue=queue) == 1  # the producer, still ready


async def test_suspended_consumer_does_not_dequeue(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    await clients.producer(queue).enqueue(1)
    consumer = clients.consumer(queue, config=FAST)
    await consumer.suspend()
    assert await consumer.status() is WorkerStatus.SUSPENDED
    with pytest.raises(WorkerError, match="is suspended"):
        await consumer.dequeue()
    await consumer.resume()
    assert len(await consumer.dequeue()) == 1
    # An operator's suspend reaches the consumer through its next heartbeat.
    admin = clients.admin()
    await admin.suspend_worker(consumer.worker_id or 0)
    await asyncio.sleep(0.3)
    with pytest.raises(WorkerError, match="is suspended"):
        await consumer.dequeue()
    await admin.resume_worker(consumer.worker_id or 0)
    assert await consumer.heartbeat() is WorkerStatus.READY
    assert await consumer.dequeue() == []


async def test_shutdown_refuses_while_holding_leases(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    await clients.producer(queue).enqueue_batch([1, 2])
    consumer = clients.consumer(queue)
    await consumer.dequeue_many(2, lock_seconds=60)
    worker_id = consumer.worker_id or 0
    with pytest.raises(WorkerError, match="2 leased message"):
        await consumer.shutdown()
    assert (await admin.get_workers().get(worker_id)).status is WorkerStatus.READY
    await consumer.shutdown(release=True)
    assert (await admin.get_workers().get(worker_id)).status is WorkerStatus.STOPPED
    metrics = await admin.queue_metrics(queue)
    assert (metrics.pending_messages, metrics.in_flight_messages) == (2, 0)


async def test_abandoned_object_in_same_process_is_taken_over(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    old = clients.consumer(queue, port=7001)
    await old.dequeue()
    new = clients.consumer(queue, port=7001)
    await new.dequeue()
    assert new.worker_id == old.worker_id
    # The old object cannot stop or heartbeat the row it lost.
    await old.close()
    workers = clients.admin().get_workers()
    assert (await workers.get(new.worker_id or 0)).status is WorkerStatus.READY
    assert await new.status() is WorkerStatus.READY


def _set_owner(dsn: str, schema: str, worker_id: int, host: str, heartbeat_age: float) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET process_host = %s, "
                "heartbeat_at = now() - make_interval(secs => %s) WHERE id = %s"
            ).format(sql.Identifier(schema, "pgqrs_workers")),
            (host, heartbeat_age, worker_id),
        )


async def test_other_host_owner_is_refused_until_stale(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    first = clients.consumer(queue, port=7002)
    await first.dequeue()
    worker_id = first.worker_id or 0
    # Pretend the owner runs on another machine: its PID means nothing here.
    _set_owner(clients.dsn, clients.schema, worker_id, "elsewhere", 0)
    second = clients.consumer(queue, port=7002)
    with pytest.raises(WorkerError, match=r"'elsewhere'.*heartbeat"):
        await second.dequeue()
    _set_owner(clients.dsn, clients.schema, worker_id, "elsewhere", 3600)  # crashed long ago
    await second.dequeue()
    assert second.worker_id == worker_id


HOLDER = """
import asyncio, sys
from pgqrs import Consumer

async def main(dsn, schema, queue):
    consumer = Consumer(dsn, queue, "proc-host", 6000, schema=schema)
    await consumer.dequeue()
    print("registered", flush=True)
    await asyncio.sleep(60)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_live_process_refused_then_taken_over_after_sigkill(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    proc = await spawn(HOLDER, clients.dsn, clients.schema, queue)
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"registered\n"
        contender = Consumer(clients.dsn, queue, "proc-host", 6000, schema=clients.schema)
        with pytest.raises(WorkerError, match=rf"\('proc-host', 6000\).*process {proc.pid}"):
            await contender.dequeue()
        await contender.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    # Killed without a chance to clean up; its heartbeat is still fresh.
    async with Consumer(clients.dsn, queue, "proc-host", 6000, schema=clients.schema) as again:
        assert await again.dequeue() == []
        info = await clients.admin().get_workers().get(again.worker_id or 0)
        assert (info.status, info.process_id) == (WorkerStatus.READY, os.getpid())


RACER = """
import asyncio, sys
from pgqrs import Consumer, WorkerError

async def main(dsn, schema, queue):
    consumer = Consumer(dsn, queue, "race-host", 6100, schema=schema)
    try:
        await consumer.dequeue()
        print("won", flush=True)
    except WorkerError:
        print("refused", flush=True)
    await asyncio.sleep(60)  # stay alive: the loser must see a live owner

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_processes_racing_for_one_identity_one_wins(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    procs = [await spawn(RACER, clients.dsn, clients.schema, queue) for _ in range(2)]
    try:
        outcomes = []
        for proc in procs:
            assert proc.stdout is not None
            outcomes.append(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert sorted(outcomes) == [b"refused\n", b"won\n"]
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


SHARER = """
import asyncio, sys
from pgqrs import Consumer, Producer

async def main(dsn, schema, queue, kind, port):
    worker_class = Producer if kind == "producer" else Consumer
    worker = worker_class(dsn, queue, "shared-host", int(port), schema=schema)
    if kind == "producer":
        await worker.enqueue({"from": "child"})
    else:
        await worker.dequeue()
    print(worker.worker_id, flush=True)
    await asyncio.sleep(60)  # stays alive while the test's own worker registers

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize(("kind", "port"), [("producer", 8000), ("consumer", 0)])
async def test_shared_identity_serves_live_processes_one_row_each(
    clients: Clients, queue_factory: Callable[..., Any], kind: str, port: int
) -> None:
    queue = await queue_factory()
    proc = await spawn(SHARER, clients.dsn, clients.schema, queue, kind, str(port))
    try:
        assert proc.stdout is not None
        theirs = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        # The same identity as the child's, in this live process.
        make = clients.producer if kind == "producer" else clients.consumer
        worker = make(queue, port, "shared-host")
        await worker.heartbeat()
        assert worker.worker_id not in (None, theirs)
        rows = await clients.admin().get_workers().list(queue=queue)
        assert sorted((w.kind, w.process_id) for w in rows) == sorted(
            [(kind, proc.pid), (kind, os.getpid())]
        )
        assert {w.status for w in rows} == {WorkerStatus.READY}
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    # The child is gone: a new registration of the identity takes its row (this process's
    # own producer would have been joined, so it stops first).
    await worker.close()
    again = make(queue, port, "shared-host")
    await again.heartbeat()
    assert again.worker_id == theirs


async def test_producers_of_one_process_share_their_row(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    first, second = clients.producer(queue, 8000), clients.producer(queue, 8000)
    await first.enqueue(1)
    await second.enqueue(2)
    assert first.worker_id == second.worker_id
    # Consumers on port 0 each have their own row (their leases are their own).
    one, two = clients.consumer(queue, 0), clients.consumer(queue, 0)
    await one.heartbeat()
    await two.heartbeat()
    assert one.worker_id != two.worker_id
