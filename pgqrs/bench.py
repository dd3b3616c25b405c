"""Throughput scenarios behind ``pgqrs bench`` and the pytest-benchmark suites in ``benchmarks/``.

Every database scenario pairs a pgqrs operation with a raw psycopg baseline doing the same work
on the same table, because SPEC §6 states the performance contract as ratios measured in one run
on one machine.  The machine this is written for has 2 cores shared by client and server and is
noisy, so absolute numbers drift by tens of percent from one minute to the next: the two sides
run interleaved round by round (A B A B ...) and each reports its median, which keeps their ratio
meaningful when neither number alone is.  Every round starts from a settled table (filled, then
``VACUUM ANALYZE``, untimed), so neither side inherits the other's dead rows or query plans.

Building blocks, shared by the CLI and the pytest suites (one mechanism, no duplicated SQL):

- :class:`BenchSchema`: a fresh pgqrs schema with one queue, dropped afterwards.
- :class:`Case`: one side of a comparison: ``open()`` once, then per round an untimed
  ``prepare()`` and a timed ``run()`` that handles ``messages`` messages, then ``close()``.
- :class:`Scenario`: two cases (pgqrs, baseline), the SPEC §6 target for their ratio, and the
  resources they share.  The ``*_scenario`` functions build them.
- :func:`compare` runs one scenario interleaved; :func:`run_all` runs the standard set and
  :func:`format_markdown` prints it.

The payloads are small JSON rows, ``{"task": n, "kind": "bench", "data": "x" * 20}``.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import platform
import random
import re
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from . import _core_py
from ._impl import impl
from ._sql import queries_for
from ._version import __version__
from .admin import Admin
from .config import Config
from .consumer import Consumer
from .producer import Producer

__all__ = [
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "BenchSchema",
    "Case",
    "Report",
    "Result",
    "Scenario",
    "Sizes",
    "Target",
    "compare",
    "consume_scenario",
    "core_decode_scenario",
    "core_encode_scenario",
    "depth_scenario",
    "drain_scenario",
    "enqueue_batch_scenario",
    "enqueue_scenario",
    "environment",
    "format_markdown",
    "make_payloads",
    "notify_scenario",
    "percentile",
    "run_all",
    "standard_scenarios",
    "wakeup_latencies",
]

Progress = Callable[[str], None]

QUEUE = "bench"
# Enqueue in calls of this size when filling a queue (the largest batch the SPEC promises).
FILL_BATCH = 100_000


def make_payloads(count: int, start: int = 0) -> list[dict[str, Any]]:
    """The benchmark's payloads: small JSON rows, as a job queue typically carries."""
    return [{"task": n, "kind": "bench", "data": "x" * 20} for n in range(start, start + count)]


async def _connect(dsn: str) -> AsyncConnection[Any]:
    return await AsyncConnection.connect(dsn, autocommit=True)


# --------------------------------------------------------------------------------------------
# Shared resources


