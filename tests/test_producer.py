"""Producer: single, delayed and batch enqueue; all-or-nothing batches; bad input."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pgqrs import (
    PayloadTooLargeError,
    QueueNotFoundError,
    SerializationError,
    ValidationError,
)
from pgqrs.producer import COPY_CHUNK_BYTES, SMALL_BATCH_MAX

from conftest import Clients

# Batch sizes that take each path: one INSERT statement, and binary COPY.
PATHS = pytest.mark.parametrize(
    "size",
    [1, SMALL_BATCH_MAX, SMALL_BATCH_MAX + 1, 2500],
    ids=["1", "rows-max", "copy-min", "copy"],
)


async def test_enqueue_returns_increasing_ids(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    ids = [await producer.enqueue({"i": i}) for i in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    messages = await clients.admin().get_messages().list(queue=queue)
    assert [m.payload for m in messages] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert {m.producer_worker_id for m in messages} == {producer.worker_id}
    assert all(m.read_ct == 0 and m.dequeued_at is None for m in messages)


async def test_enqueue_round_trips_json_values(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    values = [
        {"nested": {"a": [1, 2.5, None, True, False, "ü ✓ 🚀"]}},
        [1, [2, [3]]],
        "a string",
        42,
        -(2**63),
        3.25,
        None,
        {},
    ]
    ids = [await producer.enqueue(v) for v in values]
    ids += await producer.enqueue_batch(values)
    consumer = clients.consumer(queue)
    got = await consumer.dequeue_many(100)
    assert [m.id for m in got] == ids
    assert [m.payload for m in got] == values + values


async def test_enqueue_serialises_datetimes_and_uuids(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    await clients.producer(queue).enqueue({"when": when, "key": key})
    [message] = await clients.consumer(queue).dequeue()
    assert message.payload == {"when": "2026-01-02T03:04:05+00:00", "key": str(key)}


async def test_enqueue_delayed_is_invisible_until_due(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    delayed = await producer.enqueue_delayed({"later": True}, 3600)
    now = await producer.enqueue({"now": True})
    undelayed = await clients.admin().get_messages().get(now)
    assert undelayed.vt == undelayed.enqueued_at
    consumer = clients.consumer(queue)
    assert [m.id for m in await consumer.dequeue_many(10)] == [now]
    stored = await clients.admin().get_messages().get(delayed)
    assert stored.vt - stored.enqueued_at == dt.timedelta(hours=1)
    metrics = await clients.admin().queue_metrics(queue)
    assert metrics.delayed_messages == 1


@PATHS
async def test_enqueue_batch_ids_in_input_order(
    clients: Clients, queue_factory: Callable[..., Any], size: int
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    payloads = [{"n": n} for n in range(size)]
    ids = await producer.enqueue_batch(payloads)
    assert len(ids) == size
    assert ids == sorted(ids)
    messages = await clients.admin().get_messages().list(queue=queue, limit=3000)
    assert {m.id: m.payload for m in messages} == dict(zip(ids, payloads, strict=True))
    assert len({m.enqueued_at for m in messages}) == 1  # one database clock reading per batch


async def test_enqueue_batch_streams_many_chunks(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    big = "x" * 1000
    count = 3 * COPY_CHUNK_BYTES // 1000  # three chunks' worth
    ids = await clients.producer(queue).enqueue_batch({"pad": big, "n": n} for n in range(count))
    assert len(ids) == count
    assert await clients.admin().get_messages().count(queue=queue) == count


@PATHS
async def test_enqueue_batch_empty_and_delayed(
    clients: Clients, queue_factory: Callable[..., Any], size: int
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    assert await producer.enqueue_batch([]) == []
    ids = await producer.enqueue_batch(list(range(size)), delay_seconds=60)
    assert await clients.consumer(queue).dequeue_many(10) == []
    message = await clients.admin().get_messages().get(ids[0])
    assert message.vt - message.enqueued_at == dt.timedelta(seconds=60)


async def test_bad_payload_raises_serialization_error_and_enqueues_nothing(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    with pytest.raises(SerializationError) as info:
        await producer.enqueue({"bad": object()})
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, RuntimeError)
    assert await clients.admin().get_messages().count(queue=queue) == 0


@pytest.mark.parametrize(
    ("size", "bad_index"), [(10, 0), (10, 9), (3000, 0), (3000, 1500), (3000, 2999)]
)
async def test_batch_with_one_bad_payload_enqueues_none(
    clients: Clients, queue_factory: Callable[..., Any], size: int, bad_index: int
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    payloads: list[Any] = [{"n": n, "pad": "y" * 200} for n in range(size)]
    payloads[bad_index] = {"bad": {1, 2}}
    with pytest.raises(SerializationError) as info:
        await producer.enqueue_batch(payloads)
    assert info.value.index == bad_index
    assert await clients.admin().get_messages().count(queue=queue) == 0
    # The connection is healthy afterwards.
    assert len(await producer.enqueue_batch([{"ok": 1}])) == 1


@PATHS
async def test_null_character_rejected_as_serialization_error(
    clients: Clients, queue_factory: Callable[..., Any], size: int
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    batch: list[Any] = [{"ok": n} for n in range(size)]
    batch[-1] = {"nul": "a\x00b"}
    with pytest.raises(SerializationError, match="NUL character") as info:
        await producer.enqueue_batch(batch)
    assert info.value.index == size - 1  # caught by the core, before the database
    with pytest.raises(SerializationError):
        await producer.enqueue({"nul": "\x00"})
    assert await clients.admin().get_messages().count(queue=queue) == 0


async def test_payload_size_limit(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    from pgqrs import Config

    queue = await queue_factory()
    producer = clients.producer(queue, config=Config(max_payload_bytes=100))
    await producer.enqueue("x" * 90)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 100 bytes"):
        await producer.enqueue("x" * 200)
    with pytest.raises(PayloadTooLargeError) as info:
        await producer.enqueue_batch(["small", "x" * 200])
    assert info.value.index == 1
    with pytest.raises(PayloadTooLargeError) as info:
        await producer.enqueue_batch(["small"] * 100 + ["x" * 200])
    assert info.value.index == 100
    assert isinstance(info.value, ValidationError)
    assert await clients.admin().get_messages().count(queue=queue) == 1


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan"), float("inf"), "5", True])
async def test_bad_delay_raises_validation_error(
    clients: Clients, queue_factory: Callable[..., Any], delay: Any
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    with pytest.raises(ValidationError):
        await producer.enqueue_delayed({}, delay)
    with pytest.raises(ValidationError):
        await producer.enqueue_batch([{}], delay_seconds=delay)
    assert await clients.admin().get_messages().count(queue=queue) == 0


async def test_batch_must_be_a_collection(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    producer = clients.producer(await queue_factory())
    for bad in ("abc", b"abc", {"a": 1}, 5):
        with pytest.raises(ValidationError):
            await producer.enqueue_batch(bad)  # type: ignore[arg-type]


async def test_unknown_queue_raises_queue_not_found(clients: Clients) -> None:
    producer = clients.producer("no-such-queue")
    with pytest.raises(QueueNotFoundError, match="'no-such-queue' does not exist"):
        await producer.enqueue({})
    with pytest.raises(QueueNotFoundError):
        await producer.enqueue_batch([{}])


async def test_queue_deleted_while_producing(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue({})
    await clients.admin().delete_queue(queue)
    with pytest.raises(QueueNotFoundError):
        await producer.enqueue({})
    with pytest.raises(QueueNotFoundError):
        await producer.enqueue_delayed({}, 60)
    with pytest.raises(QueueNotFoundError):
        await producer.enqueue_batch([{}])
    with pytest.raises(QueueNotFoundError):
        await producer.enqueue_batch([{}] * 100)
    await clients.admin().create_queue(queue)  # re-created: the producer follows
    assert await producer.enqueue({"again": True}) > 0


async def test_100k_batch_in_one_call_streams_in_bounded_memory(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    import tracemalloc

    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue("registers first, outside the measurement")
    payload = {"pad": "z" * 1000}
    batch = [payload] * 100_000  # one shared object: the input itself costs 0.8 MB
    tracemalloc.start()
    try:
        ids = await producer.enqueue_batch(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == 100_000
    assert await clients.admin().get_messages().count(queue=queue) == 100_001
    # The COPY stream is ~102 MB; chunking keeps the peak to the ids (~4 MB) plus a few
    # 256 KiB chunks.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
