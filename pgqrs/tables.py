"""Read access to the four pgqrs tables, for monitoring pages and operators.

Obtain them from :class:`~pgqrs.Admin` (``get_queues()``, ``get_workers()``, ``get_messages()``,
``get_archive()``).  Listings are ordered by id and paged with ``limit``/``offset``; the
``queue=`` filters take a queue name and raise :class:`~pgqrs.QueueNotFoundError` for an unknown
one.
"""

from __future__ import annotations

from typing import Any

from ._database import Database
from ._impl import core
from ._rows import CountRow
from ._sql import Queries, Statement
from ._validate import check_id, check_int, check_name
from .errors import MessageNotFoundError, QueueNotFoundError, ValidationError, WorkerNotFoundError
from .types import ArchivedMessage, QueueInfo, QueueMessage, WorkerInfo, WorkerStatus

__all__ = ["Archive", "Messages", "Queues", "Workers", "find_queue"]

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
        self, *, queue: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[QueueMessage]:
        """Messages ordered by id, optionally of one queue."""
        params = {"queue_id": await self._queue_id(queue)} | _page(limit, offset)
        return core.decode_messages(await self._db.fetch(self._sql.list_messages, params))

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

    ``dead_letters=True`` selects only dead letters, ``False`` only normal archives, ``None``
    (the default) both.
    """

    async def count(self, *, queue: str | None = None, dead_letters: bool | None = None) -> int:
        """Number of archived messages, optionally of one queue and/or of one kind."""
        params = {"queue_id": await self._queue_id(queue), "dead": _kind(dead_letters)}
        return await self._count(self._sql.count_archive, params)

    async def list(
        self,
        *,
        queue: str | None = None,
        dead_letters: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[ArchivedMessage]:
        """Archived messages ordered by archive id, optionally of one queue and/or kind."""
        params = {"queue_id": await self._queue_id(queue), "dead": _kind(dead_letters)}
        params |= _page(limit, offset)
        rows = await self._db.rows(self._sql.list_archive, params)
        return [ArchivedMessage.from_row(row) for row in rows]

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