class BenchSchema:
    """A fresh pgqrs schema holding one queue, for one scenario; dropped by :meth:`drop`.

    A scenario's two sides share it, so they write to and read from the same table.  The pgqrs
    client objects it hands out are closed when it is dropped.
    """

    def __init__(self, dsn: str, tag: str) -> None:
        self.dsn = dsn
        self.name = f"pgqrs_bench_{tag}_{uuid.uuid4().hex[:8]}"
        self.queue = QUEUE
        self.queue_id = 0
        self._clients: list[Producer | Consumer] = []
        self._ports = iter(range(1, 65536))
        self._filler: Producer | None = None

    async def create(self) -> None:
        """Install the schema with :class:`~pgqrs.Admin` and create the queue."""
        async with Admin(self.dsn, schema=self.name) as admin:
            await admin.install()
            self.queue_id = (await admin.create_queue(self.queue)).id

    async def drop(self) -> None:
        """Close the client objects handed out and drop the schema with everything in it."""
        for client in reversed(self._clients):
            await client.close()
        self._clients.clear()
        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.name))
        await self.execute(drop)

    def producer(self, hostname: str = "bench") -> Producer:
        """A new :class:`~pgqrs.Producer` on the queue (a distinct worker identity each)."""
        made = Producer(self.dsn, self.queue, hostname, next(self._ports), schema=self.name)
        self._clients.append(made)
        return made

    def consumer(self, hostname: str = "bench") -> Consumer:
        """A new :class:`~pgqrs.Consumer` on the queue (a distinct worker identity each)."""
        made = Consumer(self.dsn, self.queue, hostname, next(self._ports), schema=self.name)
        self._clients.append(made)
        return made

    async def registered_consumer(self, hostname: str) -> Consumer:
        """A consumer whose worker row exists (for raw baselines that need a worker id).

        Call it while the queue is empty: registration happens on the first call, and an empty
        dequeue is the public way to make one that changes nothing.
        """
        consumer = self.consumer(hostname)
        await consumer.dequeue_many(1)
        if consumer.worker_id is None:  # pragma: no cover - registration is the first call
            raise RuntimeError("consumer did not register")
        return consumer

    async def registered_producer_id(self, hostname: str) -> int:
        """The worker id of a newly registered producer, as pgqrs records on every row (for
        raw baselines writing the same rows).  Registration is a producer's first enqueue, so
        call it before the rounds, which start from an emptied table."""
        producer = self.producer(hostname)
        await producer.enqueue({"register": True})
        if producer.worker_id is None:  # pragma: no cover - registration is the first call
            raise RuntimeError("producer did not register")
        return producer.worker_id

    async def fill(self, count: int) -> None:
        """Enqueue ``count`` messages with ``enqueue_batch`` (outside any timed part)."""
        if self._filler is None:
            self._filler = self.producer("bench-filler")
        done = 0
        while done < count:
            step = min(FILL_BATCH, count - done)
            await self._filler.enqueue_batch(make_payloads(step, done))
            done += step

    async def execute(self, statement: sql.Composed) -> None:
        """Run one maintenance statement (outside any timed part) on its own connection."""
        async with await _connect(self.dsn) as conn:
            await conn.execute(statement)

    def table(self, name: str) -> sql.Composed:
        """``<schema>.<name>`` as a composable identifier."""
        return sql.SQL("{}.{}").format(sql.Identifier(self.name), sql.Identifier(name))

    async def truncate_messages(self) -> None:
        await self.execute(sql.SQL("TRUNCATE {}").format(self.table("pgqrs_messages")))

    async def vacuum_analyze(self) -> None:
        """Settle the tables after a fill (untimed), so each round starts from the same state.

        Without it, measurements drift with things other than the code under test: dead
        tuples of earlier rounds pile up at the head of the ``(queue_id, vt)`` index (a
        dequeue at batch 10 lost 75% of its rate over 7 rounds), the insert-triggered
        autovacuum wakes up mid-round, and prepared statements keep whatever plan the
        statistics of the moment they were first run suggested.  That last one made the
        comparison depend on which side ran first: the first side's ``archive_messages``
        settled on a generic plan over a nearly empty table, the other's on custom plans.
        ANALYZE invalidates cached plans, so both sides re-plan under the same statistics.
        """
        for table in ("pgqrs_messages", "pgqrs_archive"):
            await self.execute(sql.SQL("VACUUM ANALYZE {}").format(self.table(table)))


# --------------------------------------------------------------------------------------------
# Cases: one side of a comparison


class Case:
    """One side of a comparison.

    ``open()`` once; then per round ``prepare()`` (untimed: refill a queue, truncate a table)
    and ``run()`` (timed), which handles :attr:`messages` messages; ``close()`` at the end.
    """

    #: Short name of the side, e.g. ``"pgqrs"`` or ``"raw COPY"``.
    label: str = ""
    #: Messages (or rows) one :meth:`run` handles; rates are ``messages / seconds``.
    messages: int = 0

    async def open(self) -> None:
        """Acquire what the case needs (connections, prepared inputs)."""

    async def prepare(self) -> None:
        """Untimed work before each timed run."""

    async def run(self) -> None:
        """The timed work."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what :meth:`open` acquired."""


# enqueue_batch vs raw binary COPY ------------------------------------------------------------


class EnqueueBatchPgqrs(Case):
    """``Producer.enqueue_batch`` of ``batch`` messages, ``repeat`` times per run."""

    def __init__(self, schema: BenchSchema, batch: int, repeat: int) -> None:
        self.label = "pgqrs"
        self.schema, self.batch, self.repeat = schema, batch, repeat
        self.messages = batch * repeat
        self._payloads = make_payloads(batch)

    async def open(self) -> None:
        self._producer = self.schema.producer("bench-pgqrs")

    async def prepare(self) -> None:
        # Each round starts from an empty table, so neither side pays for the other's rows (in
        # pytest-benchmark the sides run one after the other, not interleaved).
        await self.schema.truncate_messages()

    async def run(self) -> None:
        for _ in range(self.repeat):
            await self._producer.enqueue_batch(self._payloads)


