"""``pgqrs maintenance health|retention|prune|run|reindex``: what keeps a queue fast and its
archive bounded for months, for operators and cron (producers and consumers also run the
maintenance step by themselves, see ``Config.maintenance``)."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta
from typing import Any

from ..health import Health
from ..retention import MaintenanceRun, PruneResult, Retention
from ._common import CommandError, Commands, Context, UsageError
from ._output import Column

__all__ = ["register"]

TABLE_COLUMNS = (
    Column("table", "name"),
    Column("heap MB", "heap_mb"),
    Column("index MB", "index_mb"),
    Column("live tuples", "live_tuples", "count"),
    Column("dead tuples", "dead_tuples", "count"),
    Column("last autovacuum (UTC)", "last_autovacuum"),
    Column("last vacuum (UTC)", "last_vacuum"),
)

HORIZON_COLUMNS = (
    Column("holds back vacuum", "kind"),
    Column("pid", "pid"),
    Column("name", "name"),
    Column("state", "state"),
    Column("open s", "seconds"),
    Column("xid age", "xid_age", "count"),
)

FOREVER = "forever"


def window(text: str) -> float | None:
    """A retention window on the command line: seconds, or ``forever``."""
    if text.strip().lower() == FOREVER:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"a window is a positive number of seconds or {FOREVER!r}, not {text!r}")
    return value


def _shown(span: timedelta | None) -> str:
    if span is None:
        return FOREVER
    seconds = span.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds / size
            return f"{count:g} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} s"


def retention_record(kept: Retention) -> dict[str, Any]:
    return dataclasses.asdict(kept) | {"period": kept.period}


def _retention_text(kept: Retention) -> str:
    due = "never" if kept.next_rotation_at is None else f"{kept.next_rotation_at:%Y-%m-%d %H:%M:%S}"
    return (
        f"archive kept {_shown(kept.archive)}, dead letters kept {_shown(kept.dead_letters)}; "
        f"current slot {kept.current_slot}, next rotation {due} (UTC)"
    )


def _prune_text(done: PruneResult) -> str:
    if done.blocked:
        return "a rotation was due, but a reader held the oldest archive slot: try again later"
    if done.truncated_slot is None:
        text = "no rotation due"
    else:
        text = (
            f"truncated archive slot {done.truncated_slot} "
            f"(kept {done.dead_letters_kept:,} dead letters still within their window)"
        )
    return text + f"; {done.dead_letters_deleted:,} dead letters past their window deleted"


async def health(ctx: Context) -> None:
    async with ctx.admin() as admin:
        state: Health = await admin.health()
    tables = [
        dataclasses.asdict(t) | {"heap_mb": t.heap_bytes / 2**20, "index_mb": t.index_bytes / 2**20}
        for t in state.tables.values()
    ]
    holders = [dataclasses.asdict(h) for h in state.horizon]
    if ctx.out.json:
        ctx.out.document(
            {
                "measured_at": state.measured_at,
                "tables": tables,
                "horizon": holders,
                "horizon_seconds": state.horizon_seconds,
                "retention": retention_record(state.retention),
                "warnings": state.warnings,
            }
        )
    else:
        from ._output import table_of

        ctx.out.console.print(table_of(tables, TABLE_COLUMNS))
        if holders:
            ctx.out.console.print(table_of(holders, HORIZON_COLUMNS))
        else:
            ctx.out.line("nothing holds back vacuum")
        ctx.out.line(_retention_text(state.retention))
        for warning in state.warnings:
            ctx.out.line(f"warning: {warning}")
    if ctx.args.check and state.warnings:
        count = len(state.warnings)
        raise CommandError(f"{count} health warning{'' if count == 1 else 's'} (see above)")


async def retention(ctx: Context) -> None:
    args = ctx.args
    changes: dict[str, float | None] = {}
    if args.archive is not None:
        changes["archive"] = window(args.archive)
    if args.dead_letters is not None:
        changes["dead_letters"] = window(args.dead_letters)
    async with ctx.admin() as admin:
        kept = await (admin.set_retention(**changes) if changes else admin.retention())
    ctx.out.document(retention_record(kept), _retention_text(kept))


async def prune(ctx: Context) -> None:
    async with ctx.admin() as admin:
        done = await admin.prune()
    ctx.out.document(dataclasses.asdict(done), _prune_text(done))


async def run(ctx: Context) -> None:
    async with ctx.admin() as admin:
        done: MaintenanceRun = await admin.maintain()
    if not done.ran:
        text = "another process is running the maintenance step: nothing done"
    else:
        rebuilt = "; the live table's indexes rebuilt" if done.rebuilt_indexes else ""
        text = _prune_text(done.prune) + rebuilt
    ctx.out.document(dataclasses.asdict(done), text)


async def reindex(ctx: Context) -> None:
    async with ctx.admin() as admin:
        await admin.rebuild_indexes()
    ctx.out.document({"rebuilt_indexes": True}, "rebuilt the live table's indexes (CONCURRENTLY)")


def register(commands: Commands) -> None:
    group = commands.group(
        "maintenance", help="health of the pgqrs tables, retention, pruning and reindexing"
    )
    parser = group.add(
        "health",
        health,
        help="sizes, dead tuples and vacuums of the pgqrs tables, and what holds back vacuum",
        description="Sizes, dead tuples and last (auto)vacuum of each pgqrs table, every "
        "transaction, replica or replication slot holding back vacuum in the cluster, the "
        "retention, and the warnings they add up to (docs/operations.md says what to do about "
        "each). With --check, warnings make the exit status 1 (for monitoring).",
        example=["pgqrs maintenance health", "pgqrs maintenance health --check --format json"],
    )
    parser.add_argument(
        "--check", action="store_true", help="exit status 1 when there are warnings"
    )
    parser = group.add(
        "retention",
        retention,
        help="show or set how long the archive keeps acknowledged messages and dead letters",
        description="Show the archive's retention windows and rotation; with --archive or "
        "--dead-letters, set them first (seconds, or 'forever'). A shorter window takes effect "
        "over the next rotations: nothing is deleted at once.",
        example=[
            "pgqrs maintenance retention",
            "pgqrs maintenance retention --archive 86400 --dead-letters 1209600",
        ],
    )
    parser.add_argument("--archive", metavar="SECONDS", help="window of acknowledged messages")
    parser.add_argument("--dead-letters", metavar="SECONDS", help="window of dead letters")
    group.add(
        "prune",
        prune,
        help="prune the archive now if its rotation is due (for cron)",
        description="Run the retention step now: truncate the archive's oldest slot if its "
        "rotation is due (dead letters still within their window are kept) and delete dead "
        "letters past their window. Never blocks enqueue, dequeue or acknowledgements.",
        example=["pgqrs maintenance prune", "*/10 * * * * pgqrs maintenance prune"],
    )
    group.add(
        "run",
        run,
        help="run the whole maintenance step now, unless another process is running it",
        description="Run the whole maintenance step now (the one producers and consumers run "
        "after heartbeats): the retention step, and once a held vacuum horizon that bloated "
        "the live table's indexes is gone, their rebuild.",
        example="pgqrs maintenance run",
    )
    group.add(
        "reindex",
        reindex,
        help="rebuild the live table's indexes (REINDEX CONCURRENTLY)",
        example="pgqrs maintenance reindex",
    )
