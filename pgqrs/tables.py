"""Read access to the four pgqrs tables, for monitoring pages and operators.

Obtain them from :class:`~pgqrs.Admin` (``get_queues()``, ``get_workers()``, ``get_messages()``,
``get_archive()``; each table is also awaitable, to itself, so ``await admin.get_queues()``
works as in the original pgqrs).  Listings are ordered by id and paged with ``limit``/``offset``;
the ``queue=`` filters take a queue name and raise :class:`~pgqrs.QueueNotFoundError` for an
unknown one.
"""

from __future__ import annotations

import builtins
from collections.abc import Generator, Mapping
from typing import Any, Self

from ._database import Database
from ._impl import core
from ._pool import JsonbBinary
from ._rows import CountRow
from ._sql import Queries, Statement
from ._validate import check_id, check_int, check_name
from .errors import MessageNotFoundError, QueueNotFoundError, ValidationError, WorkerNotFoundError
from .types import ArchivedMessage, QueueInfo, QueueMessage, WorkerInfo, WorkerStatus

__all__ = ["Archive", "Messages", "Queues", "Workers", "find_queue"]

#: ``read_ct`` is an int4 column.
MAX_READ_CT = 2**31 - 1

#: Default page size of ``list()``.
DEFAULT_LIMIT = 100


async def find_queue(db: Database, queries: Queries, name: object) -> QueueInfo:
    """The queue of this name.

    Raises:
        ValidationError: the name is empty or not a string.
        QueueNotFoundError: no such queue.
    """
    name = check_name("queue name", name)
    row = await db.one(
        queries.get_queue,
        {"queue_name": name},
        missing=lambda: QueueNotFoundError(name),
        queue=name,
    )
    return QueueInfo.from_row(row)


class _Table:
    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._sql = queries

    def __await__(self) -> Generator[None, None, Self]:
        # No I/O behind it: the original pgqrs's getters were coroutines, ours are not.
        yield from ()
        return self

    async def _queue_id(self, queue: str | None) -> int | None:
        """The id of the queue a ``queue=`` filter names (``None``: no filter)."""
        if queue is None:
            return None
        return (await find_queue(self._db, self._sql, queue)).id

    async def _count(self, statement: Statement[CountRow], params: dict[str, Any]) -> int:
        (row,) = await self._db.rows(statement, params)
        return core.decode_int8(row.total)


def _page(limit: int, offset: int) -> dict[str, int]:
    return {
        "limit": check_int("limit", limit, minimum=0),
        "offset": check_int("offset", offset, minimum=0),
    }


