"""The ``pgqrs`` command (also ``python -m pgqrs``).

Commands that demonstrate the library start a throwaway local PostgreSQL when no DSN is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

from . import __impl__, __version__
from .admin import Admin
from .config import DSN_ENV
from .consumer import Consumer
from .embedded import given_or_throwaway
from .errors import PgqrsError, QueueAlreadyExistsError
from .producer import Producer

__all__ = ["main"]


@contextlib.contextmanager
def _database(dsn: str | None, log: TextIO | None = None) -> Iterator[str]:
    """The given DSN, else ``$PGQRS_DSN``, else a throwaway local cluster for the duration.

    Args:
        log: where to say a cluster is starting (default stdout).
    """
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pgqrs", description=__doc__)
    parser.add_argument(
        "--version", action="version", version=f"pgqrs {__version__} (core: {__impl__})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="produce and consume a batch end to end")
    demo.add_argument(
        "--dsn", help=f"PostgreSQL to use (default: ${DSN_ENV}, else a throwaway one)"
    )
    demo.add_argument("--messages", type=int, default=20_000)
    demo.add_argument("--consumers", type=int, default=2)
    # The bench parses its own arguments (pgqrs bench --help): nothing of it loads for `demo`.
    commands.add_parser(
        "bench", add_help=False, help="measure pgqrs against raw psycopg, as ratios"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from .bench.cli import main as bench

        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    try:
        if args.command == "demo":
            print(f"pgqrs {__version__}, core: {__impl__}")
            with _database(args.dsn) as dsn:
                asyncio.run(_demo(dsn, args.messages, args.consumers))
    except PgqrsError as exc:
        print(f"pgqrs: error: {exc}", file=sys.stderr)
        return 1
    return 0
