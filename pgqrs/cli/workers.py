"""``pgqrs worker list|health|stats|release|reclaim|suspend|resume|purge``."""

from __future__ import annotations

from . import _records as records
from ._common import (
    Commands,
    Context,
    add_paging,
    add_stale_after,
    seconds,
    worker_id,
)
from ._output import Column

__all__ = ["register"]

WORKER_COLUMNS = (
    Column("id", "id"),
    Column("kind", "kind"),
    Column("hostname", "hostname"),
    Column("port", "port"),
    Column("queue", "queue"),
    Column("status", "status"),
    Column("process", "process"),
    Column("heartbeat (UTC)", "heartbeat_at"),
)

HEALTH_COLUMNS = (
    Column("id", "id"),
    Column("kind", "kind"),
    Column("hostname", "hostname"),
    Column("port", "port"),
    Column("queue", "queue"),
    Column("status", "status"),
    Column("heartbeat age", "heartbeat_age"),
    Column("stale", "is_stale"),
    Column("leased", "leased_messages", "count"),
)


def _with_process(record: records.Record) -> records.Record:
    host, pid = record.get("process_host"), record.get("process_id")
    return record | {"process": None if pid is None else f"{host}:{pid}"}


async def list_workers(ctx: Context) -> None:
    args = ctx.args
    async with ctx.admin() as admin:
        found = await admin.get_workers().list(
            queue=args.queue, status=args.status, limit=args.limit, offset=args.offset
        )
        names = await records.queue_names(admin)
    rows = [_with_process(records.worker(w, names)) for w in found]
    if ctx.out.json:
        rows = [{k: v for k, v in row.items() if k != "process"} for row in rows]
    ctx.out.listing(rows, WORKER_COLUMNS)


async def health(ctx: Context) -> None:
    async with ctx.admin() as admin:
        found = await admin.worker_health(ctx.args.queue)
        names = await records.queue_names(admin)
        ctx.out.listing([records.health(h, names) for h in found], HEALTH_COLUMNS)
        await ctx.health_warnings(admin)


async def stats(ctx: Context) -> None:
    async with ctx.admin() as admin:
        counts = await admin.worker_stats(ctx.args.queue)
    ctx.out.document({"queue": ctx.args.queue} | records.stats(counts))


async def release(ctx: Context) -> None:
    worker = ctx.args.id
    async with ctx.admin() as admin:
        released = await admin.release_worker_messages(worker)
    ctx.out.document(
        {"worker_id": worker, "released_messages": released},
        f"released {released:,} leased messages of worker {worker}: visible again now",
    )


async def reclaim(ctx: Context) -> None:
    queue = ctx.args.queue
    async with ctx.admin() as admin:
        done = await admin.reclaim_stale_workers(queue)
    ids = ", ".join(str(i) for i in done.worker_ids) or "none"
    ctx.out.document(
        {
            "queue": queue,
            "worker_ids": done.worker_ids,
            "released_messages": done.released_messages,
        },
        f"reclaimed {len(done.worker_ids)} stale workers of {queue!r} (ids: {ids}), "
        f"released {done.released_messages:,} messages",
    )


async def set_status(ctx: Context) -> None:
    worker, suspend = ctx.args.id, ctx.args.suspend
    async with ctx.admin() as admin:
        await (admin.suspend_worker if suspend else admin.resume_worker)(worker)
    ctx.out.document(
        {"worker_id": worker, "status": "suspended" if suspend else "ready"},
        f"worker {worker} {'suspended' if suspend else 'resumed'} (it notices at its next "
        "heartbeat)",
    )


async def purge(ctx: Context) -> None:
    older = ctx.args.older_than
    async with ctx.admin() as admin:
        deleted = await admin.purge_stopped_workers(older)
    ctx.out.document(
        {"older_than_seconds": older, "deleted_workers": deleted},
        f"deleted {deleted:,} worker rows stopped more than {older:g} s ago",
    )


def register(commands: Commands) -> None:
    worker = commands.group("worker", help="watch and manage producers and consumers")
    parser = worker.add(
        "list",
        list_workers,
        help="list worker rows (producers and consumers)",
        example=["pgqrs worker list --queue tasks", "pgqrs worker list --status ready"],
    )
    parser.add_argument("--queue", help="only this queue's workers")
    parser.add_argument("--status", choices=("ready", "suspended", "stopped"))
    add_paging(parser)

    parser = worker.add(
        "health",
        health,
        help="every worker with its heartbeat age, staleness and leased messages",
        description="Every worker (of --queue, or all) with its heartbeat age, whether it is "
        "stale (not stopped, no heartbeat within Config.stale_after: its process is probably "
        "gone) and how many messages it holds leased.",
        example=["pgqrs worker health", "pgqrs worker health --queue tasks --format json"],
    )
    parser.add_argument("--queue", help="only this queue's workers")
    add_stale_after(parser)

    parser = worker.add(
        "stats",
        stats,
        help="worker counts per status, and how many are stale",
        example="pgqrs worker stats --queue tasks",
    )
    parser.add_argument("--queue", help="only this queue's workers")
    add_stale_after(parser)

    parser = worker.add(
        "release",
        release,
        help="make the messages a (dead) worker holds leased visible again now",
        example="pgqrs worker release 12",
    )
    parser.add_argument("id", metavar="ID", type=worker_id)

    parser = worker.add(
        "reclaim",
        reclaim,
        help="stop a queue's stale workers and release their leased messages",
        example=["pgqrs worker reclaim tasks", "pgqrs worker reclaim tasks --stale-after 300"],
    )
    parser.add_argument("queue", metavar="QUEUE")
    add_stale_after(parser)

    for verb, help in (
        ("suspend", "suspend a worker: a consumer stops dequeuing until resumed"),
        ("resume", "resume a suspended worker"),
    ):
        parser = worker.add(verb, set_status, help=help, example=f"pgqrs worker {verb} 12")
        parser.add_argument("id", metavar="ID", type=worker_id)
        parser.set_defaults(suspend=verb == "suspend")

    parser = worker.add(
        "purge",
        purge,
        help="delete the rows of workers stopped more than --older-than seconds ago",
        example="pgqrs worker purge --older-than 86400",
    )
    parser.add_argument(
        "--older-than", type=seconds, required=True, metavar="S", help="seconds since stopped"
    )
