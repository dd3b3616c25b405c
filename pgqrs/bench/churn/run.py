"""One churn run: start the consume loops, offer messages for ``settings.minutes``, let the
consumers drain what is left, and record every interval on the way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg import sql

from ...admin import Admin
from ..schema import BenchSchema, connect
from .load import Counters, consume, hold_horizon, offer
from .sample import Interval, Sampler, Sizes
from .settings import ChurnSettings

__all__ = ["ChurnRun", "run_churn"]

#: How long after an interval ends its archive rows are read: an archive statement that started
#: before the boundary commits within milliseconds; this leaves it a second.
COMMIT_SLACK = 1.0
#: An interval counts as held when the holder was open for at least this share of it.
HELD_SHARE = 0.1


@dataclass
class ChurnRun:
    """What one churn run measured."""

    settings: ChurnSettings
    intervals: list[Interval]
    enqueued: int
    archived: int
    remaining: int
    dead_letters: int
    #: Seconds into the run the holder was open (``None``: no holder).
    holder_open: tuple[float, float] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    command: str = ""

    @property
    def lost(self) -> int:
        """Messages accepted by a producer and neither archived, dead-lettered nor still queued."""
        return self.enqueued - self.archived - self.remaining - self.dead_letters


async def run_churn(
    dsn: str,
    settings: ChurnSettings,
    progress: Callable[[str], None] | None = None,
) -> ChurnRun:
    """Run the churn benchmark against ``dsn`` in a schema of its own (dropped afterwards)."""
    say = progress or (lambda _line: None)
    schema = BenchSchema(dsn, "churn")
    await schema.create()
    try:
        if settings.archive_retention is not None:
            async with Admin(dsn, schema=schema.name) as admin:
                await admin.set_retention(archive=settings.archive_retention)
        if settings.storage:
            options = sql.SQL(", ").join(
                sql.SQL("{} = {}").format(
                    sql.Identifier(name), sql.Literal(int(value) if value.is_integer() else value)
                )
                for name, value in settings.storage
            )
            table = sql.Identifier(schema.name, "pgqrs_messages")
            await schema.execute(sql.SQL("ALTER TABLE {} SET ({})").format(table, options))
        return await _Run(dsn, schema, settings, say).run()
    finally:
        await schema.drop()


class _Run:
    def __init__(
        self, dsn: str, schema: BenchSchema, settings: ChurnSettings, say: Callable[[str], None]
    ) -> None:
        self.dsn, self.schema, self.settings, self.say = dsn, schema, settings, say
        self.sampler = Sampler(dsn, schema.name, schema.queue_id)
        self.counters = Counters()
        #: When the holder opened and closed (``time.perf_counter()``), set by the holder.
        self.holder: dict[str, float] = {}
        self.intervals: list[Interval] = []

    async def run(self) -> ChurnRun:
        settings, counters = self.settings, self.counters
        producing, consuming = asyncio.Event(), asyncio.Event()
        consumers = [
            asyncio.create_task(consume(self.schema, settings, counters, consuming))
            for _ in range(settings.consumers)
        ]
        self.started = time.perf_counter()
        boundary = await self.sampler.sizes()
        producers = [
            asyncio.create_task(offer(self.schema, settings, counters, producing))
            for _ in range(settings.producers)
        ]
        holders = []
        if settings.holder:
            opens, closes = settings.holder_window
            window = (self.started + opens * 60, self.started + closes * 60)
            holders.append(asyncio.create_task(hold_horizon(self.dsn, *window, self.holder)))
        try:
            for number in range(settings.intervals):
                boundary = await self._interval(number, boundary, offering=True)
            producing.set()
            await asyncio.gather(*producers)
            deadline = time.perf_counter() + settings.drain_seconds
            number = settings.intervals
            while counters.handled < counters.enqueued and time.perf_counter() < deadline:
                boundary = await self._interval(number, boundary, offering=False, until=deadline)
                number += 1
        finally:
            producing.set()
            consuming.set()
            for task in holders:
                task.cancel()  # if the run ended early
            results = await asyncio.gather(*producers, *consumers, *holders, return_exceptions=True)
        try:
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                raise errors[0]
            # The consume loops acknowledge in the background: what they archived after the last
            # boundary counts in the last interval.
            final = await self.sampler.sizes()
            late, _, _ = await self.sampler.archived(boundary.at, final.at)
            self.intervals[-1].archived += late
        finally:
            await self.sampler.close()
        remaining, dead = await self._leftovers()
        return ChurnRun(
            settings=settings,
            intervals=self.intervals,
            enqueued=counters.enqueued,
            archived=sum(i.archived for i in self.intervals),
            remaining=remaining,
            dead_letters=dead,
            holder_open=self._holder_window(),
        )

    def _holder_window(self) -> tuple[float, float] | None:
        """Seconds into the run the holder was open, as it happened."""
        opened, closed = self.holder.get("opened_at"), self.holder.get("closed_at")
        if opened is None:
            return None
        return opened - self.started, (time.perf_counter() if closed is None else closed) - (
            self.started
        )

    def _held_during(self, start: float, stop: float) -> bool:
        """Whether the holder was open for a tenth of the interval or more."""
        opened, closed = self.holder.get("opened_at"), self.holder.get("closed_at")
        if opened is None:
            return False
        overlap = min(stop, time.perf_counter() if closed is None else closed) - max(start, opened)
        return overlap >= HELD_SHARE * (stop - start)

    async def _interval(
        self, number: int, previous: Sizes, *, offering: bool, until: float | None = None
    ) -> Sizes:
        """Wait for the interval's end (or, while draining, for the queue to empty), then
        record it; returns the sizes at its end."""
        settings, counters = self.settings, self.counters
        start = self.started + number * settings.interval
        end = start + settings.interval
        enqueued, handled = counters.enqueued, counters.handled
        while (now := time.perf_counter()) < end:
            if not offering and counters.handled >= counters.enqueued:
                break
            if until is not None and now >= until:
                break
            await asyncio.sleep(min(0.25, end - now))
        stop = time.perf_counter()
        sizes = await self.sampler.sizes()
        await asyncio.sleep(COMMIT_SLACK)
        archived, p50, p99 = await self.sampler.archived(previous.at, sizes.at)
        interval = Interval(
            number=number,
            start=start - self.started,
            seconds=stop - start,
            enqueued=counters.enqueued - enqueued,
            handled=counters.handled - handled,
            archived=archived,
            p50=p50,
            p99=p99,
            backlog=counters.enqueued - counters.handled,
            holder=self._held_during(start, stop),
            sizes=sizes,
            offering=offering,
        )
        self.intervals.append(interval)
        self.say(_progress_line(interval))
        return sizes

    async def _leftovers(self) -> tuple[int, int]:
        """Messages still queued, and dead letters, once the run is over."""
        messages = sql.Identifier(self.schema.name, "pgqrs_messages")
        archive = sql.Identifier(self.schema.name, "pgqrs_archive")
        query = sql.SQL(
            "SELECT (SELECT count(*) FROM {} WHERE queue_id = %(q)s),"
            " (SELECT count(*) FROM {} WHERE queue_id = %(q)s AND dead_lettered_at IS NOT NULL)"
        ).format(messages, archive)
        async with await connect(self.dsn) as conn:
            row = await (await conn.execute(query, {"q": self.schema.queue_id})).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def _progress_line(i: Interval) -> str:
    latency = ""
    if i.p50 is not None and i.p99 is not None:
        latency = f", p50 {i.p50 * 1e3:.0f} ms p99 {i.p99 * 1e3:.0f} ms"
    holder = ", holder open" if i.holder else ""
    phase = "" if i.offering else " (draining)"
    return (
        f"  interval {i.number + 1}{phase}: in {i.rate_in:,.0f}/s, out {i.rate_out:,.0f}/s"
        f"{latency}, backlog {i.backlog:,}, heap {i.sizes.heap_bytes / 2**20:.0f} MB, "
        f"indexes {i.sizes.index_bytes / 2**20:.0f} MB, dead {i.sizes.dead_tuples:,}, "
        f"archive {i.sizes.archive_bytes / 2**20:.0f} MB{holder}"
    )
