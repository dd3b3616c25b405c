"""Consumer: leases, visibility timeouts, acknowledgement rules and concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pgqrs import QueueNotFoundError, ValidationError

from conftest import Clients


async def test_dequeue_leases_in_id_order(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    ids = await clients.producer(queue).enqueue_batch([{"n": n} for n in range(25)])
    consumer = clients.consumer(queue)
    first = await consumer.dequeue()  # default batch size: Config.dequeue_batch_size == 10
    assert [m.id for m in first] == ids[:10]
    message = first[0]
    assert message.read_ct == 1
    assert message.consumer_worker_id == consumer.worker_id
    assert message.dequeued_at is not None
    assert 29 <= (message.vt - message.dequeued_at).total_seconds() <= 30
    rest = await consumer.dequeue_many(100, 5)
    assert [m.id for m in rest] == ids[10:]
    assert await consumer.dequeue_many(100) == []


async def test_lapsed_lease_redelivers_with_read_ct_2(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    msg_id = await clients.producer(queue).enqueue({"job": 1})
    consumer = clients.consumer(queue)
    [first] = await consumer.dequeue_many(1, lock_seconds=1)
    assert first.id == msg_id
    assert first.read_ct == 1
    assert await consumer.dequeue_many(1, lock_seconds=1) == []  # still leased
    await asyncio.sleep(1.2)
    [again] = await consumer.dequeue_many(1, lock_seconds=1)
    assert again.id == msg_id
    assert again.read_ct == 2
    assert again.payload == {"job": 1}


async def test_only_lease_holder_may_acknowledge(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    ids = await clients.producer(queue).enqueue_batch(["a", "b", "c"])
    holder, other = clients.consumer(queue), clients.consumer(queue)
    leased = await holder.dequeue_many(3, 60)
    assert [m.id for m in leased] == ids
    assert await other.archive(ids[0]) is False
    assert await other.delete(ids[1]) is False
    assert await other.extend_visibility(ids[2], 10) is False
    assert await holder.archive_many(ids[:2]) == [True, True]
    assert await holder.delete(ids[2]) is True
    assert await holder.archive(ids[0]) is False  # already gone
    archived = await clients.admin().get_archive().list(queue=queue)
    assert [(a.original_msg_id, a.payload, a.read_ct) for a in archived] == [
        (ids[0], "a", 1),
        (ids[1], "b", 1),
    ]


async def test_unleased_message_may_be_deleted_by_anyone(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    scheduled = await clients.producer(queue).enqueue_delayed({"cancel": "me"}, 3600)
    assert await clients.consumer(queue).delete(scheduled) is True
    assert await clients.admin().get_messages().count(queue=queue) == 0


async def test_lapsed_lease_may_be_acknowledged_by_another(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    msg_id = await clients.producer(queue).enqueue("x")
    await clients.consumer(queue).dequeue_many(1, lock_seconds=0)
    assert await clients.consumer(queue).archive(msg_id) is True


async def test_acknowledge_many_reports_each_id(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    ids = await clients.producer(queue).enqueue_batch(list(range(4)))
    consumer = clients.consumer(queue)
    await consumer.dequeue_many(4)
    assert await consumer.archive_many([ids[2], 999_999_999, ids[0]]) == [True, False, True]
    assert await consumer.delete_many([ids[1], ids[2]]) == [True, False]
    assert await consumer.archive_many([]) == []


async def test_ack_ignores_messages_of_other_queues(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    first, second = await queue_factory(), await queue_factory()
    msg_id = await clients.producer(first).enqueue("mine")
    assert await clients.consumer(second).delete(msg_id) is False
    assert await clients.consumer(second).archive(msg_id) is False


async def test_extend_visibility_moves_deadline(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    msg_id = await clients.producer(queue).enqueue("x")
    consumer = clients.consumer(queue)
    [leased] = await consumer.dequeue_many(1, lock_seconds=1)
    assert await consumer.extend_visibility(msg_id, 60) is True
    stored = await clients.admin().get_messages().get(msg_id)
    assert stored.vt - leased.vt == timedelta(seconds=60)  # from the deadline, not from now
    await asyncio.sleep(1.1)
    assert await clients.consumer(queue).dequeue_many(1) == []  # extended lease still holds


@pytest.mark.parametrize(
    ("count", "lock"), [(0, 1), (-5, 1), (1.5, 1), (1, -1), (1, float("nan")), (True, 1)]
)
async def test_bad_dequeue_arguments(
    clients: Clients, queue_factory: Callable[..., Any], count: Any, lock: Any
) -> None:
    consumer = clients.consumer(await queue_factory())
    with pytest.raises(ValidationError):
        await consumer.dequeue_many(count, lock)


async def test_bad_ack_arguments(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    consumer = clients.consumer(await queue_factory())
    with pytest.raises(ValidationError):
        await consumer.archive_many(["1"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        await consumer.extend_visibility(1, -3)


async def test_dequeue_unknown_queue(clients: Clients) -> None:
    with pytest.raises(QueueNotFoundError):
        await clients.consumer("missing").dequeue()


async def test_four_consumers_never_share_a_lease(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    ids = await clients.producer(queue).enqueue_batch([{"n": n} for n in range(2000)])
    received: list[list[int]] = [[] for _ in range(4)]

    async def drain(index: int) -> None:
        consumer = clients.consumer(queue)
        while True:
            # Leases far outlive the test, so any overlap would be a double delivery.
            batch = await consumer.dequeue_many(37, lock_seconds=300)
            if not batch:
                return
            received[index].extend(m.id for m in batch)
            assert all(await consumer.archive_many([m.id for m in batch]))

    await asyncio.gather(*(drain(i) for i in range(4)))
    everything = [i for part in received for i in part]
    assert sorted(everything) == ids  # each message delivered exactly once
    assert sum(1 for part in received if part) >= 2  # the work really was shared
    archive = clients.admin().get_archive()
    assert await archive.count(queue=queue) == 2000
    archived = await archive.list(queue=queue, limit=5000)
    assert sorted(a.original_msg_id for a in archived) == ids
