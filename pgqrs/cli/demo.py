"""``pgqrs demo``: produce and consume a batch end to end, on a throwaway local PostgreSQL
when no DSN is given."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from typing import TextIO

from .. import __impl__, __version__
from ..admin import Admin
from ..config import DSN_ENV
from ..consumer import Consumer
from ..errors import QueueAlreadyExistsError
from ..producer import Producer
from ._common import Commands, Context

__all__ = ["database", "register"]


@contextlib.contextmanager
def database(dsn: str | None, log: TextIO | None = None) -> Iterator[str]:
    """The given DSN, else ``$PGQRS_DSN``, else a throwaway local cluster for the duration.

    Args:
        log: where to say a cluster is starting (default stdout).
    """
    from ..embedded import given_or_throwaway  # only the commands that may start a server

    dsn = dsn or os.environ.get(DSN_ENV)
    if not dsn:
        print("starting a throwaway PostgreSQL ...", file=log, flush=True)
    with given_or_throwaway(dsn) as resolved:
        yield resolved


async def _demo(dsn: str, messages: int, consumers: int) -> None:
    queue = "pgqrs-demo"
    async with Admin(dsn) as admin:
        await admin.install()
        with contextlib.suppress(QueueAlreadyExistsError):
            await admin.create_queue(queue)
        async with Producer(dsn, queue, "demo-producer", 1) as producer:
            started = time.perf_counter()
            ids = await producer.enqueue_batch({"task": n, "kind": "demo"} for n in range(messages))
            took = time.perf_counter() - started
            print(
                f"enqueue_batch: {len(ids):,} messages in {took:.3f} s "
                f"({len(ids) / took:,.0f} msg/s, one binary COPY)"
            )
        metrics = await admin.queue_metrics(queue)
        print(
            f"queue {queue!r}: {metrics.pending_messages:,} pending, "
            f"oldest waiting {metrics.oldest_pending_age}"
        )

        async def drain(port: int) -> int:
            done = 0
            async with Consumer(dsn, queue, "demo-consumer", port) as consumer:
                while batch := await consumer.dequeue_many(100, lock_seconds=30):
                    await consumer.archive_many([m.id for m in batch])
                    done += len(batch)
            return done

        started = time.perf_counter()
        counts = await asyncio.gather(*(drain(2 + i) for i in range(consumers)))
        took = time.perf_counter() - started
        print(
            f"dequeue+archive: {sum(counts):,} messages by {consumers} consumers "
            f"{counts} in {took:.3f} s ({sum(counts) / took:,.0f} msg/s, batches of 100)"
        )
        metrics = await admin.queue_metrics(queue)
        print(
            f"queue now: {metrics.pending_messages} pending, {metrics.archived_messages:,} archived"
        )


def demo(ctx: Context) -> None:
    args = ctx.args
    print(f"pgqrs {__version__}, core: {__impl__}")
    with database(args.dsn) as dsn:
        asyncio.run(_demo(dsn, args.messages, args.consumers))


def register(commands: Commands) -> None:
    parser = commands.add(
        "demo",
        demo,
        help="produce and consume a batch end to end",
        description="Produce and consume a batch end to end: enqueue_batch, then consumers "
        "draining it. Without --dsn or $PGQRS_DSN it starts a throwaway local PostgreSQL.",
        example=["pgqrs demo", "pgqrs demo --messages 100000 --consumers 4"],
        common=False,
    )
    parser.add_argument(
        "--dsn", help=f"PostgreSQL to use (default: ${DSN_ENV}, else a throwaway one)"
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--consumers", type=int, default=2)
