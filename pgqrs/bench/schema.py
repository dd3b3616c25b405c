"""The table a scenario's two sides share: a fresh pgqrs schema with one queue.

Also the benchmark's payloads, and the untimed maintenance between rounds (fill, truncate,
``VACUUM ANALYZE``) that lets every round start from the same state.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection, sql

from ..admin import Admin
from ..config import Config
from ..consumer import Consumer
from ..producer import Producer

__all__ = ["FILL_BATCH", "QUEUE", "BenchSchema", "check_drained", "connect", "make_payloads"]

QUEUE = "bench"
# Enqueue in calls of this size when filling a queue: the largest batch the tests hold to its
# memory bound, and large enough that filling a million messages stays quick.
FILL_BATCH = 100_000


def make_payloads(count: int, start: int = 0) -> list[dict[str, Any]]:
    """The benchmark's payloads: small JSON rows, as a job queue typically carries."""
    return [{"task": n, "kind": "bench", "data": "x" * 20} for n in range(start, start + count)]


async def connect(dsn: str) -> AsyncConnection[Any]:
    """A raw autocommit psycopg connection, as the baselines and the maintenance use."""
    return await AsyncConnection.connect(dsn, autocommit=True)


def check_drained(got: int, expected: int) -> None:
    """Fail a run that handled another number of messages than it was meant to."""
    if got != expected:
        raise RuntimeError(f"drained {got} messages, expected {expected}")


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

    def producer(self, hostname: str = "bench", config: Config | None = None) -> Producer:
        """A new :class:`~pgqrs.Producer` on the queue (a distinct worker identity each)."""
        port = next(self._ports)
        made = Producer(self.dsn, self.queue, hostname, port, schema=self.name, config=config)
        self._clients.append(made)
        return made

    def consumer(self, hostname: str = "bench", config: Config | None = None) -> Consumer:
        """A new :class:`~pgqrs.Consumer` on the queue (a distinct worker identity each)."""
        port = next(self._ports)
        made = Consumer(self.dsn, self.queue, hostname, port, schema=self.name, config=config)
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
        async with await connect(self.dsn) as conn:
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
