"""Consuming: ``dequeue_many`` + ``archive_many`` vs the same statements run raw, the consume
loop vs the raw loop, and dequeue cost against queue depth."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg import AsyncConnection

from ...consumer import Consumer
from .. import _internals
from ..harness import Case, Scenario, Target
from ..schema import BenchSchema, check_drained, connect

__all__ = [
    "CONSUME_TARGET",
    "DEPTH_TARGET",
    "DRAIN_TARGET",
    "ConsumeLoop",
    "DepthDrain",
    "DrainPgqrs",
    "DrainRaw",
    "consume_scenario",
    "depth_scenario",
    "drain_scenario",
]

DRAIN_TARGET = Target(0.80, "≥ 0.80")
CONSUME_TARGET = Target(1.0, "≥ 1.00")
# "Within 1.2x": a dequeue at depth may cost at most 1.2 times one at 1,000, so its rate is at
# least 1/1.2 of the shallow queue's.
DEPTH_TARGET = Target(1 / 1.2, "≥ 0.83 (cost ≤ 1.2x)")


async def _drain(consumer: Consumer, batch: int, limit: int | None = None) -> int:
    """``dequeue_many`` + ``archive_many`` until the queue is empty (or ``limit`` is reached)."""
    done = 0
    while limit is None or done < limit:
        wanted = batch if limit is None else min(batch, limit - done)
        messages = await consumer.dequeue_many(wanted)
        if not messages:
            break
        await consumer.archive_many([m.id for m in messages])
        done += len(messages)
    return done


class DrainPgqrs(Case):
    """``dequeue_many(batch)`` + ``archive_many(ids)`` by ``consumers`` concurrent consumers
    until the queue is empty; ``prepare`` enqueues ``messages`` with ``enqueue_batch``."""

    def __init__(self, schema: BenchSchema, batch: int, consumers: int, messages: int) -> None:
        self.label = "pgqrs"
        self.schema, self.batch, self.workers, self.messages = schema, batch, consumers, messages

    async def open(self) -> None:
        self._consumers = [self.schema.consumer("bench-pgqrs") for _ in range(self.workers)]

    async def prepare(self) -> None:
        await self.schema.fill(self.messages)
        await self.schema.vacuum_analyze()

    async def run(self) -> None:
        counts = await asyncio.gather(*(_drain(c, self.batch) for c in self._consumers))
        check_drained(sum(counts), self.messages)


class DrainRaw(Case):
    """The ``dequeue`` and ``archive_messages`` statements of pgqrs run by hand: one psycopg
    connection per consumer, prepared, psycopg's default loaders (payloads decoded by its jsonb
    loader), worker ids of really registered consumers."""

    def __init__(self, schema: BenchSchema, batch: int, consumers: int, messages: int) -> None:
        self.label = "raw SQL"
        self.schema, self.batch, self.workers, self.messages = schema, batch, consumers, messages

    async def open(self) -> None:
        self._sql = _internals.DrainStatements(self.schema.name, self.schema.queue_id, self.batch)
        self._conns: list[AsyncConnection[Any]] = []
        self._worker_ids: list[int] = []
        for _ in range(self.workers):
            consumer = await self.schema.registered_consumer("bench-raw")
            assert consumer.worker_id is not None
            self._worker_ids.append(consumer.worker_id)
            self._conns.append(await connect(self.schema.dsn))

    async def prepare(self) -> None:
        await self.schema.fill(self.messages)
        await self.schema.vacuum_analyze()

    async def run(self) -> None:
        counts = await asyncio.gather(
            *(self._drain(c, w) for c, w in zip(self._conns, self._worker_ids, strict=True))
        )
        check_drained(sum(counts), self.messages)

    async def _drain(self, conn: AsyncConnection[Any], worker_id: int) -> int:
        statements, done = self._sql, 0
        lease, message_id = statements.lease(worker_id), statements.message_id
        while True:
            cur = await conn.execute(statements.dequeue, lease, prepare=True)
            rows = await cur.fetchall()
            if not rows:
                return done
            ack = statements.ack([message_id(row) for row in rows], worker_id)
            cur = await conn.execute(statements.archive, ack, prepare=True)
            await cur.fetchall()
            done += len(rows)

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


class ConsumeLoop(Case):
    """``Consumer.consume`` at ``batch`` (a no-op handler) until ``messages`` are archived;
    acknowledgements of one batch overlap the next dequeue."""

    def __init__(self, schema: BenchSchema, batch: int, messages: int) -> None:
        self.label = "consume loop"
        self.schema, self.batch, self.messages = schema, batch, messages

    async def open(self) -> None:
        self._consumer = self.schema.consumer("bench-consume")

    async def prepare(self) -> None:
        await self.schema.fill(self.messages)
        await self.schema.vacuum_analyze()

    async def run(self) -> None:
        stop, seen = asyncio.Event(), 0

        async def handler(message: Any) -> None:
            nonlocal seen
            seen += 1
            if seen == self.messages:
                stop.set()

        handled = await self._consumer.consume(handler, batch_size=self.batch, stop=stop)
        check_drained(handled, self.messages)


class DepthDrain(Case):
    """``dequeue_many(100)`` + ``archive_many`` of ``messages`` messages from a queue holding
    ``depth`` of them; ``prepare`` tops it up again, so every round starts at ``depth``.

    Owns its schema: the two depths must not share a table, or the deep queue's rows would
    weigh on the shallow one's index.
    """

    def __init__(self, dsn: str, depth: int, messages: int, batch: int = 100) -> None:
        self.label = f"depth {depth:,}"
        self.depth, self.messages, self.batch = depth, min(messages, depth), batch
        self.schema = BenchSchema(dsn, f"depth{depth}")
        self._refill = 0

    async def open(self) -> None:
        await self.schema.create()
        self._consumer = await self.schema.registered_consumer("bench-pgqrs")
        await self.schema.fill(self.depth)  # settled by the first prepare()

    async def prepare(self) -> None:
        await self.schema.fill(self._refill)
        self._refill = 0
        await self.schema.vacuum_analyze()

    async def run(self) -> None:
        self._refill = await _drain(self._consumer, self.batch, self.messages)
        check_drained(self._refill, self.messages)

    async def close(self) -> None:
        await self.schema.drop()


def drain_scenario(dsn: str, batch: int, messages: int, consumers: int = 1) -> Scenario:
    """``dequeue_many(batch)`` + ``archive_many`` by ``consumers`` consumers vs the same
    statements on raw connections; each run drains ``messages`` pre-enqueued messages."""
    schema = BenchSchema(dsn, f"drain{batch}x{consumers}")
    who = "1 consumer" if consumers == 1 else f"{consumers} consumers"
    key = f"dequeue+archive@{batch}" + ("" if consumers == 1 else f"x{consumers}")
    return Scenario(
        key=key,
        title=f"dequeue+archive, {batch}/batch, {who} vs raw SQL",
        pgqrs=DrainPgqrs(schema, batch, consumers, messages),
        baseline=DrainRaw(schema, batch, consumers, messages),
        target=DRAIN_TARGET if batch == 100 and consumers == 1 else None,
        schemas=[schema],
    )


def consume_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """The consume loop vs the raw sequential dequeue + archive loop (pgqrs's statements on a
    raw connection), ``messages`` pre-enqueued per run; docs/contract.md (Performance targets)
    asks for at least 100%."""
    schema = BenchSchema(dsn, f"consume{batch}")
    return Scenario(
        key=f"consume@{batch}",
        title=f"consume loop, {batch}/batch vs raw dequeue+archive loop",
        pgqrs=ConsumeLoop(schema, batch, messages),
        baseline=DrainRaw(schema, batch, 1, messages),
        target=CONSUME_TARGET,
        schemas=[schema],
    )


def depth_scenario(dsn: str, deep: int, messages: int, shallow: int = 1000) -> Scenario:
    """dequeue+archive at batch 100 with ``deep`` vs ``shallow`` messages waiting; each run
    drains ``messages`` (at most ``shallow``)."""
    note = (
        ""
        if deep >= 1_000_000
        else "docs/contract.md (Performance targets) names 1,000,000: `pgqrs bench --depth-million`"
    )
    return Scenario(
        key=f"depth@{deep}",
        title=f"dequeue+archive@100, {deep:,} vs {shallow:,} waiting",
        pgqrs=DepthDrain(dsn, deep, messages),
        baseline=DepthDrain(dsn, shallow, messages),
        target=DEPTH_TARGET,
        note=note,
        # A run drains only what the shallow queue holds (tens of milliseconds of work): more
        # rounds keep the medians steady.
        rounds_scale=2,
    )
