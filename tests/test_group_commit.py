"""Group commit: concurrent enqueues on one producer share statements and commits, each caller
still gets its own id or its own error, and nothing is lost or stored twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import (
    Admin,
    Config,
    PgqrsConnectionError,
    Producer,
    SerializationError,
    ValidationError,
)
from pgqrs.embedded import EmbeddedPostgres

from conftest import Clients


def stored_payloads(dsn: str, schema: str) -> list[Any]:
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT payload FROM {} ORDER BY id").format(
            sql.Identifier(schema, "pgqrs_messages")
        )
        return [row[0] for row in conn.execute(query)]


def transactions_of(dsn: str, schema: str, ids: list[int]) -> int:
    """How many transactions stored these messages: a transaction's rows share its now()."""
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT count(DISTINCT enqueued_at) FROM {} WHERE id = ANY(%s)").format(
            sql.Identifier(schema, "pgqrs_messages")
        )
        row = conn.execute(query, [ids]).fetchone()
        assert row is not None
        return int(row[0])


async def test_concurrent_enqueues_share_commits_and_fail_alone(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue({"warm": True})
    bad = set(range(5, 1000, 100))  # ten of them
    payloads: list[Any] = [
        {"n": n, "nan": float("nan")} if n in bad else {"n": n} for n in range(1000)
    ]
    results = await asyncio.gather(*(producer.enqueue(p) for p in payloads), return_exceptions=True)
    errors = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
    assert errors == sorted(bad)
    assert all(isinstance(results[n], SerializationError) for n in bad)
    ids = [r for r in results if isinstance(r, int)]
    assert len(ids) == len(set(ids)) == 990
    stored = stored_payloads(clients.dsn, clients.schema)
    assert sorted(p["n"] for p in stored if "n" in p) == sorted(set(range(1000)) - bad)
    # Each id is its own payload's.
    messages = {m.id: m.payload for m in await clients.admin().get_messages().list(limit=2000)}
    assert all(messages[r] == payloads[n] for n, r in enumerate(results) if isinstance(r, int))
    # Shared statements and commits: far fewer transactions than messages.
    assert transactions_of(clients.dsn, clients.schema, ids) < 100


async def test_a_payload_the_server_refuses_fails_only_its_caller(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue, config=Config(max_payload_bytes=None))
    await producer.enqueue({"warm": True})
    huge = "x" * (256 * 1024 * 1024)  # past jsonb's own limit of 255 MiB: only the server knows
    payloads: list[Any] = [{"n": n} for n in range(20)]
    payloads[7] = {"huge": huge}
    # The first call runs alone; the others, the huge one among them, share the next statement.
    results = await asyncio.gather(*(producer.enqueue(p) for p in payloads), return_exceptions=True)
    assert isinstance(results[7], ValidationError)
    assert [n for n, r in enumerate(results) if not isinstance(r, int)] == [7]
    assert len(stored_payloads(clients.dsn, clients.schema)) == 20  # warm-up + 19


async def test_cancelled_callers_lose_nothing_of_others_and_store_nothing_twice(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue({"warm": True})
    rng = random.Random(7)
    for round_ in range(5):
        tasks = [
            asyncio.create_task(producer.enqueue({"round": round_, "n": n})) for n in range(300)
        ]
        doomed = set(rng.sample(range(300), 60))
        for _ in range(3):  # cancel at several points: queued, in flight, done
            await asyncio.sleep(rng.uniform(0, 0.003))
            for n in rng.sample(sorted(doomed), 20):
                tasks[n].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        got = {n: r for n, r in enumerate(results) if isinstance(r, int)}
        others = [r for r in results if not isinstance(r, (int, asyncio.CancelledError))]
        assert others == []
        assert set(range(300)) - doomed <= set(got)  # never-cancelled callers all got an id
        stored = Counter(
            p["n"] for p in stored_payloads(clients.dsn, clients.schema) if p.get("round") == round_
        )
        assert max(stored.values()) == 1  # nothing twice
        assert set(got) <= set(stored)  # every caller that got an id has its row
        messages = {
            m.id: m.payload["n"]
            for m in await clients.admin().get_messages().list(queue=queue, limit=2000)
            if m.payload.get("round") == round_
        }
        assert all(messages[i] == n for n, i in got.items())


async def test_server_gone_mid_flush_fails_every_waiting_caller(dsn: str) -> None:
    del dsn  # a server of its own, to kill
    with EmbeddedPostgres() as server:
        async with Admin(server.dsn) as admin:
            await admin.install()
            await admin.create_queue("q")
        producer = Producer(server.dsn, "q", "h", 1, config=Config(connect_timeout=2))
        await producer.enqueue({"warm": True})
        # Hold every insert back, so callers pile up behind the first one's statement.
        blocker = await psycopg.AsyncConnection.connect(server.dsn)
        await blocker.execute("LOCK TABLE pgqrs_messages IN EXCLUSIVE MODE")
        tasks = [asyncio.create_task(producer.enqueue({"n": n})) for n in range(50)]
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in tasks)
        server.stop()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        assert all(isinstance(r, PgqrsConnectionError) for r in results), results
        with pytest.raises(PgqrsConnectionError):
            await producer.enqueue({"after": True})
        with pytest.raises(PgqrsConnectionError):  # it cannot mark its row stopped either
            await producer.close()
        await blocker.close()


async def test_concurrent_acknowledgements_share_statements(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    await producer.enqueue_batch([{"n": n} for n in range(300)])
    archived = [m.id for m in await consumer.dequeue_many(200)]
    deleted = [m.id for m in await consumer.dequeue_many(100)]
    first = archived[0]
    results = await asyncio.gather(
        *(consumer.archive(i) for i in archived),
        consumer.archive(first),  # the same message twice: archived once, True once
        *(consumer.delete(i) for i in deleted),
    )
    assert results[: len(archived)].count(True) + results[len(archived)] == len(archived)
    assert all(results[len(archived) + 1 :])
    admin = clients.admin()
    assert await admin.get_archive().count(queue=queue) == len(archived)
    assert await admin.get_messages().count(queue=queue) == 0
    with psycopg.connect(clients.dsn) as conn:
        query = sql.SQL("SELECT count(DISTINCT archived_at) FROM {}").format(
            sql.Identifier(clients.schema, "pgqrs_archive")
        )
        row = conn.execute(query).fetchone()
    assert row is not None
    assert row[0] < 50  # 200 archives in far fewer transactions
