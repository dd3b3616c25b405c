"""A lean road for the hot statements: straight through libpq, on a connection psycopg owns.

psycopg's async ``execute`` costs about 70 us of client CPU per call here (query conversion,
parameter adaptation, a generator and two waits through the event loop, result loaders), more
than the statement's own round trip on a local server.  The hot statements need none of it:
their parameters are a handful of ints, floats, texts, already-encoded jsonb and arrays of
those, and their results are raw binary values that the core decodes.  So the placeholders are
numbered once per statement (``Statement.lane``); this module encodes the parameters in binary
itself, prepares each statement once per connection under its own name, and sends it with
``PQsendQueryPrepared``, waiting for the socket directly.  Measured on an INSERT like the
enqueue statement: 24-32 us of client CPU per call, against 105 us for psycopg's async
``execute`` and 41-43 us for raw synchronous psycopg.

Anything this road does not know (a parameter of another type) goes the ordinary way:
:func:`fetch` returns ``None`` and the caller uses psycopg.

On the pool's connections the wait for a result keeps its reader registered with the event loop
between calls (:class:`_Watch`), which ``pgqrs._pool.LaneConnection`` ends whenever psycopg
takes the connection over.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq

from ._pool import JsonbBinary, LaneConnection
from ._sql import Statement

__all__ = ["fetch"]

# Type oids (PostgreSQL's pg_type.dat) of the parameters this road encodes.
_INT8, _FLOAT8, _TEXT, _JSONB = 20, 701, 25, 3802
_INT8_ARRAY, _FLOAT8_ARRAY, _JSONB_ARRAY = 1016, 1022, 3807

_I8 = struct.Struct(">q")
_F8 = struct.Struct(">d")
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


_LENGTH = struct.Struct(">i")


def _array(oid: int, elements: Sequence[bytes]) -> bytes:
    # One dimension, no NULLs: ndim, has-nulls, element oid, then size and lower bound, then
    # each element as its length and its bytes.
    if not elements:
        return struct.pack(">iii", 0, 0, oid)
    head = struct.pack(">iiiii", 1, 0, oid, len(elements), 1)
    return head + b"".join(_LENGTH.pack(len(e)) + e for e in elements)


def _encode(value: Any) -> tuple[int, bytes | None] | None:
    """A parameter's type oid and binary value; ``None`` when this road does not know it."""
    kind = type(value)
    if kind is int:
        return _INT8, _I8.pack(value)
    if kind is float:
        return _FLOAT8, _F8.pack(value)
    if kind is JsonbBinary:
        return _JSONB, value.data
    if kind is str:
        return _TEXT, value.encode()
    if value is None:
        return 0, None  # unknown: the statement's casts type it
    if kind is list:
        if all(type(item) is int for item in value):
            return _INT8_ARRAY, _array(_INT8, [_I8.pack(item) for item in value])
        if all(type(item) is float for item in value):
            return _FLOAT8_ARRAY, _array(_FLOAT8, [_F8.pack(item) for item in value])
        if all(type(item) is JsonbBinary for item in value):
            return _JSONB_ARRAY, _array(_JSONB, [item.data for item in value])
    return None


