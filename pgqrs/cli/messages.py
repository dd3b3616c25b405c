"""``pgqrs message enqueue|list|get|dequeue|archive|delete|release``.

The commands that produce or acknowledge act as a worker, by default the host's operator
identity (``pgqrs-cli@HOST``, port 1; see ``_common.OPERATOR_HOSTNAME``).  They follow the
API's lease rule: only the lease holder may acknowledge a leased message, so a message leased
by another live worker is refused (and the command says by whom and until when).  Messages
leased with ``pgqrs message dequeue`` are held by that same operator identity, so the next
``pgqrs message archive|delete|release`` of them succeeds.  A stuck worker's messages are
freed with ``pgqrs worker release ID`` or ``pgqrs worker reclaim QUEUE``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import orjson

from ..admin import Admin
from ..errors import MessageNotFoundError
from . import _records as records
from ._common import (
    OPERATOR_HOSTNAME,
    OPERATOR_PORT,
    CommandError,
    Commands,
    Context,
    Parser,
    UsageError,
    add_identity,
    add_paging,
    message_id,
    positive_int,
    seconds,
)
from ._output import Column
from .load import DEFAULT_BATCH, Batch, Progress, load

__all__ = ["register"]

MESSAGE_COLUMNS = (
    Column("id", "id"),
    Column("read ct", "read_ct", "count"),
    Column("enqueued (UTC)", "enqueued_at"),
    Column("visible at (UTC)", "vt"),
    Column("leased by", "consumer_worker_id"),
    Column("payload", "payload", "json"),
)

ACK_COLUMNS = (Column("id", "id"), Column("result", "result"))

#: Past tense of each acknowledgement, for its output.
DONE = {"archive": "archived", "delete": "deleted", "release": "released"}


async def enqueue(ctx: Context) -> None:
    args = ctx.args
    if (args.payload is None) == (args.file is None):
        raise UsageError("give one JSON payload or --file PATH|- (not both)")
    if args.file is not None:
        await _enqueue_file(ctx)
        return
    try:
        payload = orjson.loads(args.payload)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"the payload is not valid JSON: {exc}") from None
    async with ctx.producer(args.queue) as producer:
        if args.delay:
            new_id = await producer.enqueue_delayed(payload, args.delay)
        else:
            new_id = await producer.enqueue(payload)
    later = f", visible in {args.delay:g} s" if args.delay else ""
    ctx.out.document(
        {"queue": args.queue, "id": new_id, "delay_seconds": args.delay},
        f"enqueued message {new_id} on {args.queue!r}{later}",
    )


@contextlib.contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115  # closed below, also when reading fails
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    with stream:
        yield stream


async def _enqueue_file(ctx: Context) -> None:
    args = ctx.args
    with _opened(args.file) as stream, _progress_bar(stream) as progress:
        async with ctx.producer(args.queue) as producer:
            done = await load(
                producer,
                stream,
                batch_size=args.batch_size,
                delay_seconds=args.delay,
                progress=progress,
            )
    source = "stdin" if args.file == "-" else args.file
    ctx.out.document(
        {
            "queue": args.queue,
            "messages": done.messages,
            "lines": done.lines,
            "seconds": round(done.seconds, 6),
            "messages_per_second": round(done.rate, 1),
        },
        f"enqueued {done.messages:,} messages on {args.queue!r} from {source} "
        f"({done.lines:,} lines) in {done.seconds:.2f} s ({done.rate:,.0f} msg/s)",
    )


@contextlib.contextmanager
def _progress_bar(stream: IO[bytes]) -> Iterator[Progress | None]:
    """A progress bar on stderr while loading, when stderr is a terminal (none in a pipe)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    total = _file_size(stream)  # a file: a bar over its bytes; a pipe: counts only
    columns: list[Any] = [TextColumn("enqueued {task.fields[messages]:,} messages")]
    if total is not None:
        columns += [BarColumn(), DownloadColumn()]
    columns += [TextColumn("{task.fields[rate]:,.0f} msg/s"), TimeElapsedColumn()]
    with Bar(*columns, console=_stderr_console(), transient=False) as bar:
        task = bar.add_task("load", total=total, messages=0, rate=0.0)

        def update(loaded: int, batch: Batch) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = loaded / elapsed if elapsed else 0.0
            bar.update(task, completed=batch.offset or 0, messages=loaded, rate=rate)

        yield update


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _file_size(stream: IO[bytes]) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