class EnqueueBatchRawCopy(Case):
    """The same rows through psycopg's binary COPY on one autocommit connection, encoding
    included (``Jsonb`` with orjson), as a careful hand-written loader would do it."""

    def __init__(self, schema: BenchSchema, batch: int, repeat: int) -> None:
        self.label = "raw COPY"
        self.schema, self.batch, self.repeat = schema, batch, repeat
        self.messages = batch * repeat
        self._payloads = make_payloads(batch)

    async def open(self) -> None:
        self._conn = await _connect(self.schema.dsn)
        self._worker_id = await self.schema.registered_producer_id("bench-raw")
        self._copy = (
            sql.SQL(
                "COPY {} (queue_id, payload, vt, enqueued_at, producer_worker_id) "
                "FROM STDIN (FORMAT BINARY)"
            )
            .format(self.schema.table("pgqrs_messages"))
            .as_bytes()
        )

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        queue_id, worker_id = self.schema.queue_id, self._worker_id
        for _ in range(self.repeat):
            now = datetime.now(UTC)
            async with self._conn.cursor().copy(self._copy) as copy:
                copy.set_types(["int8", "jsonb", "timestamptz", "timestamptz", "int8"])
                for payload in self._payloads:
                    await copy.write_row(
                        (queue_id, Jsonb(payload, dumps=orjson.dumps), now, now, worker_id)
                    )

    async def close(self) -> None:
        await self._conn.close()


# single enqueue vs raw prepared INSERT ------------------------------------------------------


class EnqueuePgqrs(Case):
    """``Producer.enqueue`` one message at a time, ``messages`` calls per run."""

    def __init__(self, schema: BenchSchema, messages: int) -> None:
        self.label = "pgqrs"
        self.schema, self.messages = schema, messages
        self._payloads = make_payloads(messages)

    async def open(self) -> None:
        self._producer = self.schema.producer("bench-pgqrs")

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        enqueue = self._producer.enqueue
        for payload in self._payloads:
            await enqueue(payload)


class EnqueueRawInsert(Case):
    """A prepared ``INSERT ... RETURNING id`` per message on one autocommit connection (each
    statement its own transaction, as each ``enqueue`` is)."""

    def __init__(self, schema: BenchSchema, messages: int) -> None:
        self.label = "raw INSERT"
        self.schema, self.messages = schema, messages
        self._payloads = make_payloads(messages)

    async def open(self) -> None:
        self._conn = await _connect(self.schema.dsn)
        self._worker_id = await self.schema.registered_producer_id("bench-raw")
        self._insert = (
            sql.SQL(
                "INSERT INTO {} (queue_id, payload, vt, producer_worker_id) "
                "VALUES (%s, %s, now(), %s) RETURNING id"
            )
            .format(self.schema.table("pgqrs_messages"))
            .as_bytes()
        )

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        conn, insert = self._conn, self._insert
        queue_id, worker_id = self.schema.queue_id, self._worker_id
        for payload in self._payloads:
            cur = await conn.execute(
                insert, (queue_id, Jsonb(payload, dumps=orjson.dumps), worker_id), prepare=True
            )
            await cur.fetchone()  # the id, which enqueue returns too

    async def close(self) -> None:
        await self._conn.close()


# dequeue_many + archive_many vs the same statements raw -------------------------------------


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
        counts = await asyncio.gather(*(self._drain(c) for c in self._consumers))
        _check_drained(sum(counts), self.messages)

    async def _drain(self, consumer: Consumer) -> int:
        done, batch = 0, self.batch
        while messages := await consumer.dequeue_many(batch):
            await consumer.archive_many([m.id for m in messages])
            done += len(messages)
        return done


class DrainRaw(Case):
    """The ``dequeue`` and ``archive_messages`` statements of ``pgqrs._sql`` run by hand: one
    psycopg connection per consumer, prepared, psycopg's default loaders (payloads decoded by
    its jsonb loader), worker ids of really registered consumers."""

    def __init__(self, schema: BenchSchema, batch: int, consumers: int, messages: int) -> None:
        self.label = "raw SQL"
        self.schema, self.batch, self.workers, self.messages = schema, batch, consumers, messages

    async def open(self) -> None:
        queries = queries_for(self.schema.name)
        self._dequeue, self._archive = queries.dequeue.sql, queries.archive_messages.sql
        # Checked once here, so the timed loop passes a plain dict (psycopg ignores extra keys).
        _statement_params("archive_messages", self._archive, ids=[], queue_id=0, worker_id=0)
        self._conns: list[AsyncConnection[Any]] = []
        self._worker_ids: list[int] = []
        for _ in range(self.workers):
            consumer = await self.schema.registered_consumer("bench-raw")
            assert consumer.worker_id is not None
            self._worker_ids.append(consumer.worker_id)
            self._conns.append(await _connect(self.schema.dsn))

    async def prepare(self) -> None:
        await self.schema.fill(self.messages)
        await self.schema.vacuum_analyze()

    async def run(self) -> None:
        counts = await asyncio.gather(
            *(self._drain(c, w) for c, w in zip(self._conns, self._worker_ids, strict=True))
        )
        _check_drained(sum(counts), self.messages)

    async def _drain(self, conn: AsyncConnection[Any], worker_id: int) -> int:
        queue_id, done = self.schema.queue_id, 0
        lease = _statement_params(
            "dequeue",
            self._dequeue,
            queue_id=queue_id,
            count=self.batch,
            lock_seconds=Config().lock_seconds,
            worker_id=worker_id,
            max_read_ct=Config().max_read_ct,
        )
        while True:
            cur = await conn.execute(self._dequeue, lease, prepare=True)
            rows = await cur.fetchall()
            if not rows:
                return done
            ack = {"ids": [row[0] for row in rows], "queue_id": queue_id, "worker_id": worker_id}
            cur = await conn.execute(self._archive, ack, prepare=True)
            await cur.fetchall()
            done += len(rows)

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


