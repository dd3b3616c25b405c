"""PgQueuer as a peer, on asyncpg (the driver its documentation starts with)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from pgqueuer.queries import EntrypointExecutionParameter
from pgqueuer.types import QueueExecutionMode

from protocol import Conn, Payloads, Peer, batches, drain, one_by_one, serve

ENTRYPOINT = "bench"
# How long a picked job may go without a heartbeat before another worker may take it: its
# QueueManager's default.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


class PgQueuerPeer(Peer):
    distributions = ("pgqueuer", "asyncpg", "orjson")
    tables = ("pgqueuer", "pgqueuer_log", "pgqueuer_statistics")
    calls = {
        "enqueue_batch": "`Queries.enqueue(entrypoints, payloads, priorities)` with lists of "
        "1,000 (payloads as orjson bytes)",
        "enqueue": "`Queries.enqueue(entrypoint, payload)`",
        "dequeue_ack": "`Queries.dequeue(batch_size=100, ...)` + "
        "`Queries.log_jobs([(job, 'successful', None), ...])` (delete + log row)",
        "consume": "`QueueManager.run(batch_size=100, mode=QueueExecutionMode.drain)` with one "
        "entrypoint, a new QueueManager per run (drain mode shuts it down)",
    }

    async def open(self, conn: Conn) -> None:
        self.conn = await asyncpg.connect(**conn.asyncpg_kwargs())
        self.queries = Queries(AsyncpgDriver(self.conn))
        await self.queries.install()
        self.manager_id = uuid.uuid4()

    async def close(self) -> None:
        await self.conn.close()

    async def _enqueue_many(self, payloads: Payloads) -> None:
        data = [orjson.dumps(p) for p in payloads]
        await self.queries.enqueue([ENTRYPOINT] * len(data), data, [0] * len(data))

    async def fill(self, payloads: Payloads) -> None:
        await self._enqueue_many(payloads)

    async def enqueue_batch(self, payloads: Payloads, batch: int) -> int:
        for chunk in batches(payloads, batch):
            await self._enqueue_many(chunk)
        return len(payloads)

    async def enqueue(self, payloads: Payloads) -> int:
        enqueue = self.queries.enqueue

        async def enqueue_one(payload: dict[str, Any]) -> None:
            await enqueue(ENTRYPOINT, orjson.dumps(payload))

        return await one_by_one(enqueue_one, payloads)

    async def dequeue_ack(self, batch: int, count: int) -> int:
        queries = self.queries
        entrypoints = {ENTRYPOINT: EntrypointExecutionParameter(concurrency_limit=0)}

        async def dequeue(size: int) -> list[Job]:
            jobs: list[Job] = await queries.dequeue(
                batch_size=size,
                entrypoints=entrypoints,
                queue_manager_id=self.manager_id,
                global_concurrency_limit=None,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
            )
            return jobs

        async def log(jobs: Sequence[Job]) -> None:
            await queries.log_jobs([(job, "successful", None) for job in jobs])

        return await drain(dequeue, log, batch, count)

    async def consume(self, batch: int, count: int) -> int:
        manager = QueueManager(Queries(AsyncpgDriver(self.conn)))
        seen = 0

        async def handler(job: Job) -> None:
            nonlocal seen
            seen += 1

        manager.entrypoint(ENTRYPOINT)(handler)
        await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)
        return seen


if __name__ == "__main__":
    serve(PgQueuerPeer())