async def list_messages(ctx: Context) -> None:
    async with ctx.admin() as admin:
        found = await admin.get_messages().list(
            queue=ctx.args.queue, limit=ctx.args.limit, offset=ctx.args.offset
        )
    ctx.out.listing([records.message(m) for m in found], MESSAGE_COLUMNS)


async def get(ctx: Context) -> None:
    async with ctx.admin() as admin:
        found = await admin.get_messages().get(ctx.args.id)
    ctx.out.document(records.message(found))


async def dequeue(ctx: Context) -> None:
    args = ctx.args
    async with ctx.consumer(args.queue) as consumer:
        leased = await consumer.dequeue_many(args.count, lock_seconds=args.lock)
        worker = consumer.worker_id
    ctx.out.listing([records.message(m) for m in leased], MESSAGE_COLUMNS)
    if leased and not ctx.out.json:
        print(
            f"leased {len(leased)} message(s) as worker {worker} ({args.hostname!r}, "
            f"{args.port}); archive, delete or release them with the same identity",
            file=sys.stderr,
        )


async def acknowledge(ctx: Context) -> None:
    args = ctx.args
    verb: str = args.verb
    ids: list[int] = args.ids
    async with ctx.consumer(args.queue) as consumer, ctx.admin() as admin:
        if verb == "archive":
            flags = await consumer.archive_many(ids)
        elif verb == "delete":
            flags = await consumer.delete_many(ids)
        else:
            flags = await consumer.release_many(ids, delay_seconds=args.delay)
        refused = [i for i, ok in zip(ids, flags, strict=True) if not ok]
        reasons = {
            i: await _why_not(admin, args.queue, consumer.worker_id, verb, i) for i in refused
        }
    done = [i for i in ids if i not in reasons]
    if ctx.out.json:
        ctx.out.document(
            {
                "queue": args.queue,
                "action": verb,
                DONE[verb]: done,
                "refused": [{"id": i, "reason": r} for i, r in reasons.items()],
            }
        )
    else:
        rows = [{"id": i, "result": reasons.get(i, DONE[verb])} for i in ids]
        ctx.out.listing(rows, ACK_COLUMNS)
    if reasons:
        raise CommandError(f"{len(reasons)} of {len(ids)} message(s) not {DONE[verb]}")


async def _why_not(admin: Admin, queue: str, worker: int | None, verb: str, msg_id: int) -> str:
    """Why an acknowledgement refused a message, from a look at it now."""
    try:
        found = await admin.get_messages().get(msg_id)
    except MessageNotFoundError:
        return "not found: not in the queue (archived, deleted or never there)"
    if found.queue_id != (await admin.get_queue(queue)).id:
        return f"in another queue (queue id {found.queue_id})"
    holder = found.consumer_worker_id
    if verb == "release" and holder != worker:
        return "not leased by this worker (only the lease holder may release)"
    if holder is not None and holder != worker:
        return f"leased by worker {holder} until {found.vt:%Y-%m-%d %H:%M:%S} UTC"
    return "refused (its state changed meanwhile)"


def _identity(parser: Parser) -> None:
    add_identity(
        parser,
        hostname=OPERATOR_HOSTNAME,
        port=OPERATOR_PORT,
        what="pgqrs-cli@HOST, the operator identity of this host",
    )


