"""procrastinate as a peer: jobs deferred to a task, run by its worker."""

from __future__ import annotations

from typing import Any

import procrastinate
import psycopg

from protocol import Conn, Payloads, Peer, batches, one_by_one, serve

QUEUE = "bench"


class ProcrastinatePeer(Peer):
    distributions = ("procrastinate", "psycopg")
    tables = ("procrastinate_jobs", "procrastinate_events")
    unsupported = {
        "dequeue_ack": "no batch dequeue: its worker fetches one job per statement and "
        "finishes each with another (see its worker loop in the consume row)",
    }
    calls = {
        "enqueue_batch": "`Task.batch_defer_async(*payloads)` per 1,000",
        "enqueue": "`Task.defer_async(**payload)`",
        "consume": "`App.run_worker_async(queues=[queue], wait=False)` (its default concurrency "
        "of 1; finished jobs stay in the table as succeeded, its default)",
    }

    async def open(self, conn: Conn) -> None:
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conn.conninfo)
        )
        self.seen = 0

        async def bench(**payload: Any) -> None:
            self.seen += 1

        self.task = self.app.task(name="bench", queue=QUEUE)(bench)
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    def describe(self) -> dict[str, str]:
        return {"psycopg implementation": psycopg.pq.__impl__}

    async def close(self) -> None:
        await self.app.close_async()

    async def fill(self, payloads: Payloads) -> None:
        await self.task.batch_defer_async(*payloads)

    async def enqueue_batch(self, payloads: Payloads, batch: int) -> int:
        for chunk in batches(payloads, batch):
            await self.task.batch_defer_async(*chunk)
        return len(payloads)

    async def enqueue(self, payloads: Payloads) -> int:
        defer = self.task.defer_async

        async def defer_one(payload: dict[str, Any]) -> None:
            await defer(**payload)

        return await one_by_one(defer_one, payloads)

    async def consume(self, batch: int, count: int) -> int:
        self.seen = 0
        await self.app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False)
        return self.seen


if __name__ == "__main__":
    serve(ProcrastinatePeer())