async def _wait(pgconn: pq.abc.PGconn, write: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = pgconn.socket
    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class _Watch:
    """The event loop's reader on a pool connection's socket, kept from one lane call to the
    next: registering a reader for each wait and removing it afterwards cost 12-19% of a
    single enqueue on the durable server (finely interleaved A/B, docs/design.md).

    ``LaneConnection`` ends it before psycopg uses the connection and when it closes.  Between
    calls nobody waits, and what the server sends then (a notice, its goodbye) is read at once,
    so a level-triggered selector does not report the socket again and again.
    """

    __slots__ = ("_fd", "_loop", "_pgconn", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, pgconn: pq.abc.PGconn) -> None:
        self._loop, self._pgconn = loop, pgconn
        self._fd: int | None = pgconn.socket
        self.waiter: asyncio.Future[None] | None = None
        loop.add_reader(self._fd, self._readable)

    def watches(self, loop: asyncio.AbstractEventLoop, pgconn: pq.abc.PGconn) -> bool:
        """Whether this watch is on and is ``pgconn``'s on ``loop``."""
        return self._fd is not None and self._loop is loop and self._pgconn is pgconn

    def _readable(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
            return
        try:
            self._pgconn.consume_input()
        except psycopg.OperationalError:
            self.close()  # end of file: the pool drops the connection at its next use
            return
        if self._pgconn.status != pq.ConnStatus.OK:
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # whoever waits finds out from libpq itself
        self._loop.remove_reader(fd)


async def _readable(conn: psycopg.AsyncConnection[Any], pgconn: pq.abc.PGconn) -> None:
    """Until ``pgconn``'s socket has something to read."""
    if not isinstance(conn, LaneConnection):
        await _wait(pgconn, write=False)
        return
    loop = asyncio.get_running_loop()
    watch = conn._pgqrs_watch
    if not isinstance(watch, _Watch) or not watch.watches(loop, pgconn):
        conn.end_watch()
        watch = conn._pgqrs_watch = _Watch(loop, pgconn)
    watch.waiter = waiter = loop.create_future()
    try:
        await waiter
    finally:
        watch.waiter = None


async def _result(
    conn: psycopg.AsyncConnection[Any], pgconn: pq.abc.PGconn, encoding: Any
) -> pq.abc.PGresult:
    """Send what is buffered, then the one result of the statement in flight."""
    while pgconn.flush():
        await _wait(pgconn, write=True)
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        await _readable(conn, pgconn)
    result = pgconn.get_result()
    while pgconn.get_result() is not None:  # the end of the statement's results
        pass
    if result is None or result.status not in _OK:
        assert result is not None
        raise psycopg.errors.error_from_result(result, encoding=encoding(pgconn))
    return result


def _encoding(pgconn: pq.abc.PGconn) -> str:
    name = (pgconn.parameter_status(b"client_encoding") or b"UTF8").decode()
    return "utf-8" if name.upper() in ("UTF8", "UTF-8") else name


async def fetch(
    conn: psycopg.AsyncConnection[Any], statement: Statement[Any], params: Mapping[str, Any]
) -> list[tuple[bytes | None, ...]] | None:
    """Run a hot statement (one with ``statement.lane``) on ``conn``, prepared there on first
    use; its rows of raw binary values.

    Returns:
        ``None`` when a parameter is of a type this road does not encode: run it through
        psycopg instead.

    Raises:
        psycopg.Error: as psycopg would raise it (translated by the caller).
    """
    assert statement.lane is not None
    sql, names = statement.lane
    oids: list[int] = []
    values: list[bytes | None] = []
    for param in names:
        encoded = _encode(params[param])
        if encoded is None:
            return None
        oids.append(encoded[0])
        values.append(encoded[1])
    pgconn = conn.pgconn
    # One prepared statement per statement and parameter types, per connection.
    prepared: dict[tuple[str, tuple[int, ...]], bytes] | None = getattr(
        conn, "_pgqrs_prepared", None
    )
    if prepared is None:
        prepared = conn._pgqrs_prepared = {}  # type: ignore[attr-defined]
    types = tuple(oids)
    key = prepared.get((statement.name, types))
    if key is None:
        key = f"pgqrs_{statement.name}_{'_'.join(map(str, oids))}".encode()
        pgconn.send_prepare(key, sql, oids)
        await _result(conn, pgconn, _encoding)
        prepared[statement.name, types] = key
    pgconn.send_query_prepared(key, values, param_formats=[1] * len(values), result_format=1)
    result = await _result(conn, pgconn, _encoding)
    rows, width = result.ntuples, result.nfields
    get = result.get_value
    return [tuple(get(row, column) for column in range(width)) for row in range(rows)]