_PARAM = re.compile(rb"%\((\w+)\)[sbt]")


def _statement_params(name: str, statement: bytes, **known: Any) -> dict[str, Any]:
    """The parameters ``statement`` names, taken from ``known`` (the values pgqrs passes).

    The raw baseline runs pgqrs's own statements, which evolve with the library; a parameter
    this module does not know about fails here by name instead of as a psycopg error.
    """
    wanted = {m.decode() for m in _PARAM.findall(statement)}
    unknown = wanted - known.keys()
    if unknown:
        raise RuntimeError(
            f"pgqrs.bench: the {name!r} statement takes {sorted(unknown)}, which the raw "
            "baseline does not supply: update pgqrs/bench.py to pass what pgqrs passes"
        )
    return {key: known[key] for key in wanted}


def _check_drained(got: int, expected: int) -> None:
    if got != expected:
        raise RuntimeError(f"drained {got} messages, expected {expected}")


# dequeue cost vs queue depth ----------------------------------------------------------------


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
        consumer, done = self._consumer, 0
        while done < self.messages:
            batch = await consumer.dequeue_many(min(self.batch, self.messages - done))
            if not batch:
                break
            await consumer.archive_many([m.id for m in batch])
            done += len(batch)
        self._refill = done
        _check_drained(done, self.messages)

    async def close(self) -> None:
        await self.schema.drop()


# core micro-benchmarks (no database) --------------------------------------------------------


def compiled_core() -> ModuleType | None:
    """``pgqrs._core`` if the compiled core is built and importable, else ``None``."""
    try:
        return importlib.import_module("pgqrs._core")
    except ImportError:
        return None


