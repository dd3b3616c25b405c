"""Leases and dead letters: release, keep_leased, dead-lettering by dequeue, replay, and
metrics that agree with the tables at every step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pgqrs import Admin, Config, MessageNotFoundError, QueueNotFoundError, ValidationError
from pgqrs._sql import queries_for

from conftest import Clients


async def assert_metrics_agree(admin: Admin, queue: str) -> Any:
    """Metrics of ``queue`` against counts taken from the table classes."""
    metrics = await admin.queue_metrics(queue)
    archive = admin.get_archive()
    messages = await admin.get_messages().list(queue=queue, limit=10_000)
    assert metrics.total_messages == len(messages)
    assert (
        metrics.pending_messages + metrics.in_flight_messages + metrics.delayed_messages
        == metrics.total_messages
    )
    leased = [
        m for m in messages if m.consumer_worker_id is not None and m.vt > metrics.measured_at
    ]
    assert metrics.in_flight_messages == len(leased)
    assert metrics.archived_messages == await archive.count(queue=queue, dead_letters=False)
    assert metrics.dead_lettered_messages == await archive.count(queue=queue, dead_letters=True)
    assert metrics.archived_messages + metrics.dead_lettered_messages == await archive.count(
        queue=queue
    )
    return metrics


async def test_release_makes_message_visible_again(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    [first, second] = await clients.producer(queue).enqueue_batch(["a", "b"])
    consumer, other = clients.consumer(queue), clients.consumer(queue)
    await consumer.dequeue_many(2, lock_seconds=60)
    assert not await other.release(first)  # only the lease holder
    assert await consumer.release(first)
    assert await consumer.release_many([second, 999_999], delay_seconds=60) == [True, False]
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.pending_messages, metrics.in_flight_messages, metrics.delayed_messages) == (
        1,
        0,
        1,
    )
    [again] = await other.dequeue()
    assert (again.id, again.read_ct) == (first, 2)  # read_ct kept
    with pytest.raises(ValidationError):
        await consumer.release(first, delay_seconds=-1)


async def test_keep_leased_outlives_the_lease(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    await clients.producer(queue).enqueue("long job")
    worker, other = clients.consumer(queue), clients.consumer(queue)
    [message] = await worker.dequeue_many(1, lock_seconds=0.3)
    async with worker.keep_leased([message.id], lock_seconds=0.3):
        await asyncio.sleep(1.0)  # three leases long
        assert await other.dequeue() == []
    assert await worker.archive(message.id)


async def test_unacknowledged_message_is_dead_lettered_and_replayable(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    config = Config(max_read_ct=2)
    [message_id] = await clients.producer(queue).enqueue_batch([{"poison": True}])
    consumer = clients.consumer(queue, config=config)
    for delivery in (1, 2):
        [message] = await consumer.dequeue_many(1, lock_seconds=0)  # lapses at once
        assert message.read_ct == delivery
        await assert_metrics_agree(admin, queue)
    assert await consumer.dequeue() == []  # the third delivery would exceed max_read_ct
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.total_messages, metrics.dead_lettered_messages) == (0, 1)
    assert metrics.archived_messages == 0
    [dead] = await admin.get_archive().list(queue=queue, dead_letters=True)
    assert dead.original_msg_id == message_id
    assert dead.is_dead_letter
    assert dead.dead_lettered_at is not None
    assert dead.dead_letter_reason == "delivered 2 times without acknowledgement"
    assert await admin.get_archive().list(queue=queue, dead_letters=False) == []

    with pytest.raises(MessageNotFoundError):
        await admin.replay([dead.id, 10**12])  # all or nothing
    [new_id] = await admin.replay([dead.id])
    assert new_id > message_id
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.pending_messages, metrics.dead_lettered_messages) == (1, 0)
    [fresh] = await consumer.dequeue()
    assert (fresh.id, fresh.payload, fresh.read_ct) == (new_id, {"poison": True}, 1)
    assert await consumer.archive(fresh.id)
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.total_messages, metrics.archived_messages) == (0, 1)


async def test_dead_letters_picked_with_live_messages_count_against_the_batch(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    producer = clients.producer(queue)
    consumer = clients.consumer(queue, config=Config(max_read_ct=1))
    [a, b] = await producer.enqueue_batch(["a", "b"])
    assert len(await consumer.dequeue_many(2, lock_seconds=0)) == 2  # lapse at once: now dead
    [c, d] = await producer.enqueue_batch(["c", "d"])  # visible after a and b (vt order)
    [live] = await consumer.dequeue_many(3)  # picks a, b and c; a and b are buried
    assert (live.id, live.payload, live.read_ct) == (c, "c", 1)
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.dead_lettered_messages, metrics.in_flight_messages) == (2, 1)
    assert metrics.pending_messages == 1  # d
    dead = await admin.get_archive().list(queue=queue, dead_letters=True)
    assert sorted(m.original_msg_id for m in dead) == [a, b]
    assert {m.dead_letter_reason for m in dead} == {"delivered 1 times without acknowledgement"}
    [last] = await consumer.dequeue_many(3)
    assert last.id == d


async def test_bury_moves_only_what_is_still_a_dead_letter(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    # A dequeue's locks end with its commit, before the burial: whatever changed meanwhile
    # (acknowledged, released with a delay, never at max_read_ct) stays where it is.
    queue = await queue_factory()
    admin = clients.admin()
    consumer = clients.consumer(queue, config=Config(max_read_ct=1))
    ids = await clients.producer(queue).enqueue_batch(["dead", "delayed", "fresh"])
    [dead, delayed, fresh] = ids
    await consumer.dequeue_many(2, lock_seconds=0)  # dead and delayed reach max_read_ct
    assert await consumer.release(delayed, delay_seconds=60)
    queue_id = (await admin.get_queue(queue)).id
    bury = queries_for(clients.schema).bury_dead_letters.sql
    params = {"ids": ids, "queue_id": queue_id, "max_read_ct": 1}
    with psycopg.connect(clients.dsn, autocommit=True) as conn:
        assert conn.execute(bury, params).fetchone() == (1,)
        assert conn.execute(bury, params).fetchone() == (0,)  # already buried
    [buried] = await admin.get_archive().list(queue=queue, dead_letters=True)
    assert buried.original_msg_id == dead
    remaining = await admin.get_messages().list(queue=queue)
    assert sorted(m.id for m in remaining) == [delayed, fresh]


async def test_replay_queue_replays_every_dead_letter_of_that_queue_only(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue, other = await queue_factory(), await queue_factory()
    admin = clients.admin()
    config = Config(max_read_ct=1)
    for name, payloads in ((queue, ["a", "b", "c"]), (other, ["z"])):
        await clients.producer(name).enqueue_batch(payloads)
        consumer = clients.consumer(name, config=config)
        assert len(await consumer.dequeue_many(10, lock_seconds=0)) == len(payloads)
        assert await consumer.dequeue_many(10) == []  # all of them dead-lettered now
    archive = admin.get_archive()
    assert await archive.count(queue=queue, dead_letters=True) == 3

    assert await admin.replay_queue(queue) == 3
    assert await archive.count(queue=queue, dead_letters=True) == 0
    assert await archive.count(queue=other, dead_letters=True) == 1  # left alone
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.pending_messages, metrics.dead_lettered_messages) == (3, 0)
    fresh = await clients.consumer(queue).dequeue_many(10)
    assert sorted(m.payload for m in fresh) == ["a", "b", "c"]
    assert {m.read_ct for m in fresh} == {1}
    assert await admin.replay_queue(queue) == 0  # nothing left to replay
    with pytest.raises(QueueNotFoundError):
        await admin.replay_queue("no-such-queue")


async def test_failing_handler_ends_in_dead_letters(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    admin = clients.admin()
    await clients.producer(queue).enqueue_batch(["bad", "good"])
    consumer = clients.consumer(queue, config=Config(max_read_ct=3, poll_interval=0.02))
    seen: list[tuple[Any, int]] = []
    stop = asyncio.Event()

    async def handler(message: Any) -> None:
        seen.append((message.payload, message.read_ct))
        if message.payload == "bad":
            raise RuntimeError("cannot handle this one")

    async def watch() -> None:
        # While the loop runs, only one snapshot is consistent: the metrics' own partition.
        while (metrics := await admin.queue_metrics(queue)).dead_lettered_messages == 0:
            parts = metrics.pending_messages + metrics.in_flight_messages
            assert parts + metrics.delayed_messages == metrics.total_messages
            await asyncio.sleep(0.02)
        stop.set()

    handled, _ = await asyncio.wait_for(
        asyncio.gather(consumer.consume(handler, stop=stop, retry_delay=0.05), watch()), 10
    )
    assert handled == 1
    assert [read_ct for payload, read_ct in seen if payload == "bad"] == [1, 2, 3]
    metrics = await assert_metrics_agree(admin, queue)
    assert (metrics.total_messages, metrics.archived_messages) == (0, 1)
    assert metrics.dead_lettered_messages == 1