def _ack_command(group: Commands, verb: str, help: str, example: Sequence[str]) -> None:
    parser = group.add(
        verb,
        acknowledge,
        help=help,
        description=help[:1].upper() + help[1:] + ". "
        "The command acts as a worker (--hostname/--port, by default this host's operator "
        "identity, which `pgqrs message dequeue` leases as) and follows the lease rule: a "
        "message leased by another worker, with a valid lease, is refused, and the output says "
        "by whom and until when; free a stuck worker's messages with `pgqrs worker release ID`. "
        "Exit status 1 when any message was refused.",
        example=example,
    )
    parser.set_defaults(verb=verb)
    parser.add_argument("queue", metavar="QUEUE")
    parser.add_argument("ids", metavar="ID", nargs="+", type=message_id)
    if verb == "release":
        parser.add_argument(
            "--delay",
            type=seconds,
            default=0.0,
            metavar="S",
            help="invisible for S seconds (default 0)",
        )
    _identity(parser)


def register(commands: Commands) -> None:
    message = commands.group("message", help="enqueue, look at, lease and acknowledge messages")
    parser = message.add(
        "enqueue",
        enqueue,
        help="enqueue one JSON payload, or a JSON-lines file through binary COPY",
        description="Enqueue one JSON payload, or with --file every line of a JSON-lines file "
        "(- reads stdin) in batches through binary COPY, with bounded memory and a progress "
        "bar on a terminal. Prints how many messages were enqueued and how fast. A bad line "
        "stops the load: the batches before the one holding it stay enqueued, nothing from "
        "that batch on is, and the error names the line and where to resume (tail -n +N).",
        example=[
            'pgqrs message enqueue tasks \'{"task": "resize", "id": 1}\'',
            "pgqrs message enqueue tasks '\"remind me\"' --delay 3600",
            "pgqrs message enqueue tasks --file jobs.jsonl",
            "zcat jobs.jsonl.gz | pgqrs message enqueue tasks --file -",
        ],
    )
    parser.add_argument("queue", metavar="QUEUE")
    parser.add_argument("payload", metavar="JSON", nargs="?", help="the payload, as JSON")
    parser.add_argument("--file", metavar="PATH", help="a JSON-lines file; - for stdin")
    parser.add_argument(
        "--delay",
        type=seconds,
        default=0.0,
        metavar="S",
        help="visible after S seconds (default 0)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"lines per batch (one transaction each) with --file (default {DEFAULT_BATCH})",
    )
    _identity(parser)

    parser = message.add(
        "list",
        list_messages,
        help="list a queue's messages (pending, leased, delayed) without leasing them",
        example=["pgqrs message list tasks", "pgqrs message list tasks --limit 10 --format json"],
    )
    parser.add_argument("queue", metavar="QUEUE")
    add_paging(parser)

    parser = message.add(
        "get",
        get,
        help="show one message without leasing it",
        example="pgqrs message get 42 --format json",
    )
    parser.add_argument("id", metavar="ID", type=message_id)

    parser = message.add(
        "dequeue",
        dequeue,
        help="lease messages as this host's operator identity and show them",
        description="Lease up to --count visible messages for --lock seconds and show them. "
        "The lease is held by the worker identity (--hostname/--port, by default this host's "
        "operator identity), so `pgqrs message archive|delete|release` with the same identity "
        "acknowledges them; unacknowledged, they become visible again when the lease lapses.",
        example=[
            "pgqrs message dequeue tasks --count 5 --lock 300",
            "pgqrs message archive tasks 7",
        ],
    )
    parser.add_argument("queue", metavar="QUEUE")
    parser.add_argument(
        "--count", type=positive_int, default=1, metavar="N", help="at most (default 1)"
    )
    parser.add_argument(
        "--lock",
        type=seconds,
        default=None,
        help="lease in seconds (default 30, Config.lock_seconds)",
    )
    _identity(parser)

    _ack_command(
        message,
        "archive",
        "acknowledge messages by moving them to the archive",
        ["pgqrs message archive tasks 7 8 9"],
    )
    _ack_command(
        message,
        "delete",
        "acknowledge messages by deleting them (also cancels a delayed message)",
        ["pgqrs message delete tasks 7"],
    )
    _ack_command(
        message,
        "release",
        "give leased messages back, visible again now or after --delay",
        ["pgqrs message release tasks 7 --delay 60"],
    )
