"""The consume loop: exactly-once archiving across concurrent loops, graceful stop and
cancellation, retries, NOTIFY wake-ups, and a consumer process killed mid-batch."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgqrs import Config, Consumer, QueueMessage, ValidationError, WorkerStatus

from conftest import Clients
from processes import spawn


def archive_ids(dsn: str, schema: str) -> Counter[int]:
    """How many archive rows each original message id has."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            sql.SQL("SELECT original_msg_id FROM {}").format(
                sql.Identifier(schema, "pgqrs_archive")
            )
        ).fetchall()
    return Counter(row[0] for row in rows)


def assert_archived_once_each(clients: Clients, ids: list[int]) -> None:
    """The archive holds exactly ``ids``, each once: nothing lost, nothing handled twice."""
    archived = archive_ids(clients.dsn, clients.schema)
    assert set(archived) == set(ids)
    assert max(archived.values()) == 1


async def drain(clients: Clients, queue: str, expected: int) -> None:
    """Consume with a fresh consumer until ``expected`` messages are archived in total."""
    consumer = clients.consumer(queue, config=Config(poll_interval=0.05))
    admin = clients.admin()
    stop = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        pass

    async def watch() -> None:
        # The database is the thing watched: there is no event to wait on.
        while await admin.get_archive().count(queue=queue) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()

    await asyncio.wait_for(asyncio.gather(consumer.consume(handler, stop=stop), watch()), 10)


