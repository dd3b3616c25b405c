"""The load of a churn run: producers at an offered rate, consume loops, and the horizon
holder."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from psycopg import AsyncConnection

from ..schema import BenchSchema, make_payloads
from .settings import ChurnSettings

__all__ = ["Counters", "consume", "hold_horizon", "offer"]


class Counters:
    """Messages the producers had accepted and the handlers had seen, as the run goes."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.handled = 0


async def offer(
    schema: BenchSchema, settings: ChurnSettings, counters: Counters, stop: asyncio.Event
) -> None:
    """One producer: ``enqueue_batch`` of ``settings.batch`` messages every
    ``settings.period`` seconds until ``stop`` is set.  Open loop: the schedule is fixed, so a
    producer that fell behind sends at once until it catches up."""
    producer = schema.producer("churn-producer")
    period, batch = settings.period, settings.batch
    payloads = make_payloads(batch)
    due = time.perf_counter()
    while not stop.is_set():
        ids = await producer.enqueue_batch(payloads)
        counters.enqueued += len(ids)
        due += period
        delay = due - time.perf_counter()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def consume(
    schema: BenchSchema, settings: ChurnSettings, counters: Counters, stop: asyncio.Event
) -> None:
    """One ``Consumer.consume`` loop (a handler that only counts) until ``stop`` is set."""
    consumer = schema.consumer("churn-consumer")

    async def handler(message: Any) -> None:
        counters.handled += 1

    await consumer.consume(handler, batch_size=settings.consumer_batch, stop=stop)


async def hold_horizon(dsn: str, opens: float, closes: float, state: dict[str, float]) -> None:
    """Between ``opens`` and ``closes`` (``time.perf_counter()`` values) keep a transaction open
    that holds back vacuum: ``REPEATABLE READ`` with one read, then idle, as an analytics query
    or a forgotten session would; ``state`` records when it really opened and closed.  It reads
    a catalog, not a pgqrs table, so it takes no lock on pgqrs's tables (a holder that also
    reads them is covered in docs/retention.md)."""
    await asyncio.sleep(max(0.0, opens - time.perf_counter()))
    conn = await AsyncConnection.connect(dsn)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await conn.execute("SELECT count(*) FROM pg_catalog.pg_class")
        state["opened_at"] = time.perf_counter()
        await asyncio.sleep(max(0.0, closes - time.perf_counter()))
        await conn.rollback()
    finally:
        if "opened_at" in state:
            state["closed_at"] = time.perf_counter()
        await conn.close()
