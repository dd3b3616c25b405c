"""This repository's pgqrs as a peer: the same operations through the same protocol as the
others, run by the checkout's ``.venv``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pgqrs
from pgqrs import Admin, Consumer, Producer, QueueMessage

from protocol import Conn, Payloads, Peer, batches, drain, one_by_one, serve

QUEUE = "bench"


class PgqrsPeer(Peer):
    distributions = ("pgqrs", "psycopg", "orjson")
    tables = ("pgqrs_messages", "pgqrs_archive")
    calls = {
        "enqueue_batch": "`Producer.enqueue_batch(payloads)`",
        "enqueue": "`Producer.enqueue(payload)`",
        "dequeue_ack": "`Consumer.dequeue_many(100)` + `Consumer.archive_many(ids)`",
        "consume": "`Consumer.consume(handler, batch_size=100)` (handlers one at a time, the "
        "acknowledgement of a batch overlapping the next dequeue)",
    }

    async def open(self, conn: Conn) -> None:
        dsn = conn.conninfo
        async with Admin(dsn) as admin:
            await admin.install()
            await admin.create_queue(QUEUE)
        self.producer = Producer(dsn, QUEUE, "peers", 1)
        self.filler = Producer(dsn, QUEUE, "peers-fill", 2)
        self.consumer = Consumer(dsn, QUEUE, "peers", 3)

    def describe(self) -> dict[str, str]:
        return {"core": {"c": "compiled", "python": "pure-Python"}[pgqrs.__impl__]}

    async def close(self) -> None:
        for client in (self.producer, self.filler, self.consumer):
            await client.close()

    async def fill(self, payloads: Payloads) -> None:
        await self.filler.enqueue_batch(payloads)

    async def enqueue_batch(self, payloads: Payloads, batch: int) -> int:
        for chunk in batches(payloads, batch):
            await self.producer.enqueue_batch(chunk)
        return len(payloads)

    async def enqueue(self, payloads: Payloads) -> int:
        return await one_by_one(self.producer.enqueue, payloads)

    async def dequeue_ack(self, batch: int, count: int) -> int:
        consumer = self.consumer

        async def archive(messages: Sequence[QueueMessage]) -> None:
            await consumer.archive_many([m.id for m in messages])

        return await drain(consumer.dequeue_many, archive, batch, count)

    async def consume(self, batch: int, count: int) -> int:
        stop, seen = asyncio.Event(), 0

        async def handler(message: QueueMessage) -> Any:
            nonlocal seen
            seen += 1
            if seen == count:
                stop.set()

        return await self.consumer.consume(handler, batch_size=batch, stop=stop)


if __name__ == "__main__":
    serve(PgqrsPeer())