async def test_four_loops_archive_ten_thousand_messages_exactly_once(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    total = 10_000
    ids = await clients.producer(queue).enqueue_batch([{"n": n} for n in range(total)])
    seen: Counter[int] = Counter()
    stop = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        seen[message.id] += 1
        if len(seen) == total:
            stop.set()

    consumers = [clients.consumer(queue) for _ in range(4)]
    handled = await asyncio.wait_for(
        asyncio.gather(*(c.consume(handler, stop=stop, concurrency=4) for c in consumers)), 30
    )
    assert sum(handled) == total
    assert all(n > 0 for n in handled)  # all four loops took part
    assert set(seen) == set(ids)
    assert max(seen.values()) == 1
    assert_archived_once_each(clients, ids)
    assert await clients.admin().get_messages().count(queue=queue) == 0


async def test_cancelled_loop_loses_nothing(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    total = 2_000
    ids = await clients.producer(queue).enqueue_batch(list(range(total)))
    consumer = clients.consumer(queue)
    started = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        started.set()
        await asyncio.sleep(0.001)

    task = asyncio.create_task(consumer.consume(handler, batch_size=50, lock_seconds=1))
    await started.wait()
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
    archived = archive_ids(clients.dsn, clients.schema)
    assert 0 < len(archived) < total
    assert max(archived.values()) == 1
    # The rest is visible again (released) or will be once its lease lapses (1 s).
    await drain(clients, queue, total)
    assert_archived_once_each(clients, ids)


async def test_stop_event_finishes_the_batch(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    await clients.producer(queue).enqueue_batch(list(range(30)))
    consumer = clients.consumer(queue)
    stop = asyncio.Event()
    seen: list[int] = []

    async def handler(message: QueueMessage) -> None:
        seen.append(message.id)
        stop.set()  # asked to stop during the first message of the first batch

    assert await consumer.consume(handler, batch_size=10, stop=stop) == 10
    metrics = await clients.admin().queue_metrics(queue)
    assert (metrics.archived_messages, metrics.pending_messages) == (10, 20)
    assert metrics.in_flight_messages == 0


async def test_failed_message_is_retried_after_backoff(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    await clients.producer(queue).enqueue("flaky")
    consumer = clients.consumer(queue, config=Config(poll_interval=0.02))
    attempts: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        attempts.append((message.read_ct, time.monotonic()))
        if message.read_ct == 1:
            raise ValueError("transient")
        stop.set()

    assert await asyncio.wait_for(consumer.consume(handler, stop=stop, retry_delay=0.3), 5) == 1
    [(first, t1), (second, t2)] = attempts
    assert (first, second) == (1, 2)
    assert t2 - t1 >= 0.25
    [archived] = await clients.admin().get_archive().list(queue=queue)
    assert archived.read_ct == 2


async def wake_up_latency(clients: Clients, queue: str, config: Config) -> float:
    consumer = clients.consumer(queue, config=config)
    producer = clients.producer(queue, config=config)
    await producer.enqueue("warm up")
    received: asyncio.Queue[float] = asyncio.Queue()

    async def handler(message: QueueMessage) -> None:
        received.put_nowait(time.monotonic())

    loop = asyncio.create_task(consumer.consume(handler))
    try:
        await asyncio.wait_for(received.get(), 5)
        await asyncio.sleep(0.5)  # idle: the loop now waits (or polls at its longest interval)
        sent = time.monotonic()
        await producer.enqueue("wake up")
        return await asyncio.wait_for(received.get(), 10) - sent
    finally:
        loop.cancel()
        await asyncio.wait([loop])


#: Long enough between two polls of an idle loop that its next wait (twice as long: waits
#: double from 10 ms) leaves a NOTIFY-driven wake-up a wide margin on a loaded machine.
LONG_GAP = 0.6
#: pg_stat_activity rows of the idle loop's polls (only dequeue uses SKIP LOCKED).
POLLS = """
SELECT max(query_start) FROM pg_stat_activity
WHERE application_name = %s AND query LIKE '%%SKIP LOCKED%%'
"""


async def after_long_wait(dsn: str, tag: str) -> float:
    """Watch the polls of the idle consume loop whose connections carry ``tag`` as their
    application_name; once one follows the previous after at least LONG_GAP, return the
    earliest ``time.monotonic()`` at which its next poll can happen.

    The poll just seen started after the previous look (``sent``).  ``gap`` is the last wait
    plus one dequeue's round trip, which is far shorter than the wait, so the next wait (twice
    the last) is at least ``gap``: the next poll comes no sooner than ``sent + gap``.
    """
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as watcher:
        previous_start, previous_sent = None, time.monotonic()
        deadline = previous_sent + 30
        while time.monotonic() < deadline:
            sent = time.monotonic()
            cur = await watcher.execute(POLLS, [tag])
            row = await cur.fetchone()
            start = row[0] if row else None
            if start is not None and start != previous_start:
                if previous_start is not None:
                    gap: float = (start - previous_start).total_seconds()
                    if gap >= LONG_GAP:
                        return previous_sent + gap
                previous_start = start
            previous_sent = sent
            await asyncio.sleep(0.01)
    raise AssertionError(f"the idle loop never waited {LONG_GAP} s between two polls")


async def wake_up(clients: Clients, queue: str, *, listen: bool) -> tuple[float, float]:
    """Enqueue (with NOTIFY) just after an idle consume loop polled, once its backoff waits are
    long.  Returns when the handler got the message and the earliest moment the loop's next
    poll could have found it, both ``time.monotonic()``."""
    tag = f"pgqrs-wake-{uuid.uuid4().hex[:8]}"
    # No heartbeats: their statements would take the place of the polls in pg_stat_activity.
    config = Config(notify=True, listen=listen, poll_interval=60, heartbeat_interval=3600)
    dsn = make_conninfo(clients.dsn, application_name=tag)
    consumer = Consumer(dsn, queue, "wake-host", 7200, schema=clients.schema, config=config)
    producer = clients.producer(queue, config=Config(notify=True))
    received: asyncio.Queue[float] = asyncio.Queue()

    async def handler(message: QueueMessage) -> None:
        received.put_nowait(time.monotonic())

    loop = asyncio.create_task(consumer.consume(handler))
    try:
        next_poll = await after_long_wait(clients.dsn, tag)
        await producer.enqueue("wake up")
        # Polling alone finds it at the next poll, about 2 * LONG_GAP away.
        return await asyncio.wait_for(received.get(), 30), next_poll
    finally:
        loop.cancel()
        await asyncio.wait([loop])
        await consumer.close()


async def test_notify_wakes_an_idle_loop(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    handled, next_poll = await wake_up(clients, await queue_factory(), listen=True)
    assert handled < next_poll, "the loop waited for its next poll: no NOTIFY woke it"


async def test_without_listen_only_the_next_poll_finds_the_message(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    # The control of the test above: same producer NOTIFY, same timing, no LISTEN.
    handled, next_poll = await wake_up(clients, await queue_factory(), listen=False)
    assert handled >= next_poll


async def test_loop_polls_without_listen(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    latency = await wake_up_latency(
        clients, await queue_factory(), Config(listen=False, poll_interval=0.1)
    )
    assert latency < 1.0


KILLED = """
import asyncio, sys
from pgqrs import Config, Consumer

async def main(dsn, schema, queue):
    consumer = Consumer(dsn, queue, "victim", 7100, schema=schema)

    async def handler(message):
        print(message.id, flush=True)
        await asyncio.sleep(0.01)

    await consumer.consume(handler, batch_size=50, lock_seconds=1)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_consumer_killed_mid_batch_loses_nothing(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    total = 300
    ids = await clients.producer(queue).enqueue_batch(list(range(total)))
    proc = await spawn(KILLED, clients.dsn, clients.schema, queue)
    assert proc.stdout is not None
    try:
        for _ in range(75):  # into the second batch
            await asyncio.wait_for(proc.stdout.readline(), 20)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    metrics = await clients.admin().queue_metrics(queue)
    assert metrics.in_flight_messages > 0  # the killed process's leases
    await drain(clients, queue, total)
    assert_archived_once_each(clients, ids)
    assert await clients.admin().get_messages().count(queue=queue) == 0


async def test_consume_rejects_a_handler_that_is_not_callable(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    consumer = clients.consumer(await queue_factory())
    with pytest.raises(ValidationError, match="handler"):
        await consumer.consume("not a function")  # type: ignore[arg-type]


def _sync_handler(message: QueueMessage) -> None:
    raise AssertionError("a refused handler must never run")


@pytest.mark.parametrize(
    "handler",
    [_sync_handler, lambda message: None, print, functools.partial(_sync_handler)],
    ids=["function", "lambda", "builtin", "partial"],
)
async def test_consume_refuses_a_sync_handler_before_any_work(
    clients: Clients, queue_factory: Callable[..., Any], handler: Any
) -> None:
    queue = await queue_factory()
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    await producer.enqueue({"n": 1})
    with pytest.raises(ValidationError, match="async function"):
        await asyncio.wait_for(consumer.consume(handler), 30)
    # Nothing was leased: the message is still pending, never delivered.
    (message,) = await clients.admin().get_messages().list(queue=queue)
    assert message.read_ct == 0


async def test_consume_takes_an_async_callable_object_and_a_partial(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    stop = asyncio.Event()

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[int] = []

        async def __call__(self, message: QueueMessage) -> None:
            self.seen.append(message.id)
            if len(self.seen) == 3:
                stop.set()

    recorder = Recorder()
    ids = await producer.enqueue_batch([{"n": n} for n in range(3)])
    assert await consumer.consume(recorder, stop=stop) == 3
    assert sorted(recorder.seen) == ids

    async def record(into: list[int], message: QueueMessage) -> None:
        into.append(message.id)
        stop.set()

    stop.clear()
    seen: list[int] = []
    (one,) = await producer.enqueue_batch([{"n": 3}])
    assert await consumer.consume(functools.partial(record, seen), stop=stop) == 1
    assert seen == [one]


async def test_suspended_loop_leases_nothing_until_resumed(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin, producer = clients.admin(), clients.producer(queue)
    consumer = clients.consumer(queue, config=Config(poll_interval=0.05))
    handled: list[int] = []
    stop = asyncio.Event()

    async def handler(message: QueueMessage) -> None:
        handled.append(message.id)
        stop.set()

    await consumer.heartbeat()  # registers
    assert consumer.worker_id is not None
    await admin.suspend_worker(consumer.worker_id)
    assert await consumer.heartbeat() is WorkerStatus.SUSPENDED  # the operator's word arrives
    loop = asyncio.create_task(consumer.consume(handler, stop=stop))
    message_id = await producer.enqueue({"n": 1})
    await asyncio.sleep(0.5)  # ten poll intervals of the suspended loop
    assert not loop.done()
    assert handled == []
    assert (await admin.get_messages().get(message_id)).read_ct == 0  # never leased
    await consumer.resume()
    assert await asyncio.wait_for(loop, 30) == 1
    assert handled == [message_id]
