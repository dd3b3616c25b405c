"""Connections for one client object: a psycopg pool per event loop, a hot slot for sequential
callers, the adapters that hand raw binary values to the core, and the pool's connection class,
which ends the lane's socket watch whenever psycopg uses the connection.

Client constructors do no I/O, so the pool is created by the first call that needs it, inside
the running loop.  An asyncio pool belongs to the loop that opened it; when a later call runs on
another loop (a new ``asyncio.run``, a web framework's test client thread), the old pool is let
go and a new one opened there.
"""

from __future__ import annotations

import asyncio
import select
import time
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import AsyncConnection, AsyncCursor, postgres
from psycopg.abc import PQGen
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import ConnStatus, Format, TransactionStatus
from psycopg.types.string import ByteaBinaryLoader
from psycopg_pool import AsyncConnectionPool

from .config import Config

RV = TypeVar("RV")

__all__ = ["Connections", "JsonbBinary", "LaneConnection", "Watch", "configure_adapters"]

# A sequential caller reuses the last idle connection, and a cursor on it, without a pool round
# trip: psycopg_pool's checkout and return cost ~20 us of client CPU per call (measured), ~9% of
# a single enqueue, and a new cursor another 2 us.  Every HOT_RETURN_EVERY uses the connection
# goes back through the pool, so the pool's lifetime and health checks still apply to it.
HOT_RETURN_EVERY = 1000

# An idle connection is checked for a server-side close before use (see _closed_by_server) once
# it has been idle this long (seconds).  Back-to-back calls skip the check: its syscall cost 1-5
# us of client CPU per call (measured), up to 2% of a single enqueue, and a connection lost
# between two back-to-back calls is a race any call can lose anyway.
IDLE_CHECK_AFTER = 1.0

# Binary results of these types reach the core as raw bytes: it decodes ints, timestamps and
# jsonb itself (orjson, UTC datetimes) faster than per-value Python loaders could.
_RAW_BINARY_TYPES = ("int8", "int4", "timestamptz", "jsonb")


class JsonbBinary:
    """A payload already encoded by the core as binary jsonb (version byte + JSON text)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _JsonbBinaryDumper(Dumper):
    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        data: bytes = obj.data
        return data


def configure_adapters(adapters: AdaptersMap) -> None:
    """Raw binary loaders for the core and the dumper of :class:`JsonbBinary`, on a connection's
    or a cursor's adapters."""
    for name in _RAW_BINARY_TYPES:
        info = adapters.types[name]
        adapters.register_loader(info.oid, ByteaBinaryLoader)
        adapters.register_loader(info.array_oid, ByteaBinaryLoader)
    adapters.register_dumper(JsonbBinary, _JsonbBinaryDumper)


async def _configure(conn: AsyncConnection[Any]) -> None:
    configure_adapters(conn.adapters)


class Watch(Protocol):
    """The lane's watch on a connection's socket (``pgqrs._lane``); ended with :meth:`close`."""

    def close(self) -> None: ...


class LaneConnection(AsyncConnection[Any]):
    """The pool's connections: psycopg's, plus the socket watch the lane keeps between its calls
    (``pgqrs._lane``).

    The event loop holds one reader per socket, and psycopg registers its own for each of its
    waits and removes it afterwards, which would leave the lane's watch silently gone.  So
    everything psycopg does on the connection, which all waits through :meth:`wait`, and its
    closing end the watch first; the lane's next call starts a new one.
    """

    _pgqrs_watch: Watch | None = None

    def end_watch(self) -> None:
        """Stop the lane's watch on the socket, if one is on."""
        watch, self._pgqrs_watch = self._pgqrs_watch, None
        if watch is not None:
            watch.close()

    async def wait(self, gen: PQGen[RV], *args: Any, **kwargs: Any) -> RV:
        self.end_watch()
        return await super().wait(gen, *args, **kwargs)

    async def close(self) -> None:
        self.end_watch()
        await super().close()


