"""``pgqrs dlq list|count|replay``: dead letters, the messages delivered ``Config.max_read_ct``
times without an acknowledgement."""

from __future__ import annotations

from . import _records as records
from ._common import (
    Commands,
    Context,
    UsageError,
    add_paging,
    message_id,
)
from ._output import Column

__all__ = ["register"]

DEAD_COLUMNS = (
    Column("id", "id"),
    Column("message id", "original_msg_id"),
    Column("queue", "queue"),
    Column("read ct", "read_ct", "count"),
    Column("dead since (UTC)", "dead_lettered_at"),
    Column("reason", "dead_letter_reason"),
    Column("payload", "payload", "json"),
)


async def list_dead(ctx: Context) -> None:
    args = ctx.args
    async with ctx.admin() as admin:
        found = await admin.get_archive().list(
            queue=args.queue, dead_letters=True, limit=args.limit, offset=args.offset
        )
        names = await records.queue_names(admin)
    rows = [records.archived(a) | {"queue": names.get(a.queue_id)} for a in found]
    ctx.out.listing(rows, DEAD_COLUMNS)


async def count(ctx: Context) -> None:
    queue = ctx.args.queue
    async with ctx.admin() as admin:
        total = await admin.get_archive().count(queue=queue, dead_letters=True)
    where = f" in {queue!r}" if queue is not None else ""
    ctx.out.document({"queue": queue, "dead_letters": total}, f"{total:,} dead letters{where}")


async def replay(ctx: Context) -> None:
    args = ctx.args
    if args.ids and (args.all or args.queue):
        raise UsageError("give archive IDs, or --queue Q --all, not both")
    if not args.ids and not (args.all and args.queue):
        raise UsageError("give the archive IDs to replay, or --queue Q --all")
    async with ctx.admin() as admin:
        if args.ids:
            new_ids = await admin.replay(args.ids)
            ctx.out.document(
                {"replayed": len(new_ids), "archive_ids": args.ids, "new_ids": new_ids},
                f"replayed {len(new_ids)} dead letters as messages "
                + ", ".join(str(i) for i in new_ids),
            )
            return
        replayed = await admin.replay_queue(args.queue)
    ctx.out.document(
        {"queue": args.queue, "replayed": replayed},
        f"replayed {replayed:,} dead letters of {args.queue!r} as fresh messages",
    )


def register(commands: Commands) -> None:
    dlq = commands.group("dlq", help="list, count and replay dead letters")
    parser = dlq.add(
        "list",
        list_dead,
        help="list dead letters (of QUEUE, or of every queue)",
        description="List dead letters: messages delivered Config.max_read_ct times without "
        "an acknowledgement, moved to the archive. The id column is the archive id that "
        "`pgqrs dlq replay` takes.",
        example=["pgqrs dlq list", "pgqrs dlq list tasks --format json"],
    )
    parser.add_argument("queue", metavar="QUEUE", nargs="?", help="one queue (default: all)")
    add_paging(parser)

    parser = dlq.add(
        "count",
        count,
        help="count dead letters (of QUEUE, or of every queue)",
        example=["pgqrs dlq count", "pgqrs dlq count tasks --format json"],
    )
    parser.add_argument("queue", metavar="QUEUE", nargs="?", help="one queue (default: all)")

    parser = dlq.add(
        "replay",
        replay,
        help="put dead letters back on their queues as fresh messages",
        description="Put dead letters back on their queues as fresh messages (new ids, read "
        "count 0, visible now): the given archive IDs, all or nothing, or every dead letter "
        "of a queue with --queue Q --all.",
        example=["pgqrs dlq replay 3 4 5", "pgqrs dlq replay --queue tasks --all"],
    )
    parser.add_argument("ids", metavar="ID", nargs="*", type=message_id, help="archive ids")
    parser.add_argument("--queue", help="with --all: the queue whose dead letters to replay")
    parser.add_argument("--all", action="store_true", help="every dead letter of --queue")
