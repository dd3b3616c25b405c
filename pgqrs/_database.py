"""The one road to the database: the few operations the API layer needs, on pooled connections.

:class:`Database` runs one statement in autocommit (:meth:`~Database.fetch`, or typed:
:meth:`~Database.rows`, :meth:`~Database.one`) or opens a :class:`Transaction` offering the
same verbs plus :meth:`~Transaction.copy_in`.  Every psycopg error raised on the way becomes a
pgqrs error here (``pgqrs._translate``), so no API module touches psycopg.

Statements come from ``pgqrs._sql``: each knows its row type, and whether it is on the hot path
(prepared server-side unless ``Config.prepare`` is off).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import AsyncCursor

from . import _lane as lane
from ._dsn import Redactor
from ._pool import Connections, configure_adapters
from ._sql import R, Statement
from ._translate import translate
from .config import Config
from .errors import PgqrsError, ValidationError

__all__ = ["CallerConnection", "Database", "Params", "Transaction"]

Params = Mapping[str, Any] | Sequence[Any] | None
#: A connection the caller owns (``conn=``): async, or sync for sync frameworks.
CallerConnection = psycopg.AsyncConnection[Any] | psycopg.Connection[Any]
#: Builds the error to raise when a statement that must return a row returns none.
Missing = Callable[[], Exception]


class _Verbs:
    """``rows`` and ``one``, built on a ``fetch`` of raw rows."""

    async def fetch(
        self, statement: Statement[Any], params: Params = None, *, queue: str | None = None
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def rows(
        self, statement: Statement[R], params: Params = None, *, queue: str | None = None
    ) -> list[R]:
        """The statement's rows, typed by its declared row type."""
        return statement.read(await self.fetch(statement, params, queue=queue))

    async def one(
        self,
        statement: Statement[R],
        params: Params = None,
        *,
        missing: Missing,
        queue: str | None = None,
    ) -> R:
        """The statement's first row; when it returns none, raise ``missing()``.

        Statements that act on a named thing (a queue, a worker, a message) return no row when
        it does not exist, so this is where "not found" is decided.
        """
        raw = await self.fetch(statement, params, queue=queue)
        if not raw:
            raise missing()
        return statement.read(raw[:1])[0]


