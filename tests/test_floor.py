"""A consumer's dequeue walks the ``(queue_id, vt)`` index only from its floor (``pgqrs._floor``):
under a held vacuum horizon that keeps the walk short, and a message that commits below the
floor is found by the consumer's next sweep, never lost."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pgqrs import _floor
from pgqrs._sql import queries_for

from conftest import Clients


def _blocks(node: dict[str, Any]) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def dequeue_blocks(clients: Clients, params: dict[str, Any]) -> int:
    """Shared buffers the dequeue statement touches with ``params``, run and rolled back."""
    query = queries_for(clients.schema).dequeue.sql
    with psycopg.connect(clients.dsn) as conn:
        row = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    raw = row[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return _blocks(plan)


async def test_floor_keeps_the_walk_short_under_a_held_horizon(
    clients: Clients, queue_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole test takes about a second: without a margin the floor shows within it.
    monkeypatch.setattr(_floor, "MARGIN", timedelta(0))
    queue = await queue_factory()
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    await consumer.dequeue_many(1)  # registers
    with psycopg.connect(clients.dsn) as holder:
        # An open REPEATABLE READ snapshot: nothing archived from here on can be vacuumed, and
        # no scan may mark its index entries dead.
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT 1")
        for _ in range(40):
            await producer.enqueue_batch([{"n": n} for n in range(250)])
            while batch := await consumer.dequeue_many(100):
                assert all(await consumer.archive_many([m.id for m in batch]))
        await producer.enqueue({"last": True})
        params = {
            "queue_id": (await clients.admin().get_queue(queue)).id,
            "count": 10,
            "lock_seconds": 30.0,
            "worker_id": consumer.worker_id,
            "max_read_ct": 5,
        }
        assert consumer._floor.value is not None
        bounded = dequeue_blocks(clients, params | {"floor": consumer._floor.value.timestamp()})
        unbounded = dequeue_blocks(clients, params | {"floor": None})
        holder.rollback()
    # 10,000 messages went through: from the lowest vt the walk visits the heap pages of their
    # dead versions (about 200); from the floor, only what the last message touches.
    assert consumer._floor.value is not None
    assert bounded * 5 < unbounded, (bounded, unbounded)
    [last] = await consumer.dequeue_many(10)
    assert last.payload == {"last": True}


async def test_a_message_committed_below_the_floor_waits_for_the_next_sweep(
    clients: Clients, queue_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No margin, and sweeps only when the clock says so: the floor's edge, deterministically.
    monkeypatch.setattr(_floor, "MARGIN", timedelta(0))
    monkeypatch.setattr(_floor, "SWEEP_MIN_SECONDS", 3600.0)
    queue = await queue_factory()
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    assert await consumer.dequeue_many(10) == []  # the first dequeue is a sweep
    async with await psycopg.AsyncConnection.connect(clients.dsn) as conn:
        # vt is the caller's transaction start; it commits only after a later message.
        late = await producer.enqueue({"late": True}, conn=conn)
        prompt = await producer.enqueue({"prompt": True})
        assert [m.id for m in await consumer.dequeue_many(10)] == [prompt]
        await conn.commit()
    # That dequeue took everything visible below its own time: the floor is past `late`.
    assert await consumer.dequeue_many(10) == []
    assert await clients.admin().get_messages().count(queue=queue) == 2  # late + prompt leased
    monkeypatch.setattr(_floor, "monotonic", lambda: time.monotonic() + 7200.0)
    assert [m.id for m in await consumer.dequeue_many(10)] == [late]  # the sweep finds it


async def test_a_fresh_consumer_sweeps_first(
    clients: Clients, queue_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_floor, "MARGIN", timedelta(0))
    monkeypatch.setattr(_floor, "SWEEP_MIN_SECONDS", 3600.0)
    queue = await queue_factory()
    producer = clients.producer(queue)
    first = clients.consumer(queue)
    await first.dequeue_many(10)
    async with await psycopg.AsyncConnection.connect(clients.dsn) as conn:
        late = await producer.enqueue({"late": True}, conn=conn)
        await producer.enqueue({"prompt": True})
        await first.dequeue_many(10)
        await conn.commit()
    assert await first.dequeue_many(10) == []
    # Another consumer of the queue has no floor yet: its first dequeue walks everything.
    second = clients.consumer(queue)
    assert [m.id for m in await second.dequeue_many(10)] == [late]


def test_a_dequeue_of_dead_letters_only_leaves_the_floor() -> None:
    floor = _floor.ScanFloor()
    floor.anchor(datetime.now(UTC))
    sweep = floor.bound()
    # Every message it picked was a dead letter (the caller passes count 0): what lies beyond
    # is unknown, so the floor does not move.
    floor.update(sweep, [], 0)
    assert floor.value is None
    # Fewer picked than asked for: nothing visible was left, the floor follows the clock.
    floor.update(floor.bound(), [], 1)
    assert floor.value is not None
