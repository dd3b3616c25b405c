"""``pgqrs top [QUEUE]`` (also ``watch``): queues and their workers, refreshed live.

Each refresh takes one metrics snapshot of the queue (or of every queue) and one look at the
workers.  Throughput comes from two snapshots in a row, on the database clock: "in" is the
growth of queue + archive (messages enqueued), "out" the growth of the archive (messages
archived or dead-lettered).  Deleted messages leave no trace in either, so a queue whose
consumers delete instead of archiving shows its input lowered by what was deleted meanwhile,
and no output.

On a terminal the table is redrawn in place (rich's live display) until Ctrl-C; into a pipe or
with ``--format json`` each refresh is printed after the previous one (JSON: one document per
refresh), and ``--count N`` stops after N refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..admin import Admin
from ..types import QueueMetrics, WorkerHealth, WorkerStatus
from ._common import (
    Commands,
    Context,
    add_stale_after,
    on_signals,
    positive_int,
    positive_seconds,
)
from ._output import Column, table_of

__all__ = ["Snapshot", "register", "rows_of"]

COLUMNS = (
    Column("queue", "queue"),
    Column("pending", "pending", "count"),
    Column("in flight", "in_flight", "count"),
    Column("delayed", "delayed", "count"),
    Column("dead letters", "dead_letters", "count"),
    Column("in/s", "in_per_second"),
    Column("out/s", "out_per_second"),
    Column("oldest pending", "oldest_pending_age"),
    Column("workers ready", "workers_ready", "count"),
    Column("suspended", "workers_suspended", "count"),
    Column("stale", "workers_stale", "count"),
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One refresh: the queues' metrics and their workers."""

    taken_at: datetime
    queues: list[QueueMetrics]
    workers: list[WorkerHealth]


async def snapshot(admin: Admin, queue: str | None) -> Snapshot:
    if queue is None:
        metrics = await admin.all_queues_metrics()
    else:
        metrics = [await admin.queue_metrics(queue)]
    workers = await admin.worker_health(queue)
    return Snapshot(datetime.now(UTC), metrics, workers)


def _entered(m: QueueMetrics) -> int:
    return m.total_messages + m.archived_messages + m.dead_lettered_messages


def _left(m: QueueMetrics) -> int:
    return m.archived_messages + m.dead_lettered_messages


def _rate(
    now: QueueMetrics, before: QueueMetrics | None, count: Callable[[QueueMetrics], int]
) -> float | None:
    if before is None:
        return None
    elapsed = (now.measured_at - before.measured_at).total_seconds()
    if elapsed <= 0:
        return None
    # A purge or a queue deleted and created again shrinks the counts: no negative rates.
    return round(max(0, count(now) - count(before)) / elapsed, 1)


def rows_of(current: Snapshot, previous: Snapshot | None) -> list[dict[str, Any]]:
    """One row per queue: depth, in flight, delayed, dead letters, rates, workers."""
    before = {m.queue_id: m for m in previous.queues} if previous is not None else {}
    rows = []
    for m in current.queues:
        mine = [h for h in current.workers if h.worker.queue_id == m.queue_id]
        live = [h for h in mine if h.worker.status is not WorkerStatus.STOPPED]
        rows.append(
            {
                "queue": m.queue_name,
                "measured_at": m.measured_at,
                "pending": m.pending_messages,
                "in_flight": m.in_flight_messages,
                "delayed": m.delayed_messages,
                "dead_letters": m.dead_lettered_messages,
                "archived": m.archived_messages,
                "in_per_second": _rate(m, before.get(m.queue_id), _entered),
                "out_per_second": _rate(m, before.get(m.queue_id), _left),
                "oldest_pending_age": m.oldest_pending_age,
                "workers_ready": sum(h.worker.status is WorkerStatus.READY for h in live),
                "workers_suspended": sum(h.worker.status is WorkerStatus.SUSPENDED for h in live),
                "workers_stale": sum(h.is_stale for h in live),
            }
        )
    return rows


def _title(ctx: Context, rows: Sequence[dict[str, Any]], interval: float) -> str:
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"pgqrs top: schema {ctx.config().schema!r}, {len(rows)} queue(s), {at}, every "
        f"{interval:g} s (Ctrl-C quits)"
    )


async def top(ctx: Context) -> None:
    args = ctx.args
    count: int | None = 1 if args.once else args.count
    out = ctx.out
    stop = asyncio.Event()
    live_view = not out.json and out.stream.isatty()
    async with ctx.admin() as admin:
        # Ctrl-C (and SIGTERM) end the loop cleanly, with exit status 0.
        with on_signals(lambda _signum: stop.set()), _display(ctx, live_view) as show:
            previous: Snapshot | None = None
            refreshes = 0
            while True:
                current = await snapshot(admin, args.queue)
                show(rows_of(current, previous), args.interval)
                previous, refreshes = current, refreshes + 1
                if count is not None and refreshes >= count:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.interval)
                if stop.is_set():
                    break


@contextlib.contextmanager
def _display(ctx: Context, live_view: bool) -> Iterator[Any]:
    """A function showing one refresh: in place on a terminal, else one after the other."""
    out = ctx.out
    if out.json:

        def as_json(rows: list[dict[str, Any]], interval: float) -> None:
            out.document({"taken_at": datetime.now(UTC), "queues": rows})

        yield as_json
        return
    if not live_view:

        def as_table(rows: list[dict[str, Any]], interval: float) -> None:
            out.console.print(table_of(rows, COLUMNS, title=_title(ctx, rows, interval)))

        yield as_table
        return
    from rich.live import Live

    with Live(console=out.console, auto_refresh=False, transient=False) as live:

        def in_place(rows: list[dict[str, Any]], interval: float) -> None:
            live.update(table_of(rows, COLUMNS, title=_title(ctx, rows, interval)), refresh=True)

        yield in_place


def register(commands: Commands) -> None:
    parser = commands.add(
        "top",
        top,
        aliases=["watch"],
        help="watch queue depth, in flight, delayed, dead letters, throughput and workers live",
        description="Watch queues live: pending, in flight, delayed and dead letters, "
        "throughput in (enqueued) and out (archived or dead-lettered; deleted messages are not "
        "seen) between refreshes, the oldest pending message's wait, and the queue's workers "
        "(ready, suspended, stale). Redrawn in place on a terminal until Ctrl-C; printed one "
        "refresh after the other into a pipe, and as one JSON document per refresh with "
        "--format json.",
        example=["pgqrs top", "pgqrs top tasks --interval 5", "pgqrs top --once --format json"],
    )
    parser.add_argument("queue", metavar="QUEUE", nargs="?", help="one queue (default: all)")
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=2.0,
        metavar="S",
        help="seconds between refreshes (2)",
    )
    parser.add_argument(
        "--count", type=positive_int, metavar="N", help="stop after this many refreshes"
    )
    parser.add_argument("--once", action="store_true", help="one refresh, then exit")
    add_stale_after(parser)