def encode_inputs(rows: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Payloads and ids for one ``CopyEncoder.encode`` call of ``rows`` rows."""
    return make_payloads(rows), list(range(1_000_000, 1_000_000 + rows))


def raw_message_rows(rows: int) -> list[tuple[bytes | None, ...]]:
    """``rows`` raw binary rows as the ``dequeue`` statement returns them (layout as in
    ``tests/test_core.py``).

    The timestamps repeat across rows because that is what a dequeue of a batch-enqueued queue
    returns: one ``enqueued_at`` per enqueued batch, one ``vt`` and ``dequeued_at`` per dequeue.
    """
    now = 817_000_000_000_000  # microseconds since 2000-01-01: late 2025

    def i8(value: int) -> bytes:
        return struct.pack(">q", value)

    return [
        (
            i8(5_000_000 + n),
            i8(3),
            b"\x01" + orjson.dumps(payload),
            i8(now),
            i8(now + 30_000_000),
            struct.pack(">i", 1),
            i8(now + 1_000),
            i8(7),
            i8(8),
        )
        for n, payload in enumerate(make_payloads(rows))
    ]


class CoreCase(Case):
    """A core function on fixed inputs, looped so one run lasts about ``seconds``."""

    def __init__(self, label: str, rows: int, once: Callable[[], object], seconds: float) -> None:
        self.label, self.rows, self.once, self.seconds = label, rows, once, seconds
        self.loops = 1
        self.messages = rows

    async def open(self) -> None:
        # Calibrate: a run of well under a millisecond is dominated by timer and loop noise.
        self.once()
        started = time.perf_counter()
        self.once()
        took = max(time.perf_counter() - started, 1e-7)
        self.loops = max(1, math.ceil(self.seconds / took))
        self.messages = self.rows * self.loops

    async def run(self) -> None:
        once = self.once
        for _ in range(self.loops):
            once()


def encode_once(core: ModuleType, rows: int) -> Callable[[], object]:
    """A call encoding ``rows`` payloads into one COPY chunk with ``core``'s ``CopyEncoder``."""
    payloads, ids = encode_inputs(rows)
    encoder = core.CopyEncoder(3, 7, 817_000_000_000_000, 817_000_000_000_000, 8 * 1024 * 1024)

    def once() -> object:
        return encoder.encode(payloads, ids, 0, 1 << 40)

    return once


def decode_once(core: ModuleType, rows: int) -> Callable[[], object]:
    """A call decoding ``rows`` raw dequeue rows into messages with ``core``."""
    raw = raw_message_rows(rows)
    decode = core.decode_messages

    def once() -> object:
        return decode(raw)

    return once


# --------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Target:
    """A SPEC §6 target: the pgqrs/baseline ratio must be at least ``minimum``."""

    minimum: float
    text: str

    def met(self, ratio: float) -> bool:
        return ratio >= self.minimum


@dataclass
class Scenario:
    """Two cases to compare and the SPEC §6 target for ``pgqrs rate / baseline rate``."""

    key: str
    title: str
    pgqrs: Case
    baseline: Case
    target: Target | None = None
    #: Shared schemas, created before the cases open and dropped after they close.
    schemas: Sequence[BenchSchema] = ()
    note: str = ""
    #: Runs this many times the requested rounds (for scenarios whose runs are short).
    rounds_scale: int = 1
    _opened: list[Case] = field(default_factory=list, repr=False)

    async def open(self, cases: Sequence[Case] | None = None) -> None:
        """Create the shared schemas and open ``cases`` (default: both sides)."""
        for schema in self.schemas:
            await schema.create()
        for case in (self.pgqrs, self.baseline) if cases is None else cases:
            await case.open()
            self._opened.append(case)

    async def close(self) -> None:
        """Close what :meth:`open` opened and drop the shared schemas (errors of one step do
        not keep the others from running)."""
        errors: list[BaseException] = []
        steps: list[Callable[[], Awaitable[None]]] = [c.close for c in reversed(self._opened)]
        steps += [schema.drop for schema in self.schemas]
        for step in steps:
            try:
                await step()
            except Exception as exc:
                errors.append(exc)
        self._opened = []
        if errors:
            raise errors[0]


ENQUEUE_BATCH_TARGET = Target(0.90, "≥ 0.90")
ENQUEUE_TARGET = Target(0.90, "≥ 0.90")
DRAIN_TARGET = Target(0.80, "≥ 0.80")
# "Within 1.2x": a dequeue at depth may cost at most 1.2 times one at 1,000, so its rate is at
# least 1/1.2 of the shallow queue's.
DEPTH_TARGET = Target(1 / 1.2, "≥ 0.83 (cost ≤ 1.2x)")
CORE_TARGET = Target(5.0, "≥ 5.0")


def enqueue_batch_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """``enqueue_batch`` of ``batch`` messages vs raw binary COPY of the same rows; each run
    enqueues about ``messages`` (whole batches, at least one)."""
    schema = BenchSchema(dsn, f"batch{batch}")
    repeat = max(1, round(messages / batch))
    return Scenario(
        key=f"enqueue_batch@{batch}",
        title=f"enqueue_batch, {batch:,}/batch vs raw binary COPY",
        pgqrs=EnqueueBatchPgqrs(schema, batch, repeat),
        baseline=EnqueueBatchRawCopy(schema, batch, repeat),
        target=ENQUEUE_BATCH_TARGET if batch == 1000 else None,
        schemas=[schema],
    )


def enqueue_scenario(dsn: str, messages: int) -> Scenario:
    """Single ``enqueue`` vs a raw prepared INSERT + commit loop, ``messages`` per run."""
    schema = BenchSchema(dsn, "enqueue")
    return Scenario(
        key="enqueue",
        title="enqueue (one message) vs raw prepared INSERT",
        pgqrs=EnqueuePgqrs(schema, messages),
        baseline=EnqueueRawInsert(schema, messages),
        target=ENQUEUE_TARGET,
        schemas=[schema],
    )


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


def depth_scenario(dsn: str, deep: int, messages: int, shallow: int = 1000) -> Scenario:
    """dequeue+archive at batch 100 with ``deep`` vs ``shallow`` messages waiting; each run
    drains ``messages`` (at most ``shallow``)."""
    note = "" if deep >= 1_000_000 else "SPEC §6 names 1,000,000: `pgqrs bench --depth-million`"
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


def core_encode_scenario(rows: int, seconds: float) -> Scenario | None:
    """``CopyEncoder.encode`` of ``rows`` rows: compiled vs pure Python (``None`` without a
    compiled core)."""
    compiled = compiled_core()
    if compiled is None:
        return None
    return Scenario(
        key="core.encode",
        title=f"core CopyEncoder.encode, {rows:,} rows: compiled vs Python",
        pgqrs=CoreCase("compiled", rows, encode_once(compiled, rows), seconds),
        baseline=CoreCase("python", rows, encode_once(_core_py, rows), seconds),
        target=CORE_TARGET,
    )


def core_decode_scenario(rows: int, seconds: float) -> Scenario | None:
    """``decode_messages`` of ``rows`` raw rows: compiled vs pure Python (``None`` without a
    compiled core)."""
    compiled = compiled_core()
    if compiled is None:
        return None
    return Scenario(
        key="core.decode",
        title=f"core decode_messages, {rows:,} rows: compiled vs Python",
        pgqrs=CoreCase("compiled", rows, decode_once(compiled, rows), seconds),
        baseline=CoreCase("python", rows, decode_once(_core_py, rows), seconds),
        target=CORE_TARGET,
    )


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Side:
    """What one side measured: per-round seconds for ``messages`` messages each."""

    label: str
    messages: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [self.messages / s for s in self.seconds]

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)