class Connections:
    """Pooled autocommit connections to one database on behalf of one pgqrs client object.

    :meth:`acquire` hands out a binary cursor on a connection that is not known to be dead, and
    :meth:`release` takes it back; ``pgqrs._database.Database`` is the only user.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[AsyncConnectionPool[AsyncConnection[Any]]] | None = None
        #: A binary cursor on the last idle connection, for the next caller.  It keeps its last
        #: result (one statement's rows) until it runs the next statement.
        self._hot: AsyncCursor[Any] | None = None
        self._hot_since = 0.0  # time.monotonic() when _hot was last released
        self._uses = 0

    async def acquire(self) -> tuple[AsyncConnectionPool[AsyncConnection[Any]], AsyncCursor[Any]]:
        """A binary cursor on an idle connection, and the pool to give it back to."""
        pool = self._pool
        if pool is None or self._loop is not asyncio.get_running_loop():
            pool = await self._pool_for_running_loop()
        cur, self._hot = self._hot, None
        if cur is not None:
            conn = cur.connection
            if time.monotonic() - self._hot_since < IDLE_CHECK_AFTER or not _closed_by_server(conn):
                return pool, cur
            await pool.putconn(conn)  # the pool drops a broken connection
        # Idle connections the server has closed (idle_session_timeout, a proxy, a restart) are
        # replaced before anything is sent on them, so no statement is left in doubt.  Bounded:
        # with the server gone for good, the statement itself fails on the last one.
        for _ in range(self.config.pool_max_size):
            conn = await pool.getconn()
            if not _closed_by_server(conn):
                return pool, conn.cursor(binary=True)
            await pool.putconn(conn)
        return pool, (await pool.getconn()).cursor(binary=True)

    async def release(
        self, pool: AsyncConnectionPool[AsyncConnection[Any]], cur: AsyncCursor[Any], ok: bool
    ) -> None:
        """Take a cursor back: kept for the next caller when its use went well, else (and
        every ``HOT_RETURN_EVERY`` uses) returned to the pool."""
        self._uses += 1
        conn = cur.connection
        if (
            ok
            and self._hot is None
            and pool is self._pool
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
            and self._uses % HOT_RETURN_EVERY
        ):
            self._hot = cur
            self._hot_since = time.monotonic()
        else:
            await pool.putconn(conn)

    async def close(self) -> None:
        """Close the pool if it belongs to the running loop; otherwise just let it go."""
        pool, loop, hot = self._pool, self._loop, self._hot
        self._pool = self._loop = self._opening = self._hot = None
        if pool is None:
            return
        if loop is asyncio.get_running_loop():
            if hot is not None:
                await pool.putconn(hot.connection)
            await pool.close()
        else:
            _abandon(pool, loop, hot)

    async def _pool_for_running_loop(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._pool is not None:
                _abandon(self._pool, self._loop, self._hot)
            self._pool, self._loop, self._hot = None, loop, None
            self._opening = loop.create_task(self._open_pool())
        assert self._opening is not None
        opening = self._opening
        try:
            # shield: one caller's cancellation must not cancel the opening the others await.
            pool = await asyncio.shield(opening)
        except BaseException:
            if self._opening is opening and opening.done():
                self._loop = self._opening = None  # let the next call try again
            raise
        if self._opening is opening:
            self._pool = pool
        return pool

    async def _open_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        config = self.config
        conninfo = config.resolved_dsn()
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(config.connect_timeout)),
        }
        if not config.prepare:
            kwargs["prepare_threshold"] = None
        # One direct connection first: a bad DSN fails now with libpq's own message instead of
        # the pool retrying quietly until its timeout.
        probe = await AsyncConnection.connect(conninfo, **kwargs)
        await probe.close()
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            connection_class=LaneConnection,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            kwargs=kwargs,
            configure=_configure,
            timeout=config.connect_timeout,
            open=False,
            name=f"pgqrs-{config.schema}",
        )
        await pool.open(wait=False)
        return pool


if hasattr(select, "poll"):

    def _readable(fd: int) -> bool:
        poller = select.poll()  # unlike select(), no limit on the descriptor's number
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))

else:  # Windows, where select() takes sockets of any number

    def _readable(fd: int) -> bool:
        return bool(select.select([fd], [], [], 0)[0])


def _closed_by_server(conn: AsyncConnection[Any]) -> bool:
    """Whether an idle connection is known dead before anything is sent on it.

    An idle connection has nothing to read unless the server said goodbye or sent a notice, so
    the common case is one poll() (0.6 us).  A goodbye takes two reads: libpq reports the FATAL
    (``terminating connection ...``) as a notice and finds the connection bad only at the end
    of file after it.
    """
    pgconn = conn.pgconn
    for _ in range(4):
        if pgconn.status != ConnStatus.OK:
            return True
        if not _readable(pgconn.socket):
            return False
        try:
            pgconn.consume_input()
        except psycopg.OperationalError:
            return True
    return pgconn.status != ConnStatus.OK


def _abandon(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    loop: asyncio.AbstractEventLoop | None,
    hot: AsyncCursor[Any] | None,
) -> None:
    """Release a pool opened on another loop: close it there if that loop still runs."""
    running = loop is not None and loop.is_running() and not loop.is_closed()
    if hot is not None:
        # Synchronous, no loop needed to end the session; but a loop still running elsewhere
        # owns the lane's watch on the socket, so there the watch ends first, in its thread.
        if running:
            assert loop is not None
            loop.call_soon_threadsafe(_end_session, hot.connection)
        else:
            _end_session(hot.connection)
    if running:
        assert loop is not None
        asyncio.run_coroutine_threadsafe(pool.close(), loop)


def _end_session(conn: AsyncConnection[Any]) -> None:
    if isinstance(conn, LaneConnection):
        conn.end_watch()
    conn.pgconn.finish()