class Database(_Verbs):
    """Statements and transactions on behalf of one pgqrs client object.

    Several client objects may share one set of connections (:meth:`shared`: producers and
    consumers built from an ``Admin``).  Each has its own ``Database``, which holds the
    connections from its first statement until its :meth:`close`; they close when the last
    holder closes.
    """

    def __init__(self, config: Config, *, share: Database | None = None) -> None:
        self.config = config
        self._prepare = bool(config.prepare)
        if share is None:
            self._connections = Connections(config)
            # Weak: a client dropped without close() must not keep the others' connections
            # open for ever.
            self._holders: weakref.WeakSet[Database] = weakref.WeakSet()
        else:
            self._connections = share._connections
            self._holders = share._holders
        self._holding = False

    def shared(self) -> Database:
        """A ``Database`` for another client object on these same connections."""
        return Database(self.config, share=self)

    def _prepare_for(self, statement: Statement[Any]) -> bool | None:
        # None leaves it to psycopg (prepared after a few uses, unless prepare_threshold=None).
        return self._prepare if statement.hot else None

    async def fetch(
        self, statement: Statement[Any], params: Params = None, *, queue: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit and return its raw binary rows.

        Args:
            statement: the statement to run.
            params: its parameters.
            queue: the queue the statement concerns, named in translated queue errors.
        """
        if not self._holding:
            self._hold()
        connections = self._connections
        try:
            pool, cur = await connections.acquire()
            done = False
            try:
                rows = await self._execute(cur, statement, params)
                done = True
                return rows
            finally:
                await connections.release(pool, cur, done)
        except psycopg.Error as exc:
            raise self._error(exc, queue) from exc

    async def _execute(
        self, cur: AsyncCursor[Any], statement: Statement[Any], params: Params
    ) -> list[tuple[Any, ...]]:
        """One statement on ``cur``'s connection: a hot one on the lean road (``pgqrs._lane``)
        when it can take it, anything else through psycopg."""
        if statement.lane is not None and self._prepare and isinstance(params, Mapping):
            rows = await lane.fetch(cur.connection, statement, params)
            if rows is not None:
                return rows
        await cur.execute(statement.sql, params, prepare=self._prepare_for(statement))
        return await cur.fetchall()

    async def execute(self, statement: Statement[Any], params: Params = None) -> None:
        """Run one statement whose results are not read, in autocommit: also those that may
        not run in a transaction block (``REINDEX CONCURRENTLY``)."""
        if not self._holding:
            self._hold()
        connections = self._connections
        try:
            pool, cur = await connections.acquire()
            done = False
            try:
                await cur.execute(statement.sql, params, prepare=False)
                done = True
            finally:
                await connections.release(pool, cur, done)
        except psycopg.Error as exc:
            raise self._error(exc, None) from exc

    @contextlib.asynccontextmanager
    async def transaction(self, *, queue: str | None = None) -> AsyncIterator[Transaction]:
        """A transaction on one pooled connection: committed when the block ends, rolled back
        when it raises.

        Args:
            queue: the queue the work concerns, named in translated queue errors.
        """
        if not self._holding:
            self._hold()
        connections = self._connections
        try:
            pool, cur = await connections.acquire()
            done = False
            try:
                async with cur.connection.transaction():
                    yield Transaction(self, cur, queue)
                done = True
            finally:
                await connections.release(pool, cur, done)
        except psycopg.Error as exc:
            raise self._error(exc, queue) from exc

    def _hold(self) -> None:
        self._holders.add(self)
        self._holding = True

    def _error(self, exc: psycopg.Error, queue: str | None) -> PgqrsError:
        """``exc`` translated, the connection string's secrets masked in both (connecting is
        where libpq speaks of the DSN, and it quotes pieces of one it cannot parse)."""
        redact = Redactor(self.config.resolved_dsn())
        translated = translate(redact.exception(exc), schema=self.config.schema, queue=queue)
        return redact.exception(translated)

    def on(self, conn: CallerConnection, *, queue: str | None = None) -> CallerTransaction:
        """The verbs on the caller's own connection, inside whatever transaction it has open.

        pgqrs neither commits nor rolls back: what runs here becomes visible at the caller's
        commit (a NOTIFY too) and vanishes with its rollback.
        """
        if not isinstance(conn, (psycopg.AsyncConnection, psycopg.Connection)):
            raise ValidationError(
                f"conn must be a psycopg Connection or AsyncConnection, not {type(conn).__name__}"
            )
        cur: Any = conn.cursor(binary=True)
        configure_adapters(cur.adapters)  # the cursor's own copy: the caller's stay as they are
        return CallerTransaction(self, cur, queue)

    async def close(self) -> None:
        """Close the connections, unless another client object sharing them still holds them
        (the next statement opens new ones either way)."""
        self._holders.discard(self)
        self._holding = False
        if not self._holders:
            await self._connections.close()


class Transaction(_Verbs):
    """The verbs of :class:`Database` inside one open transaction, plus COPY."""

    def __init__(self, db: Database, cur: AsyncCursor[Any], queue: str | None) -> None:
        self._db = db
        self._cur = cur
        self._queue = queue

    async def fetch(
        self, statement: Statement[Any], params: Params = None, *, queue: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement in the transaction and return its raw binary rows."""
        try:
            return await self._db._execute(self._cur, statement, params)
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=queue or self._queue) from exc

    async def execute(self, statement: Statement[Any], params: Params = None) -> None:
        """Run a statement, or a script of several, whose results are not read."""
        try:
            # The connection's own text cursor: a script of several statements needs the
            # simple query protocol, which binary results rule out.
            await self._cur.connection.execute(statement.sql, params)
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=self._queue) from exc

    async def copy_in(self, statement: Statement[Any], chunks: Iterable[bytes]) -> None:
        """Stream ``COPY ... FROM STDIN`` data, chunk by chunk.

        COPY is one statement: an error in any chunk (an exception raised by the iterator
        aborts the COPY) leaves nothing of it behind once the transaction rolls back.
        """
        try:
            async with self._cur.copy(statement.sql) as copy:
                for chunk in chunks:
                    await copy.write(chunk)
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=self._queue) from exc


async def _done(result: Any) -> Any:
    """The result of a psycopg call, awaited when the connection is async."""
    return await result if inspect.isawaitable(result) else result


class CallerTransaction(Transaction):
    """:class:`Transaction`'s verbs on a caller's connection, async or sync: the same statements
    and COPY, on one code path."""

    async def fetch(
        self, statement: Statement[Any], params: Params = None, *, queue: str | None = None
    ) -> list[tuple[Any, ...]]:
        cur = self._cur
        try:
            await _done(
                cur.execute(statement.sql, params, prepare=self._db._prepare_for(statement))
            )
            rows: list[tuple[Any, ...]] = await _done(cur.fetchall())
            return rows
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=queue or self._queue) from exc

    async def execute(self, statement: Statement[Any], params: Params = None) -> None:
        try:
            await _done(self._cur.execute(statement.sql, params))
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=self._queue) from exc

    async def copy_in(self, statement: Statement[Any], chunks: Iterable[bytes]) -> None:
        cur = self._cur
        try:
            if isinstance(cur, psycopg.AsyncCursor):
                await super().copy_in(statement, chunks)
                return
            with cur.copy(statement.sql) as copy:
                for chunk in chunks:
                    copy.write(chunk)
        except psycopg.Error as exc:
            raise translate(exc, schema=self._db.config.schema, queue=self._queue) from exc