class Queues(_Table):
    """The ``pgqrs_queues`` table."""

    async def count(self) -> int:
        """Number of queues."""
        return await self._count(self._sql.count_queues, {})

    async def list(self, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> list[QueueInfo]:
        """Queues ordered by id."""
        rows = await self._db.rows(self._sql.list_queues, _page(limit, offset))
        return [QueueInfo.from_row(row) for row in rows]

    async def get(self, id: int) -> QueueInfo:
        """The queue with this id.

        Raises:
            QueueNotFoundError: no such queue.
        """
        row = await self._db.one(
            self._sql.get_queue_by_id,
            {"id": check_id("id", id)},
            missing=lambda: QueueNotFoundError(f"#{id}"),
        )
        return QueueInfo.from_row(row)


class Workers(_Table):
    """The ``pgqrs_workers`` table: producers and consumers by ``(hostname, port)``."""

    async def count(self, *, queue: str | None = None, status: str | None = None) -> int:
        """Number of workers, optionally of one queue and/or in one status."""
        return await self._count(self._sql.count_workers, await self._filters(queue, status))

    async def list(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[WorkerInfo]:
        """Workers ordered by id, optionally of one queue and/or in one status."""
        params = await self._filters(queue, status) | _page(limit, offset)
        rows = await self._db.rows(self._sql.list_workers, params)
        return [WorkerInfo.from_row(row) for row in rows]

    async def get(self, id: int) -> WorkerInfo:
        """The worker with this id.

        Raises:
            WorkerNotFoundError: no such worker.
        """
        row = await self._db.one(
            self._sql.get_worker,
            {"id": check_id("id", id)},
            missing=lambda: WorkerNotFoundError(id),
        )
        return WorkerInfo.from_row(row)

    async def filter_by_queue(self, queue: str) -> builtins.list[WorkerInfo]:
        """Compatibility name (the original pgqrs): ``list(queue=queue)``, the first
        ``DEFAULT_LIMIT`` (100) workers of a queue."""
        return await self.list(queue=queue)

    async def _filters(self, queue: str | None, status: str | None) -> dict[str, Any]:
        if status is not None:
            try:
                status = WorkerStatus(status).value
            except ValueError:
                choices = ", ".join(s.value for s in WorkerStatus)
                raise ValidationError(f"status must be one of {choices}, got {status!r}") from None
        return {"queue_id": await self._queue_id(queue), "status": status}


class Messages(_Table):
    """The ``pgqrs_messages`` table: messages waiting, leased or delayed."""

    async def count(self, *, queue: str | None = None) -> int:
        """Number of messages, optionally in one queue."""
        return await self._count(
            self._sql.count_messages, {"queue_id": await self._queue_id(queue)}
        )

    async def list(
        self,
        *,
        queue: str | None = None,
        contains: Any = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[QueueMessage]:
        """Messages ordered by id, optionally of one queue, optionally only those whose payload
        contains ``contains`` (JSON containment, ``payload @> contains``: ``{"user_id": 7}``
        matches every object payload with that key and value, among others).

        No index serves ``contains`` (one on payloads would cost every enqueue): it filters the
        queue's messages (with ``queue=``) or the whole table, one by one, until ``limit``
        messages match.  Keep it to monitoring and occasional clean-ups.

        Raises:
            QueueNotFoundError: ``queue`` does not exist.
            SerializationError: ``contains`` is not JSON-serialisable.
        """
        wanted = None if contains is None else JsonbBinary(core.encode_jsonb(contains, None))
        params = {"queue_id": await self._queue_id(queue), "contains": wanted}
        params |= _page(limit, offset)
        return core.decode_messages(await self._db.fetch(self._sql.list_messages, params))

    async def filter_by_payload(
        self,
        payload: Mapping[str, Any],
        *,
        queue: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> builtins.list[QueueMessage]:
        """Compatibility name (the original pgqrs): ``list(contains=payload, ...)``.  At most
        ``limit`` (100) messages come back.

        Raises:
            ValidationError: ``payload`` is not a mapping.
        """
        if not isinstance(payload, Mapping):
            raise ValidationError(f"payload must be a mapping, not {type(payload).__name__}")
        return await self.list(queue=queue, contains=payload, limit=limit, offset=offset)

    async def get(self, id: int) -> QueueMessage:
        """The message with this id.

        Raises:
            MessageNotFoundError: no such message (it may have been archived or deleted).
        """
        row = await self._db.one(
            self._sql.get_message,
            {"id": check_id("id", id)},
            missing=lambda: MessageNotFoundError(id),
        )
        return core.decode_messages([row])[0]


class Archive(_Table):
    """The ``pgqrs_archive`` table: messages acknowledged with ``archive``, and dead letters
    (messages delivered ``Config.max_read_ct`` times without an acknowledgement).

    Filters, all optional and combined: ``queue=`` a queue name; ``dead_letters=True`` only
    dead letters, ``False`` only normal archives, ``None`` (the default) both; ``worker=`` the
    id of the consumer that last held the message (``consumer_worker_id``); ``min_read_ct=``
    only messages delivered at least that many times.  The queue and dead-letter filters are
    served by indexes; ``worker=`` and ``min_read_ct=`` filter row by row (the archive has no
    index on either: each would cost every acknowledgement), within the queue when one is given.
    """

    async def count(
        self,
        *,
        queue: str | None = None,
        dead_letters: bool | None = None,
        worker: int | None = None,
        min_read_ct: int | None = None,
    ) -> int:
        """Number of archived messages matching the filters."""
        params = await self._filters(queue, dead_letters, worker, min_read_ct)
        return await self._count(self._sql.count_archive, params)

    async def list(
        self,
        *,
        queue: str | None = None,
        dead_letters: bool | None = None,
        worker: int | None = None,
        min_read_ct: int | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[ArchivedMessage]:
        """Archived messages matching the filters, ordered by archive id."""
        params = await self._filters(queue, dead_letters, worker, min_read_ct)
        params |= _page(limit, offset)
        rows = await self._db.rows(self._sql.list_archive, params)
        return [ArchivedMessage.from_row(row) for row in rows]

    async def delete(self, id: int) -> bool:
        """Delete one archived message (or dead letter) by its archive id.

        Returns:
            ``True`` if it was deleted, ``False`` if there is no such archived message.
        """
        rows = await self._db.fetch(self._sql.delete_archived, {"id": check_id("id", id)})
        return bool(rows)

    async def delete_by_worker(self, worker_id: int) -> int:
        """Delete every archived message last held by one consumer (``consumer_worker_id``).

        Returns:
            The number of archived messages deleted.
        """
        params = {"worker_id": check_id("worker_id", worker_id)}
        return await self._count(self._sql.delete_archived_by_worker, params)

    async def list_by_worker(
        self, worker_id: int, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> builtins.list[ArchivedMessage]:
        """Compatibility name (the original pgqrs): ``list(worker=worker_id, ...)``."""
        return await self.list(worker=worker_id, limit=limit, offset=offset)

    async def count_by_worker(self, worker_id: int) -> int:
        """Compatibility name (the original pgqrs): ``count(worker=worker_id)``."""
        return await self.count(worker=worker_id)

    async def dlq_count(self, max_attempts: int) -> int:
        """Compatibility name (the original pgqrs): ``count(dead_letters=True,
        min_read_ct=max_attempts)``.  Our dead letters are the messages dequeue moved here after
        ``Config.max_read_ct`` deliveries; the original counted any archived message read that
        often."""
        return await self.count(dead_letters=True, min_read_ct=max_attempts)

    async def list_dlq_messages(
        self, max_attempts: int, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> builtins.list[ArchivedMessage]:
        """Compatibility name (the original pgqrs): ``list(dead_letters=True,
        min_read_ct=max_attempts, ...)``, ordered by archive id (see :meth:`dlq_count`)."""
        return await self.list(
            dead_letters=True, min_read_ct=max_attempts, limit=limit, offset=offset
        )

    async def _filters(
        self,
        queue: str | None,
        dead_letters: bool | None,
        worker: int | None,
        min_read_ct: int | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dead": _kind(dead_letters),
            "worker_id": None if worker is None else check_id("worker", worker),
            "min_read_ct": (
                None
                if min_read_ct is None
                else check_int("min_read_ct", min_read_ct, minimum=0, maximum=MAX_READ_CT)
            ),
        }
        params["queue_id"] = await self._queue_id(queue)  # checked arguments first: no I/O
        return params

    async def get(self, id: int) -> ArchivedMessage:
        """The archived message with this archive id.

        Raises:
            MessageNotFoundError: no such archived message.
        """
        row = await self._db.one(
            self._sql.get_archived,
            {"id": check_id("id", id)},
            missing=lambda: MessageNotFoundError(id, table="archive"),
        )
        return ArchivedMessage.from_row(row)


def _kind(dead_letters: bool | None) -> bool | None:
    if dead_letters is not None and not isinstance(dead_letters, bool):
        raise ValidationError(f"dead_letters must be True, False or None, not {dead_letters!r}")
    return dead_letters
