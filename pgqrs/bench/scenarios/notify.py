"""Waking idle consume loops: what ``Config.notify`` costs producers, and how long an idle
consume loop takes to see a new message with LISTEN/NOTIFY and with polling alone."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from ...config import Config
from ..harness import Latencies, Probe, Progress, Scenario, Target, percentile
from ..schema import BenchSchema
from .enqueue import PgqrsEnqueue

__all__ = ["NOTIFY_TARGET", "WakeupProbe", "notify_scenario", "wakeup_latencies"]

# Config.notify could be on by default only if single enqueue kept at least 95% with it.
NOTIFY_TARGET = Target(0.95, "≥ 0.95")


def notify_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """What ``Config.notify`` costs: the same enqueues with and without the NOTIFY that wakes
    consume loops (a commit-time lock serialises notifying transactions); ``batch`` 1 means
    single ``enqueue`` calls, more means ``enqueue_batch``."""
    schema = BenchSchema(dsn, f"notify{batch}")
    single = batch == 1
    what = "enqueue (one message)" if single else f"enqueue_batch, {batch:,}/batch"

    def side(notify: bool) -> PgqrsEnqueue:
        return PgqrsEnqueue(
            schema,
            batch=None if single else batch,
            messages=messages,
            label="NOTIFY on" if notify else "NOTIFY off",
            config=Config(notify=notify),
        )

    return Scenario(
        key=f"notify@{batch}",
        title=f"{what}, NOTIFY on vs off",
        pgqrs=side(True),
        baseline=side(False),
        target=NOTIFY_TARGET if single else None,
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
    producer = schema.producer("bench-wake", config)
    consumer = schema.consumer("bench-wake", config)
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
        await schema.drop()
    return latencies


class WakeupProbe(Probe):
    """:func:`wakeup_latencies` with LISTEN/NOTIFY, then with polling only (``poll_interval``
    1 s, the default), ``samples`` each."""

    def __init__(self, dsn: str, samples: int, idle: float) -> None:
        self.dsn, self.samples, self.idle = dsn, samples, idle
        self.key = "wakeup"
        self.title = "wake-up of an idle consume loop (enqueue returning -> handler starting)"

    async def measure(self, progress: Progress | None = None) -> Latencies:
        found: dict[str, list[float]] = {}
        variants = (
            ("LISTEN/NOTIFY (Config(notify=True))", True),
            ("polling (poll_interval 1 s)", False),
        )
        for label, listen in variants:
            found[label] = await wakeup_latencies(
                self.dsn, self.samples, listen=listen, idle=self.idle
            )
            if progress is not None:
                p50, p99 = percentile(found[label], 0.5), percentile(found[label], 0.99)
                progress(f"  {label}: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        gap = f"{self.idle:g}-{4 * self.idle:g} s"
        return Latencies(
            self.key,
            self.title,
            found,
            note=f"{self.samples} samples per row, each after a random idle gap of {gap}.",
        )
