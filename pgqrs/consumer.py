"""Consumers lease messages from a queue and acknowledge them by archiving or deleting."""

from __future__ import annotations

from collections.abc import Iterable

from ._impl import core
from ._validate import check_count, check_ids, check_int, check_seconds
from ._worker import Worker
from .types import QueueMessage

__all__ = ["Consumer"]


class Consumer(Worker):
    """Dequeues messages from one queue, registered as the worker ``(hostname, port)``.

    Delivery is at least once: a dequeued message is leased until its ``vt``; if it is neither
    archived nor deleted by then it becomes visible again and its ``read_ct`` grows.  Only the
    lease holder may archive, delete or extend a leased message.

    The constructor does no I/O; the first call connects and registers the worker.  Arguments as
    for :class:`~pgqrs.Producer`.
    """

    async def dequeue(self) -> list[QueueMessage]:
        """Lease up to ``Config.dequeue_batch_size`` visible messages for
        ``Config.lock_seconds``.

        Returns:
            The leased messages in id order; an empty list when none is visible.
        """
        return await self.dequeue_many(self._config.dequeue_batch_size)

    async def dequeue_many(
        self, count: int, lock_seconds: float | None = None
    ) -> list[QueueMessage]:
        """Lease up to ``count`` visible messages.

        Concurrent consumers never receive the same message while its lease is valid
        (``FOR UPDATE SKIP LOCKED``).

        Args:
            count: most messages to return (at least 1).
            lock_seconds: lease length; ``None`` means ``Config.lock_seconds``.

        Raises:
            ValidationError: ``count`` is not positive or ``lock_seconds`` is negative.
            QueueNotFoundError: the queue does not exist.
        """
        count = check_count("count", count)
        lock = (
            self._config.lock_seconds
            if lock_seconds is None
            else check_seconds("lock_seconds", lock_seconds)
        )
        if self._worker_id is None:
            await self._register()
        rows = await self._fetch(
            self._sql.dequeue,
            {
                "queue_id": self._queue_id,
                "count": count,
                "lock_seconds": lock,
                "worker_id": self._worker_id,
            },
        )
        return core.decode_messages(rows)

    async def archive(self, message_id: int) -> bool:
        """Acknowledge a message by moving it to the archive.

        Returns:
            ``True`` if archived; ``False`` if it is not in this queue or is leased by another
            worker.
        """
        return (await self.archive_many([message_id]))[0]

    async def archive_many(self, message_ids: Iterable[int]) -> list[bool]:
        """Archive several messages in one statement; one flag per id, in input order."""
        return await self._acknowledge(self._sql.archive_messages, message_ids)

    async def delete(self, message_id: int) -> bool:
        """Acknowledge a message by deleting it (no archive copy).  A message that is not
        leased may be deleted by anyone: this also cancels a delayed message.

        Returns:
            ``True`` if deleted; ``False`` if absent or leased by another worker.
        """
        return (await self.delete_many([message_id]))[0]

    async def delete_many(self, message_ids: Iterable[int]) -> list[bool]:
        """Delete several messages in one statement; one flag per id, in input order."""
        return await self._acknowledge(self._sql.delete_messages, message_ids)

    async def extend_visibility(self, message_id: int, seconds: float) -> bool:
        """Extend this worker's lease on a message by ``seconds`` (from its current deadline,
        or from now if the lease already lapsed).

        Returns:
            ``True`` if extended; ``False`` if the message is gone or leased by another worker.
        """
        message_id = check_int("message_id", message_id, minimum=0)
        seconds = check_seconds("seconds", seconds)
        if self._worker_id is None:
            await self._register()
        rows = await self._fetch(
            self._sql.extend_visibility,
            {
                "id": message_id,
                "seconds": seconds,
                "queue_id": self._queue_id,
                "worker_id": self._worker_id,
            },
        )
        return bool(rows)

    async def _acknowledge(self, query: bytes, message_ids: Iterable[int]) -> list[bool]:
        ids = check_ids(message_ids)
        if not ids:
            return []
        if self._worker_id is None:
            await self._register()
        rows = await self._fetch(
            query, {"ids": ids, "queue_id": self._queue_id, "worker_id": self._worker_id}
        )
        done = set(core.decode_ids(rows))
        return [message_id in done for message_id in ids]
