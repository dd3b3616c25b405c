"""The Rust-based pgqrs from PyPI (``pip install pgqrs``, its Python bindings) as a peer.

It has the import name of this repository's package, so it runs in a virtualenv of its own and
is imported by name at run time: type checkers here resolve ``pgqrs`` to this repository's.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from protocol import Conn, Payloads, Peer, batches, drain, one_by_one, serve

QUEUE = "bench"


class RustPgqrsPeer(Peer):
    distributions = ("pgqrs",)
    tables = ("pgqrs_messages",)
    calls = {
        "enqueue_batch": "`pgqrs.enqueue_batch(producer, payloads)`",
        "enqueue": "`Producer.enqueue(payload)`",
        "dequeue_ack": "`Consumer.dequeue(100)` + `Consumer.archive_many(ids)`",
        "consume": "`pgqrs.consume_batch(store, queue, 100, handler)` called until every "
        "message is handled (one call handles one batch and archives it); enqueue rate limit "
        "off (`Config.max_enqueue_per_second = None`: its default is 1,000 per second)",
    }

    async def open(self, conn: Conn) -> None:
        self.pgqrs: Any = importlib.import_module("pgqrs")
        config = self.pgqrs.Config(conn.url)
        # Its default caps enqueues at 1,000 per second per producer (burst 50): a throughput
        # benchmark measures the library, not the limiter.
        config.max_enqueue_per_second = None
        config.max_enqueue_burst = None
        self.store = await self.pgqrs.connect_with(config)
        await self.pgqrs.admin(self.store).install()
        await self.store.queue(QUEUE)
        self.producer = await self.store.producer(QUEUE)
        self.filler = await self.store.producer(QUEUE)
        self.consumer = await self.store.consumer(QUEUE)

    async def fill(self, payloads: Payloads) -> None:
        await self.pgqrs.enqueue_batch(self.filler, list(payloads))

    async def enqueue_batch(self, payloads: Payloads, batch: int) -> int:
        enqueue_batch, producer = self.pgqrs.enqueue_batch, self.producer
        for chunk in batches(payloads, batch):
            await enqueue_batch(producer, list(chunk))
        return len(payloads)

    async def enqueue(self, payloads: Payloads) -> int:
        return await one_by_one(self.producer.enqueue, payloads)

    async def dequeue_ack(self, batch: int, count: int) -> int:
        consumer = self.consumer

        async def archive(messages: Sequence[Any]) -> None:
            await consumer.archive_many([m.id for m in messages])

        return await drain(consumer.dequeue, archive, batch, count)

    async def consume(self, batch: int, count: int) -> int:
        seen = 0

        async def handler(messages: list[Any]) -> None:
            nonlocal seen
            seen += len(messages)

        while seen < count:
            before = seen
            await self.pgqrs.consume_batch(self.store, QUEUE, batch, handler)
            if seen == before:
                break
        return seen


if __name__ == "__main__":
    serve(RustPgqrsPeer())
