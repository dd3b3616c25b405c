"""Producers put messages on a queue: one at a time, delayed, or in batches through binary COPY."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._coalesce import Coalescer
from ._database import CallerConnection, CallerTransaction, Transaction
from ._impl import core
from ._pool import JsonbBinary
from ._validate import check_seconds
from ._worker import Worker
from .errors import PgqrsError, SerializationError, ValidationError

__all__ = ["Producer"]

# COPY data is streamed in chunks of about this size, so a 100,000-message batch never exists
# as one buffer; large enough that per-write overhead is noise.
COPY_CHUNK_BYTES = 256 * 1024

# Concurrent enqueue calls are sent together, at most this many in one statement: the
# statement path (enqueue_rows) is as fast as a COPY transaction up to about 200 rows.
GROUP_MAX_MESSAGES = 200

#: One message waiting for its statement: the encoded payload and its delay.
_Pending = tuple[JsonbBinary, float]

# Batches up to this size go in one INSERT statement (one round trip) instead of a transaction
# with a COPY (four).  Measured on a durable server with the bench payload (`pgqrs bench --only
# small-batch`): one statement is 2.25x the COPY transaction at 1 message per call, 1.78x at
# 50, 1.15x at 100, 0.98x at 200 and 0.87x at 500.
SMALL_BATCH_MAX = 150


class Producer(Worker):
    """Enqueues messages on one queue, registered as the worker ``(hostname, port)``.

    The constructor does no I/O; the first call connects and registers the worker.

    Args:
        dsn: connection string (``None``: ``$PGQRS_DSN``, else libpq's ``PG*`` variables); or a
            :class:`~pgqrs.Config` in place of ``config``; or an :class:`~pgqrs.Admin`, whose
            settings and connections the producer then shares (no ``schema`` or ``config``
            then; see :meth:`Admin.close`).
        queue: name of an existing queue.
        hostname: worker identity, first half.
        port: worker identity, second half (0-65535).
        schema: schema holding the pgqrs tables (default: ``config.schema``, ``"public"``).
        config: further settings, see :class:`~pgqrs.Config`.
    """

    kind = "producer"

    @functools.cached_property
    def _group_commit(self) -> Coalescer[_Pending, int]:
        """Concurrent enqueues of this producer, sent together."""
        return Coalescer(GROUP_MAX_MESSAGES)

    async def enqueue(self, payload: Any, *, conn: CallerConnection | None = None) -> int:
        """Put one message on the queue, visible at once.

        Concurrent calls on one producer share a statement and a commit (group commit): a
        call that finds none in flight runs at once; those arriving meanwhile go together in
        the next statement.  Each returns once its row is committed, with its own id.

        Args:
            payload: any value orjson can serialise (dicts, lists, str, numbers, bools, None,
                datetimes, UUIDs, dataclasses, ...).
            conn: run in the caller's own transaction on this psycopg connection (async or
                sync) instead: the message exists if and when the caller commits.

        Returns:
            The new message id.

        Raises:
            SerializationError: not JSON-serialisable, or holds NaN, infinity or NUL; nothing sent.
            PayloadTooLargeError: its JSON exceeds ``Config.max_payload_bytes``.
            QueueNotFoundError: the queue does not exist.
            ValidationError: ``conn`` is not a psycopg connection.
        """
        return await self._enqueue_one(payload, 0.0, conn)

    async def enqueue_delayed(
        self, payload: Any, delay_seconds: float, *, conn: CallerConnection | None = None
    ) -> int:
        """Put one message on the queue, visible after ``delay_seconds``.  Group commit and
        ``conn`` as for :meth:`enqueue`.

        Raises:
            ValidationError: ``delay_seconds`` is not a number of seconds from 0 to 100 years.
            SerializationError, PayloadTooLargeError, QueueNotFoundError: as :meth:`enqueue`.
        """
        return await self._enqueue_one(payload, check_seconds("delay_seconds", delay_seconds), conn)

    async def _enqueue_one(self, payload: Any, delay: float, conn: CallerConnection | None) -> int:
        item = (JsonbBinary(core.encode_jsonb(payload, self._config.max_payload_bytes)), delay)
        if conn is not None:
            await self._ready()
            return await self._insert_one(item, self._db.on(conn, queue=self._queue_name))
        return await self._group_commit.submit(item, self._insert_one, self._insert_group)

    async def _insert_one(self, item: _Pending, on: CallerTransaction | None = None) -> int:
        """One message in one statement (a lone caller's path)."""
        data, delay = item
        q, notify = self._sql, self._config.notify
        if delay:
            statement = q.enqueue_delayed_notify if notify else q.enqueue_delayed
        else:
            statement = q.enqueue_notify if notify else q.enqueue
        rows = await self._run(statement, {"payload": data, "delay_seconds": delay}, on=on)
        if not rows:
            raise self._queue_gone()
        return core.decode_ids(rows)[0]

    async def _insert_group(self, items: Sequence[_Pending]) -> list[int | Exception]:
        """The messages of concurrent callers in one statement, ids in input order."""
        try:
            return list(await self._insert_rows([data for data, _ in items], [d for _, d in items]))
        except (SerializationError, ValidationError):
            # The server refused one of them; which one only each alone can tell.
            outcomes: list[int | Exception] = []
            for item in items:
                try:
                    outcomes.append(await self._insert_one(item))
                except PgqrsError as exc:
                    outcomes.append(exc)
            return outcomes

    async def enqueue_batch(
        self,
        payloads: Iterable[Any],
        *,
        delay_seconds: float = 0,
        conn: CallerConnection | None = None,
    ) -> list[int]:
        """Put many messages on the queue in one transaction: all of them or none.

        Batches of more than ``SMALL_BATCH_MAX`` (150) messages are written with PostgreSQL's
        binary COPY, encoded by pgqrs's compiled core, in bounded chunks, with ids reserved from
        the table's sequence first so they can be returned; smaller ones go in one INSERT
        statement, which measures faster for them (``pgqrs bench --only small-batch``).

        Args:
            payloads: the payloads, in order (a list, tuple or any iterable).
            delay_seconds: visibility delay applied to every message.
            conn: run in the caller's own transaction on this psycopg connection (async or
                sync), COPY included: the messages exist if and when the caller commits.

        Returns:
            The new message ids, in the order of ``payloads``.

        Raises:
            SerializationError: a payload is not JSON-serialisable or holds NaN, infinity or
                NUL (``index`` names it); nothing of the batch is enqueued.
            PayloadTooLargeError: a payload exceeds ``Config.max_payload_bytes``; nothing is
                enqueued.
            ValidationError: ``delay_seconds`` is invalid, ``payloads`` is not a collection,
                or ``conn`` is not a psycopg connection.
            QueueNotFoundError: the queue does not exist.
        """
        delay = check_seconds("delay_seconds", delay_seconds)
        if isinstance(payloads, (str, bytes, bytearray, Mapping)) or not isinstance(
            payloads, Iterable
        ):
            kind = type(payloads).__name__
            raise ValidationError(f"payloads must be a list (or other iterable), not {kind}")
        batch = payloads if isinstance(payloads, (list, tuple)) else list(payloads)
        count = len(batch)
        if count == 0:
            return []
        on = None if conn is None else self._db.on(conn, queue=self._queue_name)
        if count <= SMALL_BATCH_MAX:
            return await self._enqueue_rows(batch, delay, on)
        return await self._enqueue_copy(batch, delay, on)

    async def _enqueue_rows(
        self, batch: Sequence[Any], delay: float, on: CallerTransaction | None = None
    ) -> list[int]:
        limit = self._config.max_payload_bytes
        payloads = [JsonbBinary(core.encode_jsonb(p, limit, i)) for i, p in enumerate(batch)]
        return await self._insert_rows(payloads, [delay] * len(payloads), on)

    async def _insert_rows(
        self,
        payloads: list[JsonbBinary],
        delays: list[float],
        on: CallerTransaction | None = None,
    ) -> list[int]:
        q = self._sql
        statement = q.enqueue_rows_notify if self._config.notify else q.enqueue_rows
        rows = await self._run(statement, {"payloads": payloads, "delays": delays}, on=on)
        if not rows:
            raise self._queue_gone()
        return sorted(core.decode_ids(rows))  # ids ascend in input order (see the SQL)

    async def _enqueue_copy(
        self, batch: Sequence[Any], delay: float, on: CallerTransaction | None = None
    ) -> list[int]:
        if on is not None:
            await self._ready()
            return await self._copy_batch(on, batch, delay)
        async with self._transaction() as tx:
            return await self._copy_batch(tx, batch, delay)

    async def _copy_batch(self, tx: Transaction, batch: Sequence[Any], delay: float) -> list[int]:
        """Reserve the batch's ids, then COPY it, in ``tx``."""
        q = self._sql
        reserved = await tx.one(
            q.reserve_ids_notify if self._config.notify else q.reserve_ids,
            self._params({"count": len(batch)}),
            missing=self._queue_gone,
        )
        now = core.decode_int8(reserved.now)  # timestamptz: microseconds since 2000
        ids = core.decode_int8_array(reserved.ids)
        encoder = core.CopyEncoder(
            self._queue_id,  # type: ignore[arg-type]  # set by _ready
            self._worker_id,
            now,
            now + round(delay * 1_000_000),
            self._config.max_payload_bytes,
        )
        # A bad payload raises inside the COPY, which rolls the whole batch back.
        await tx.copy_in(q.copy_messages, _chunks(encoder, batch, ids))
        return ids


def _chunks(encoder: core.CopyEncoder, batch: Sequence[Any], ids: list[int]) -> Iterator[bytes]:
    """The COPY stream of a batch, encoded lazily in chunks of about ``COPY_CHUNK_BYTES``."""
    start, count = 0, len(batch)
    while start < count:
        chunk, start = encoder.encode(batch, ids, start, COPY_CHUNK_BYTES)
        yield chunk
