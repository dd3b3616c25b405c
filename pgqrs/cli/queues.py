"""``pgqrs queue create|archive|list|metrics|purge|delete``."""

from __future__ import annotations

from ..errors import QueueAlreadyExistsError
from . import _records as records
from ._common import Commands, Context
from ._output import Column

__all__ = ["register"]

QUEUE_COLUMNS = (
    Column("id", "id"),
    Column("queue", "queue_name"),
    Column("created (UTC)", "created_at"),
    Column("archive", "keep_archive"),
)

METRICS_COLUMNS = (
    Column("queue", "queue_name"),
    Column("total", "total_messages", "count"),
    Column("pending", "pending_messages", "count"),
    Column("in flight", "in_flight_messages", "count"),
    Column("delayed", "delayed_messages", "count"),
    Column("archived", "archived_messages", "count"),
    Column("dead letters", "dead_lettered_messages", "count"),
    Column("oldest pending", "oldest_pending_age"),
)


async def create(ctx: Context) -> None:
    name = ctx.args.name
    async with ctx.admin() as admin:
        try:
            info, created = await admin.create_queue(name, keep_archive=ctx.args.archive), True
        except QueueAlreadyExistsError:
            if not ctx.args.exist_ok:
                raise
            info, created = await admin.get_queue(name), False
    done = "created queue" if created else "queue already exists:"
    ctx.out.document(
        records.queue(info) | {"created": created}, f"{done} {info.queue_name!r} (id {info.id})"
    )


async def set_archive(ctx: Context) -> None:
    name, keep = ctx.args.name, ctx.args.keep == "on"
    async with ctx.admin() as admin:
        await admin.set_keep_archive(name, keep)
    what = "archived" if keep else "deleted, not archived"
    ctx.out.document(
        {"queue": name, "keep_archive": keep},
        f"queue {name!r}: acknowledged messages are {what}",
    )


async def list_queues(ctx: Context) -> None:
    async with ctx.admin() as admin:
        found = await records.all_queues(admin)
    ctx.out.listing([records.queue(q) for q in found], QUEUE_COLUMNS)


async def metrics(ctx: Context) -> None:
    async with ctx.admin() as admin:
        if ctx.args.name is None:
            every = await admin.all_queues_metrics()
            ctx.out.listing([records.metrics(m) for m in every], METRICS_COLUMNS)
        else:
            ctx.out.document(records.metrics(await admin.queue_metrics(ctx.args.name)))
        await ctx.health_warnings(admin)


async def purge(ctx: Context) -> None:
    name = ctx.args.name
    async with ctx.admin() as admin:
        deleted = await admin.purge_queue(name)
    ctx.out.document(
        {"queue": name, "deleted_messages": deleted},
        f"purged queue {name!r}: {deleted:,} messages deleted (its archive stays)",
    )


async def delete(ctx: Context) -> None:
    name = ctx.args.name
    async with ctx.admin() as admin:
        await admin.delete_queue(name)
    ctx.out.document(
        {"queue": name, "deleted": True},
        f"deleted queue {name!r} with its messages and archive",
    )


def register(commands: Commands) -> None:
    queue = commands.group(
        "queue",
        help="create, list, measure, purge and delete queues, and choose whether they archive",
    )
    parser = queue.add(
        "create",
        create,
        help="create a queue",
        description="Create a queue. With --no-archive, acknowledging a message deletes it "
        "instead of archiving it (dead letters are kept either way); `pgqrs queue archive` "
        "changes that later.",
        example=[
            "pgqrs queue create tasks",
            "pgqrs queue create tasks --exist-ok",
            "pgqrs queue create events --no-archive",
        ],
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument(
        "--exist-ok", action="store_true", help="succeed when the queue exists already"
    )
    parser.add_argument(
        "--no-archive",
        dest="archive",
        action="store_false",
        help="acknowledged messages are deleted, not archived",
    )
    parser = queue.add(
        "archive",
        set_archive,
        help="keep acknowledged messages of a queue in the archive (on), or delete them (off)",
        example=["pgqrs queue archive events off", "pgqrs queue archive events on"],
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("keep", metavar="on|off", choices=["on", "off"])
    queue.add(
        "list",
        list_queues,
        help="list every queue",
        example=["pgqrs queue list", "pgqrs queue list --format json"],
    )
    parser = queue.add(
        "metrics",
        metrics,
        help="message counts of one queue, or of every queue",
        description="Message counts of one queue, or of every queue without NAME: total = "
        "pending (visible now) + in flight (leased) + delayed; archived and dead letters; and "
        "how long the oldest pending message has waited. One statement, one snapshot.",
        example=["pgqrs queue metrics", "pgqrs queue metrics tasks --format json"],
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="one queue (default: every queue)")
    parser = queue.add(
        "purge",
        purge,
        help="delete every message of a queue (pending, leased, delayed); the archive stays",
        example="pgqrs queue purge tasks",
    )
    parser.add_argument("name", metavar="NAME")
    parser = queue.add(
        "delete",
        delete,
        help="delete a queue with its messages and archive",
        example="pgqrs queue delete tasks",
    )
    parser.add_argument("name", metavar="NAME")
