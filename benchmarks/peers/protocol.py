"""The peer side of the line protocol between the peer runner and one peer process.

Each peer queue library runs in a process of its own, under the interpreter of its own
virtualenv (the Rust-based pgqrs on PyPI has our import name, so no two of them can share one).
That process imports only the standard library, its queue library and this module: the runner
(``runner.py``, in the checkout's ``.venv``) sends one JSON object per line on the process's
stdin and reads one JSON reply per line on its stdout.

The runner times the ``run`` commands itself, interleaved round by round with the raw psycopg
baseline it runs in its own process, and does the untimed maintenance of the peer's tables
(emptying them, ``VACUUM ANALYZE``) itself.  A peer script only subclasses :class:`Peer` and
calls :func:`serve`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, TextIO

__all__ = [
    "LINE_LIMIT",
    "OPERATIONS",
    "Conn",
    "Payloads",
    "Peer",
    "batches",
    "drain",
    "one_by_one",
    "serve",
    "versions",
]

#: The operations a peer is measured on; a peer lists the ones it has no equivalent for in
#: :attr:`Peer.unsupported`.
OPERATIONS = ("enqueue_batch", "enqueue", "dequeue_ack", "consume")

# Large enough for the payloads of one run (10,000 small JSON rows) on a single line.
LINE_LIMIT = 1 << 26

Payloads = Sequence[dict[str, Any]]


class Conn:
    """Where the peer's own database is, in the forms the drivers take."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)

    @property
    def conninfo(self) -> str:
        """A libpq ``key=value`` string (psycopg)."""
        return " ".join(f"{key}={_quote(value)}" for key, value in self.fields.items())

    @property
    def url(self) -> str:
        """A ``postgresql://`` URL; a unix-socket directory travels as the ``host`` parameter,
        since drivers that parse URLs themselves (sqlx) take no path as a host name."""
        from urllib.parse import quote, urlencode

        fields = dict(self.fields)
        user = quote(fields.pop("user", ""), safe="")
        password = fields.pop("password", None)
        auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
        dbname = quote(fields.pop("dbname", ""), safe="")
        host = fields.pop("host", "localhost")
        if host.startswith("/"):
            fields["host"] = host
            host = "localhost"
        query = f"?{urlencode(fields)}" if fields else ""
        return f"postgresql://{auth}{host}/{dbname}{query}"

    def asyncpg_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect``."""
        fields = dict(self.fields)
        kwargs: dict[str, Any] = {"database": fields.pop("dbname", None)}
        for key in ("host", "user", "password"):
            if key in fields:
                kwargs[key] = fields.pop(key)
        if "port" in fields:
            kwargs["port"] = int(fields.pop("port"))
        return kwargs


def _quote(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def versions(*distributions: str) -> dict[str, str]:
    """The installed versions of ``distributions`` and of the interpreter, for the report."""
    found = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def batches(payloads: Payloads, batch: int) -> Iterator[Payloads]:
    """``payloads`` in consecutive slices of ``batch``."""
    for start in range(0, len(payloads), batch):
        yield payloads[start : start + batch]


async def one_by_one(enqueue: Callable[[Any], Awaitable[object]], payloads: Payloads) -> int:
    """``enqueue(payload)`` for each payload in turn, each awaited before the next."""
    for payload in payloads:
        await enqueue(payload)
    return len(payloads)


async def drain(
    dequeue: Callable[[int], Awaitable[Sequence[Any]]],
    ack: Callable[[Sequence[Any]], Awaitable[object]],
    batch: int,
    count: int,
) -> int:
    """``dequeue(batch)`` then ``ack(messages)`` until ``count`` messages are handled or the
    queue is empty; how many were handled."""
    done = 0
    while done < count:
        messages = await dequeue(batch)
        if not messages:
            break
        await ack(messages)
        done += len(messages)
    return done


class Peer:
    """One queue library, driven through the benchmark's operations.

    Every operation gets the payloads the runner sent (the bench's own) and returns how many
    messages it handled; the runner checks that number.  ``dequeue_ack`` and ``consume`` drain
    ``count`` messages that :meth:`fill` enqueued before the round.
    """

    #: Distributions whose versions the report names (the library and its driver).
    distributions: tuple[str, ...] = ()
    #: The peer's own tables: the runner empties them before each round and ``VACUUM
    #: ANALYZE``s them after filling, as ``pgqrs bench`` does for its own.
    tables: tuple[str, ...] = ()
    #: Operations the library has no equivalent for, and why (the table says "n/a").
    unsupported: Mapping[str, str] = {}
    #: What each operation calls, in the library's terms (the README lists it).
    calls: Mapping[str, str] = {}

    async def open(self, conn: Conn) -> None:
        """Connect and install the library's schema in its (empty) database."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        """Facts for the report beyond the versions (after :meth:`open`), e.g. which driver
        implementation is loaded."""
        return {}

    async def close(self) -> None:
        """Release what :meth:`open` acquired."""

    async def fill(self, payloads: Payloads) -> None:
        """Enqueue ``payloads`` by the library's fastest path (untimed, before a drain)."""
        raise NotImplementedError

    async def enqueue_batch(self, payloads: Payloads, batch: int) -> int:
        raise NotImplementedError

    async def enqueue(self, payloads: Payloads) -> int:
        raise NotImplementedError

    async def dequeue_ack(self, batch: int, count: int) -> int:
        raise NotImplementedError

    async def consume(self, batch: int, count: int) -> int:
        raise NotImplementedError


class _Server:
    def __init__(self, peer: Peer, out: TextIO) -> None:
        self.peer, self.out = peer, out
        self.payloads: list[dict[str, Any]] = []

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        peer, cmd = self.peer, command["cmd"]
        if cmd == "open":
            await peer.open(Conn(command["conn"]))
            return {
                "library": peer.distributions[0] if peer.distributions else "",
                "versions": {**versions(*peer.distributions), **peer.describe()},
                "tables": list(peer.tables),
                "unsupported": dict(peer.unsupported),
                "calls": dict(peer.calls),
            }
        if cmd == "load":
            self.payloads = command["payloads"]
            return {"loaded": len(self.payloads)}
        if cmd == "fill":
            await peer.fill(self.payloads)
            return {"filled": len(self.payloads)}
        if cmd == "run":
            return {"handled": await self.run(command["op"], command.get("batch", 0))}
        if cmd == "close":
            await peer.close()
            return {}
        raise ValueError(f"unknown command {cmd!r}")

    async def run(self, op: str, batch: int) -> int:
        peer, payloads = self.peer, self.payloads
        if op == "enqueue_batch":
            return await peer.enqueue_batch(payloads, batch)
        if op == "enqueue":
            return await peer.enqueue(payloads)
        if op == "dequeue_ack":
            return await peer.dequeue_ack(batch, len(payloads))
        if op == "consume":
            return await peer.consume(batch, len(payloads))
        raise ValueError(f"unknown operation {op!r}")

    def reply(self, body: dict[str, Any]) -> None:
        self.out.write(json.dumps(body) + "\n")
        self.out.flush()


async def _serve(peer: Peer, out: TextIO) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    server = _Server(peer, out)
    while line := await reader.readline():
        command = json.loads(line)
        try:
            body = {"ok": True, **await server.handle(command)}
        except Exception as exc:  # reported to the runner, which fails the measurement
            body = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc(file=sys.stderr)
        server.reply(body)
        if command["cmd"] == "close":
            return


def serve(peer: Peer) -> None:
    """Answer the runner's commands on stdin/stdout until it sends ``close`` or hangs up.

    Anything the libraries print goes to stderr: file descriptor 1 is pointed there, and the
    replies use a private copy of the original stdout, so no stray print can corrupt them.
    """
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    asyncio.run(_serve(peer, out))