@dataclass
class Result:
    """One scenario's outcome."""

    key: str
    title: str
    pgqrs: Side
    baseline: Side
    target: Target | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.pgqrs.median_rate / self.baseline.median_rate

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "pgqrs": {**asdict(self.pgqrs), "median_rate": self.pgqrs.median_rate},
            "baseline": {**asdict(self.baseline), "median_rate": self.baseline.median_rate},
            "ratio": self.ratio,
            # Per-round ratios of adjacent runs: their spread shows how far to trust the ratio.
            "round_ratios": [
                a / b for a, b in zip(self.pgqrs.rates, self.baseline.rates, strict=True)
            ],
            "target": None if self.target is None else asdict(self.target),
            "met": self.met,
            "note": self.note,
        }


async def compare(
    scenario: Scenario, rounds: int, *, warmup: int = 1, progress: Progress | None = None
) -> Result:
    """Run ``scenario`` with its two sides interleaved, round by round.

    Interleaving (pgqrs, baseline, pgqrs, baseline, ...) exposes both sides to the same drift
    of a shared, noisy machine (other processes, autovacuum, CPU frequency); medians then
    discard the rounds a hiccup hit.  ``warmup`` rounds first open pools, prepare statements and
    fill caches, and are not recorded.
    """
    a, b = scenario.pgqrs, scenario.baseline
    rounds *= scenario.rounds_scale
    sides = {id(a): Side(a.label, 0), id(b): Side(b.label, 0)}
    await scenario.open()
    try:
        for round_no in range(warmup + rounds):
            for case in (a, b):
                await case.prepare()
                started = time.perf_counter()
                await case.run()
                took = time.perf_counter() - started
                if round_no >= warmup:
                    side = sides[id(case)]
                    side.messages = case.messages
                    side.seconds.append(took)
            if progress is not None and round_no >= warmup:
                pa, pb = sides[id(a)], sides[id(b)]
                progress(
                    f"  round {round_no - warmup + 1}/{rounds}: {a.label} "
                    f"{pa.rates[-1]:,.0f}/s, {b.label} {pb.rates[-1]:,.0f}/s"
                )
    finally:
        await scenario.close()
    return Result(
        scenario.key, scenario.title, sides[id(a)], sides[id(b)], scenario.target, scenario.note
    )


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does per round.

    Runs are short (a few tenths of a second) and rounds many: on a shared 2-core machine the
    noise comes in bursts (another process takes a core for a second or two), and many short
    interleaved rounds let the medians step over the bursts, where a few long ones would each
    absorb some.
    """

    rounds: int = 15
    warmup: int = 1
    #: Messages per run of each ``enqueue_batch`` size (whole batches).
    batch_messages: int = 20_000
    batch_sizes: tuple[int, ...] = (100, 1_000, 10_000)
    single_messages: int = 1_000
    #: Messages drained per run, by dequeue batch size (1 consumer).
    drain_messages: tuple[tuple[int, int], ...] = ((1, 500), (10, 3_000), (100, 10_000))
    concurrent_consumers: int = 4
    concurrent_messages: int = 10_000
    #: Messages ``Consumer.consume`` handles per run (batch 100, against the raw loop at 100).
    consume_messages: int = 10_000
    depth_deep: int = 100_000
    depth_messages: int = 1_000
    core_rows: int = 1_000
    #: Seconds one core run lasts (its loop count is calibrated to it).
    core_seconds: float = 0.05


DEFAULT_SIZES = Sizes()
# A smoke run: every scenario, tiny sizes, few rounds (well under 30 s with server start).
QUICK_SIZES = Sizes(
    rounds=3,
    batch_messages=2_000,
    single_messages=200,
    drain_messages=((1, 200), (10, 500), (100, 2_000)),
    concurrent_messages=2_000,
    consume_messages=2_000,
    depth_deep=10_000,
    depth_messages=500,
    core_seconds=0.01,
)


def standard_scenarios(dsn: str, sizes: Sizes) -> list[Scenario]:
    """The scenarios of ``pgqrs bench``, in report order."""
    found: list[Scenario | None] = [
        *(enqueue_batch_scenario(dsn, b, sizes.batch_messages) for b in sizes.batch_sizes),
        enqueue_scenario(dsn, sizes.single_messages),
        *(drain_scenario(dsn, b, n) for b, n in sizes.drain_messages),
        drain_scenario(dsn, 100, sizes.concurrent_messages, sizes.concurrent_consumers),
        consume_scenario(dsn, 100, sizes.consume_messages),
        depth_scenario(dsn, sizes.depth_deep, sizes.depth_messages),
        core_encode_scenario(sizes.core_rows, sizes.core_seconds),
        core_decode_scenario(sizes.core_rows, sizes.core_seconds),
    ]
    return [s for s in found if s is not None]


@dataclass
class Report:
    """Everything ``pgqrs bench`` prints."""

    environment: dict[str, str]
    results: list[Result]
    command: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "environment": self.environment,
                "command": self.command,
                "results": [r.to_dict() for r in self.results],
            },
            option=orjson.OPT_INDENT_2,
        )


async def environment(dsn: str, server: str = "") -> dict[str, str]:
    """What a reader needs to reproduce the numbers: versions, machine, server."""
    async with await _connect(dsn) as conn:
        cur = await conn.execute("SELECT current_setting('server_version')")
        row = await cur.fetchone()
    libpq = psycopg.pq.version()
    found = {
        "pgqrs": __version__,
        "core": impl,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__}), libpq "
        f"{libpq // 10000}.{libpq % 10000}",
        "postgresql": str(row[0]) if row else "?",
        "cpus": str(os.cpu_count()),
        "machine": f"{platform.machine()}, {_cpu_model()}, {platform.system()} "
        f"{platform.release()}",
    }
    if server:
        found["server"] = server
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def run_all(
    dsn: str,
    sizes: Sizes = DEFAULT_SIZES,
    *,
    progress: Progress | None = None,
    server: str = "",
    command: str = "",
) -> Report:
    """Run the standard scenarios against ``dsn`` and collect a :class:`Report`."""
    say = progress or (lambda _line: None)
    env = await environment(dsn, server)
    scenarios = standard_scenarios(dsn, sizes)
    if compiled_core() is None:
        say("compiled core not importable: core comparisons skipped")
    results = []
    for number, scenario in enumerate(scenarios, 1):
        say(f"[{number}/{len(scenarios)}] {scenario.title}")
        started = time.perf_counter()
        result = await compare(scenario, sizes.rounds, warmup=sizes.warmup, progress=say)
        verdict = {None: "", True: ", target met", False: ", target MISSED"}[result.met]
        say(f"  -> ratio {result.ratio:.2f}{verdict} ({time.perf_counter() - started:.1f} s)")
        results.append(result)
    return Report(env, results, command)


def format_markdown(report: Report) -> str:
    """The report as Markdown: a "Reproducing" header, then the results table."""
    env = report.environment
    lines = [
        "### Reproducing",
        "",
        *(f"- **{key}**: {value}" for key, value in env.items()),
    ]
    if report.command:
        lines.append(f"- **command**: `{report.command}`")
    lines += [
        "",
        "| scenario | pgqrs msgs/s | baseline msgs/s | ratio | SPEC §6 target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    notes = []
    for r in report.results:
        target = "—" if r.target is None else r.target.text
        met = {None: "—", True: "yes", False: "**no**"}[r.met]
        title = r.title
        if r.note:
            notes.append(r.note)
            title += f" [{len(notes)}]"
        lines.append(
            f"| {title} | {r.pgqrs.median_rate:,.0f} | {r.baseline.median_rate:,.0f} | "
            f"{r.ratio:.2f} | {target} | {met} |"
        )
    rounds = {len(r.pgqrs.seconds) for r in report.results}
    lines += [
        "",
        f"Medians of {'/'.join(str(n) for n in sorted(rounds))} interleaved rounds per side; "
        "ratio = pgqrs / baseline (compiled / Python for the core rows; deep / shallow queue "
        "for the depth row).",
    ]
    lines += ["", *(f"[{n}] {text}" for n, text in enumerate(notes, 1))] if notes else []
    return "\n".join(lines) + "\n"


def sizes_for(*, quick: bool, rounds: int | None, depth_million: bool) -> Sizes:
    """The sizes ``pgqrs bench`` uses for its options."""
    sizes = QUICK_SIZES if quick else DEFAULT_SIZES
    if rounds is not None:
        sizes = replace(sizes, rounds=rounds)
    if depth_million:
        sizes = replace(sizes, depth_deep=1_000_000)
    return sizes


def main(
    dsn: str,
    *,
    embedded: bool,
    quick: bool = False,
    rounds: int | None = None,
    depth_million: bool = False,
    json_path: str | None = None,
    argv: Sequence[str] = (),
) -> None:
    """``pgqrs bench``: progress lines on stderr, the Markdown report on stdout.

    Args:
        dsn: server to measure on.
        embedded: whether ``dsn`` is a throwaway local server (said in the report).
        quick: tiny sizes, for a smoke run.
        rounds: measured rounds per side (default: 15, or 3 with ``quick``).
        depth_million: the depth scenario with 1,000,000 messages waiting (slow to fill).
        json_path: also write the results there as JSON.
        argv: the command's arguments, quoted in the report.
    """

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    server = (
        "throwaway local PostgreSQL on the same machine (pgqrs.embedded: fsync, "
        "synchronous_commit and full_page_writes off)"
        if embedded
        else "the given DSN"
    )
    report = asyncio.run(
        run_all(
            dsn,
            sizes_for(quick=quick, rounds=rounds, depth_million=depth_million),
            progress=progress,
            server=server,
            command=" ".join(["pgqrs", *argv]),
        )
    )
    sys.stdout.write(format_markdown(report))
    if json_path:
        with open(json_path, "wb") as out:
            out.write(report.to_json())
        progress(f"results written to {json_path}")


# --------------------------------------------------------------------------------------------
# Workers, leases and dead letters (issue 4): the consume loop, NOTIFY's cost, wake-up latency


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
        _check_drained(handled, self.messages)


def consume_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """The consume loop vs the raw sequential dequeue + archive loop (pgqrs's statements on a
    raw connection), ``messages`` pre-enqueued per run.  SPEC §6: at least 100%."""
    schema = BenchSchema(dsn, f"consume{batch}")
    return Scenario(
        key=f"consume@{batch}",
        title=f"consume loop, {batch}/batch vs raw dequeue+archive loop",
        pgqrs=ConsumeLoop(schema, batch, messages),
        baseline=DrainRaw(schema, batch, 1, messages),
        target=Target(1.0, "≥ 1.00"),
        schemas=[schema],
    )


class EnqueueWithNotify(Case):
    """``enqueue`` (``batch`` 1) or ``enqueue_batch`` with ``Config.notify`` on or off."""

    def __init__(self, schema: BenchSchema, batch: int, messages: int, notify: bool) -> None:
        self.label = "NOTIFY on" if notify else "NOTIFY off"
        self.schema, self.batch, self.notify = schema, batch, notify
        self.repeat = max(1, round(messages / batch))
        self.messages = self.repeat * batch
        self._payloads = make_payloads(self.messages if batch == 1 else batch)

    async def open(self) -> None:
        port = 1000 + self.notify
        self._producer = Producer(
            self.schema.dsn,
            self.schema.queue,
            "bench-notify",
            port,
            schema=self.schema.name,
            config=Config(notify=self.notify),
        )

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        if self.batch == 1:
            enqueue = self._producer.enqueue
            for payload in self._payloads:
                await enqueue(payload)
        else:
            for _ in range(self.repeat):
                await self._producer.enqueue_batch(self._payloads)

    async def close(self) -> None:
        await self._producer.close()


def notify_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """What ``Config.notify`` costs: the same enqueues with and without the NOTIFY that wakes
    consume loops (a commit-time lock serialises notifying transactions).  The default is on
    only if single enqueue keeps at least 95%."""
    schema = BenchSchema(dsn, f"notify{batch}")
    what = "enqueue (one message)" if batch == 1 else f"enqueue_batch, {batch:,}/batch"
    return Scenario(
        key=f"notify@{batch}",
        title=f"{what}, NOTIFY on vs off",
        pgqrs=EnqueueWithNotify(schema, batch, messages, True),
        baseline=EnqueueWithNotify(schema, batch, messages, False),
        target=Target(0.95, "≥ 0.95") if batch == 1 else None,
        schemas=[schema],
    )


async def wakeup_latencies(
    dsn: str, samples: int, *, listen: bool, poll_interval: float = 1.0, idle: float = 0.3
) -> list[float]:
    """Seconds from ``enqueue`` returning to the handler of an idle consume loop receiving the
    message, ``samples`` times, with LISTEN/NOTIFY wake-ups (``listen=True``) or polling only.

    Each sample lets the queue sit idle for a random 1 to 4 times ``idle`` seconds first, so
    the loop is waiting (or polling at its backed-off interval) as on a quiet production
    queue, and the enqueue does not fall in step with the polls.
    """
    rng = random.Random(4)
    schema = BenchSchema(dsn, "wakeup" if listen else "poll")
    await schema.create()
    config = Config(notify=True, listen=listen, poll_interval=poll_interval)
    producer = Producer(dsn, schema.queue, "bench-wake", 1, schema=schema.name, config=config)
    consumer = Consumer(dsn, schema.queue, "bench-wake", 2, schema=schema.name, config=config)
    received: asyncio.Queue[float] = asyncio.Queue()

    async def handler(message: Any) -> None:
        received.put_nowait(time.perf_counter())

    loop = asyncio.create_task(consumer.consume(handler))
    latencies: list[float] = []
    try:
        await producer.enqueue({"warm": True})
        await received.get()
        for _ in range(samples):
            await asyncio.sleep(idle * rng.uniform(1, 4))
            sent = time.perf_counter()
            await producer.enqueue({"sent": sent})
            latencies.append(await received.get() - sent)
    finally:
        loop.cancel()
        await asyncio.wait([loop])
        await producer.close()
        await consumer.close()
        await schema.drop()
    return latencies


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
