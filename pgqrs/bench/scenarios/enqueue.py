"""Producing: ``enqueue_batch`` vs raw binary COPY, single ``enqueue`` vs a raw INSERT, and the
small-batch crossover between the producer's two write paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import sql
from psycopg.types.json import Jsonb

from ...config import Config
from .. import _internals
from ..harness import Case, Scenario, Target
from ..schema import BenchSchema, connect, make_payloads

__all__ = [
    "ENQUEUE_BATCH_TARGET",
    "ENQUEUE_TARGET",
    "EnqueueRawCopy",
    "EnqueueRawInsert",
    "PgqrsEnqueue",
    "WritePath",
    "enqueue_batch_scenario",
    "enqueue_scenario",
    "small_batch_scenario",
]

ENQUEUE_BATCH_TARGET = Target(0.90, "≥ 0.90")
ENQUEUE_TARGET = Target(0.90, "≥ 0.90")


def _calls(batch: int, messages: int) -> int:
    """Whole calls of ``batch`` messages that make about ``messages`` (at least one)."""
    return max(1, round(messages / batch))


class PgqrsEnqueue(Case):
    """``Producer.enqueue`` one message at a time (``batch=None``) or ``enqueue_batch`` of
    ``batch`` messages, about ``messages`` per run; each round starts from an empty table, so
    neither side pays for the other's rows."""

    def __init__(
        self,
        schema: BenchSchema,
        *,
        batch: int | None,
        messages: int,
        label: str = "pgqrs",
        config: Config | None = None,
    ) -> None:
        self.label, self.schema, self.batch, self.config = label, schema, batch, config
        self.repeat = 1 if batch is None else _calls(batch, messages)
        self.messages = messages if batch is None else batch * self.repeat
        self._payloads = make_payloads(messages if batch is None else batch)

    async def open(self) -> None:
        self._producer = self.schema.producer("bench-pgqrs", self.config)

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        if self.batch is None:
            enqueue = self._producer.enqueue
            for payload in self._payloads:
                await enqueue(payload)
        else:
            for _ in range(self.repeat):
                await self._producer.enqueue_batch(self._payloads)


class _RawWriter(Case):
    """A raw writer of pgqrs_messages rows: one autocommit connection, the worker id of a
    really registered producer, and ``statement`` (``{}`` for the table); each round starts
    from an empty table."""

    statement = ""

    def __init__(self, schema: BenchSchema) -> None:
        self.schema = schema

    async def open(self) -> None:
        self._conn = await connect(self.schema.dsn)
        self._worker_id = await self.schema.registered_producer_id("bench-raw")
        table = self.schema.table("pgqrs_messages")
        self._sql = sql.SQL(self.statement).format(table).as_bytes()

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def close(self) -> None:
        await self._conn.close()


class EnqueueRawCopy(_RawWriter):
    """The same rows through psycopg's binary COPY on one autocommit connection, encoding
    included (``Jsonb`` with orjson), as a careful hand-written loader would do it."""

    statement = (
        "COPY {} (queue_id, payload, vt, enqueued_at, producer_worker_id) "
        "FROM STDIN (FORMAT BINARY)"
    )

    def __init__(self, schema: BenchSchema, batch: int, messages: int) -> None:
        super().__init__(schema)
        self.label = "raw COPY"
        self.batch, self.repeat = batch, _calls(batch, messages)
        self.messages = batch * self.repeat
        self._payloads = make_payloads(batch)

    async def run(self) -> None:
        queue_id, worker_id = self.schema.queue_id, self._worker_id
        for _ in range(self.repeat):
            now = datetime.now(UTC)
            async with self._conn.cursor().copy(self._sql) as copy:
                copy.set_types(["int8", "jsonb", "timestamptz", "timestamptz", "int8"])
                for payload in self._payloads:
                    await copy.write_row(
                        (queue_id, Jsonb(payload, dumps=orjson.dumps), now, now, worker_id)
                    )


class EnqueueRawInsert(_RawWriter):
    """A prepared ``INSERT ... RETURNING id`` per message on one autocommit connection (each
    statement its own transaction, as each ``enqueue`` is)."""

    statement = (
        "INSERT INTO {} (queue_id, payload, vt, producer_worker_id) "
        "VALUES (%s, %s, now(), %s) RETURNING id"
    )

    def __init__(self, schema: BenchSchema, messages: int) -> None:
        super().__init__(schema)
        self.label = "raw INSERT"
        self.messages = messages
        self._payloads = make_payloads(messages)

    async def run(self) -> None:
        conn, insert = self._conn, self._sql
        queue_id, worker_id = self.schema.queue_id, self._worker_id
        for payload in self._payloads:
            cur = await conn.execute(
                insert, (queue_id, Jsonb(payload, dumps=orjson.dumps), worker_id), prepare=True
            )
            await cur.fetchone()  # the id, which enqueue returns too


class WritePath(Case):
    """One of the producer's two write paths (``"statement"``: one INSERT; ``"copy"``: the
    COPY transaction) forced for every batch size, ``batch`` messages per call."""

    def __init__(self, schema: BenchSchema, path: str, batch: int, messages: int) -> None:
        self.label = {"statement": "one INSERT", "copy": "COPY transaction"}[path]
        self.schema, self.path, self.repeat = schema, path, _calls(batch, messages)
        self.messages = batch * self.repeat
        self._payloads: list[Any] = make_payloads(batch)

    async def open(self) -> None:
        producer = self.schema.producer(f"bench-{self.path}")
        force = (
            _internals.enqueue_statement if self.path == "statement" else _internals.enqueue_copy
        )
        self._write = force(producer)

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        write = self._write
        for _ in range(self.repeat):
            await write(self._payloads)


def enqueue_batch_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """``enqueue_batch`` of ``batch`` messages vs raw binary COPY of the same rows; each run
    enqueues about ``messages`` (whole batches, at least one)."""
    schema = BenchSchema(dsn, f"batch{batch}")
    return Scenario(
        key=f"enqueue_batch@{batch}",
        title=f"enqueue_batch, {batch:,}/batch vs raw binary COPY",
        pgqrs=PgqrsEnqueue(schema, batch=batch, messages=messages),
        baseline=EnqueueRawCopy(schema, batch, messages),
        target=ENQUEUE_BATCH_TARGET if batch == 1000 else None,
        schemas=[schema],
    )


def enqueue_scenario(dsn: str, messages: int) -> Scenario:
    """Single ``enqueue`` vs a raw prepared INSERT + commit loop, ``messages`` per run."""
    schema = BenchSchema(dsn, "enqueue")
    return Scenario(
        key="enqueue",
        title="enqueue (one message) vs raw prepared INSERT",
        pgqrs=PgqrsEnqueue(schema, batch=None, messages=messages),
        baseline=EnqueueRawInsert(schema, messages),
        target=ENQUEUE_TARGET,
        schemas=[schema],
    )


def small_batch_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """The crossover behind ``SMALL_BATCH_MAX``: ``batch`` messages per call through the one
    INSERT statement vs through the COPY transaction (reserve ids, COPY, commit), about
    ``messages`` per run.  A ratio above 1 means the statement is the faster path."""
    schema = BenchSchema(dsn, f"small{batch}")
    return Scenario(
        key=f"small-batch@{batch}",
        title=f"enqueue_batch paths, {batch:,}/call: one INSERT vs COPY transaction",
        pgqrs=WritePath(schema, "statement", batch, messages),
        baseline=WritePath(schema, "copy", batch, messages),
        schemas=[schema],
    )
