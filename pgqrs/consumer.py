"""Consumers lease messages from a queue and acknowledge them by archiving or deleting, or
give them back with ``release``; ``consume`` runs a whole production loop around a handler."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from ._coalesce import Coalescer
from ._consume import ConsumeLoop, Handler, LoopSettings, check_handler
from ._floor import ScanFloor
from ._impl import core
from ._rows import IdRow
from ._sql import Statement
from ._validate import check_count, check_id, check_ids, check_seconds
from ._worker import Worker
from .errors import ValidationError, WorkerError
from .types import QueueMessage, WorkerStatus

__all__ = ["Consumer"]

#: Concurrent single acknowledgements sent together, at most this many per statement.
ACK_GROUP_MAX = 1000

log = logging.getLogger("pgqrs")


class Consumer(Worker):
    """Dequeues messages from one queue, registered as the worker ``(hostname, port)``.

    Delivery is at least once: a dequeued message is leased until its ``vt``; if it is neither
    archived nor deleted by then it becomes visible again and its ``read_ct`` grows.  Only the
    lease holder may archive, delete or extend a leased message.

    The constructor does no I/O; the first call connects and registers the worker.  Arguments as
    for :class:`~pgqrs.Producer`.
    """

    kind = "consumer"

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

        Visible messages already delivered ``Config.max_read_ct`` times are not returned:
        this call moves them to the archive as dead letters (they count against ``count``).

        Raises:
            ValidationError: ``count`` is not positive or ``lock_seconds`` is negative.
            QueueNotFoundError: the queue does not exist.
            WorkerError: the consumer is suspended (see :meth:`suspend`), or another live
                process holds its identity.
        """
        count = check_count("count", count)
        lock = self._lock_seconds(lock_seconds)
        await self._ready()
        if self._status is WorkerStatus.SUSPENDED:
            raise WorkerError(
                f"Consumer {self._identity()} is suspended; call resume() to dequeue again"
            )
        return await self._lease(count, lock)

    async def dequeue_batch(self, limit: int) -> list[QueueMessage]:
        """Compatibility name (the original pgqrs): ``dequeue_many(limit)``."""
        return await self.dequeue_many(check_count("limit", limit))

    async def dequeue_batch_with_delay(self, limit: int, vt_seconds: float) -> list[QueueMessage]:
        """Compatibility name (the original pgqrs): ``dequeue_many(limit,
        lock_seconds=vt_seconds)``."""
        return await self.dequeue_many(
            check_count("limit", limit), check_seconds("vt_seconds", vt_seconds)
        )

    def _lock_seconds(self, lock_seconds: float | None) -> float:
        if lock_seconds is None:
            return self._config.lock_seconds
        return check_seconds("lock_seconds", lock_seconds)

    @functools.cached_property
    def _floor(self) -> ScanFloor:
        """Where this consumer's dequeues start their index walk (see ``pgqrs._floor``)."""
        return ScanFloor()

    async def _register(self) -> None:
        await super()._register()
        if self._started_at is not None:  # the database's time, a moment ago
            self._floor.anchor(self._started_at)

    async def _lease(self, count: int, lock: float) -> list[QueueMessage]:
        bound = self._floor.bound()
        max_read_ct = self._config.max_read_ct
        params = {
            "count": count,
            "lock_seconds": lock,
            "max_read_ct": max_read_ct,
            "floor": None if bound.value is None else bound.value.timestamp(),
        }
        rows = await self._run(self._sql.dequeue, params)
        # Dead letters come first, with a NULL payload; they count against ``count``.
        dead = 0
        while dead < len(rows) and rows[dead][2] is None:
            dead += 1
        if dead:
            ids = core.decode_ids(rows[:dead])
            await self._run(self._sql.bury_dead_letters, {"ids": ids, "max_read_ct": max_read_ct})
            rows = rows[dead:]
        messages = core.decode_messages(rows)
        self._floor.update(bound, messages, count - dead)
        return messages

    async def archive(self, message_id: int) -> bool:
        """Acknowledge a message by moving it to the archive.

        Concurrent calls on one consumer (handlers running side by side) share a statement and
        a commit, as concurrent enqueues do; each gets its own answer.

        Returns:
            ``True`` if archived; ``False`` if it is not in this queue or is leased by another
            worker.
        """
        return await self._acknowledge_one(self._sql.archive_messages, message_id)

    async def archive_many(self, message_ids: Iterable[int]) -> list[bool]:
        """Archive several messages in one statement; one flag per id, in input order."""
        return await self._acknowledge(self._sql.archive_messages, message_ids)

    #: Compatibility name (the original pgqrs) of :meth:`archive_many`.
    archive_batch = archive_many

    async def delete(self, message_id: int) -> bool:
        """Acknowledge a message by deleting it (no archive copy).  A message that is not
        leased may be deleted by anyone: this also cancels a delayed message.

        Returns:
            ``True`` if deleted; ``False`` if absent or leased by another worker.  Concurrent
            calls share statements as :meth:`archive`'s do.
        """
        return await self._acknowledge_one(self._sql.delete_messages, message_id)

    async def delete_many(self, message_ids: Iterable[int]) -> list[bool]:
        """Delete several messages in one statement; one flag per id, in input order."""
        return await self._acknowledge(self._sql.delete_messages, message_ids)

    async def extend_visibility(
        self,
        message_id: int,
        seconds: float | None = None,
        *,
        extension_seconds: float | None = None,
    ) -> bool:
        """Extend this worker's lease on a message by ``seconds`` (from its current deadline,
        or from now if the lease already lapsed and nobody else took the message since).

        Args:
            message_id: a message this consumer dequeued.
            seconds: how far to move the deadline.
            extension_seconds: compatibility name (the original pgqrs) of ``seconds``; give
                one of the two.

        Returns:
            ``True`` if extended.  ``False`` if this consumer is not the message's lease holder:
            the message is gone, was never delivered, was released, or was last leased by
            another consumer.

        Raises:
            ValidationError: a bad id, a negative extension, or neither or both of ``seconds``
                and ``extension_seconds``.
        """
        message_id = check_id("message_id", message_id)
        if (seconds is None) == (extension_seconds is None):
            raise ValidationError("give the extension once: seconds or extension_seconds")
        seconds = (
            check_seconds("seconds", seconds)
            if extension_seconds is None
            else check_seconds("extension_seconds", extension_seconds)
        )
        params = {"id": message_id, "seconds": seconds}
        return bool(await self._run(self._sql.extend_visibility, params))

    async def release(self, message_id: int, delay_seconds: float = 0) -> bool:
        """Give a leased message back (a negative acknowledgement): it becomes visible again
        now, or after ``delay_seconds``, for any consumer.  Its ``read_ct`` is kept, so
        repeated failures still end in the dead-letter archive.

        Args:
            message_id: a message this consumer leased.
            delay_seconds: how long it stays invisible (0: visible at once).

        Returns:
            ``True`` if released; ``False`` if it is gone or another consumer holds it.

        Raises:
            ValidationError: a bad id or a negative delay.
        """
        return (await self.release_many([check_id("message_id", message_id)], delay_seconds))[0]

    async def release_many(
        self, message_ids: Iterable[int], delay_seconds: float = 0
    ) -> list[bool]:
        """:meth:`release` for several messages in one statement; one flag per id, in input
        order."""
        ids = check_ids(message_ids)
        delay = check_seconds("delay_seconds", delay_seconds)
        return await self._release(ids, [delay] * len(ids))

    async def _release(self, ids: list[int], delays: list[float]) -> list[bool]:
        return await self._acknowledge(self._sql.release_messages, ids, delays=delays)

    @contextlib.asynccontextmanager
    async def keep_leased(
        self, message_ids: Iterable[int], *, lock_seconds: float | None = None
    ) -> AsyncIterator[None]:
        """Keep this consumer's leases on ``message_ids`` alive while the block runs.

        A background task renews them to ``lock_seconds`` from now at every half lease, so a
        handler may run longer than the lease while a crashed process's messages still come
        back within one lease.  Messages archived, deleted or released inside the block
        simply stop being renewed.  Use it as ``async with consumer.keep_leased(ids): ...``.

        Args:
            message_ids: messages this consumer leased.
            lock_seconds: lease length to keep (``None``: ``Config.lock_seconds``).

        Raises:
            ValidationError: bad ids or a lease that is not positive.
        """
        ids = check_ids(message_ids)
        lock = check_seconds(
            "lock_seconds",
            self._config.lock_seconds if lock_seconds is None else lock_seconds,
            positive=True,
        )
        await self._ready()
        task = asyncio.get_running_loop().create_task(self._renew_forever(ids, lock))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_forever(self, ids: list[int], lock: float) -> None:
        held = ids
        while held:
            # Half the lease: one renewal may be late by up to half a lease and still land.
            await asyncio.sleep(lock / 2)
            try:
                rows = await self._run(self._sql.renew_leases, {"ids": held, "lock_seconds": lock})
            except Exception as exc:
                log.warning("pgqrs: renewing leases of %r failed: %s", self, exc)
                continue
            renewed = set(core.decode_ids(rows))
            held = [message_id for message_id in held if message_id in renewed]

    async def _leases_held(self) -> int:
        (row,) = self._sql.count_leases.read(await self._run(self._sql.count_leases, {}))
        return core.decode_int8(row.total)

    async def _release_all(self) -> int:
        (row,) = self._sql.release_leases.read(await self._run(self._sql.release_leases, {}))
        return core.decode_int8(row.total)

    async def consume(
        self,
        handler: Handler,
        *,
        batch_size: int = 100,
        lock_seconds: float | None = None,
        concurrency: int = 1,
        auto_extend: bool = False,
        stop: asyncio.Event | None = None,
        retry_delay: float = 1.0,
        max_retry_delay: float = 300.0,
    ) -> int:
        """Run ``handler`` on every message of the queue until ``stop`` is set or the task is
        cancelled.

        The loop leases up to ``batch_size`` messages, runs the handler on each (up to
        ``concurrency`` at a time), archives those whose handler returned and releases those
        whose handler raised, with a delay of ``retry_delay * 2 ** (read_ct - 1)`` seconds
        capped at ``max_retry_delay`` (after ``Config.max_read_ct`` deliveries the message is
        dead-lettered).  The acknowledgements of one batch travel while the next batch is
        dequeued.  On an empty queue it waits for a NOTIFY from a producer (``Config.listen``
        and ``Config.notify``) or polls, backing off from 10 ms to ``Config.poll_interval``.
        While the consumer is suspended it dequeues nothing.

        Stopping is graceful: when ``stop`` is set the current batch finishes and is
        acknowledged; on cancellation the handlers of the current batch are cancelled, the
        messages whose handler finished are archived (or released) and the others released,
        so each message is handled at least once and archived at most once.  To stop on a
        signal: ``loop.add_signal_handler(signal.SIGTERM, stop.set)``.

        Args:
            handler: ``async def handler(message) -> None`` (or an object with an async
                ``__call__``); raising means "retry later".  A plain function is refused: it
                would block the event loop; run blocking work with ``asyncio.to_thread``.
            batch_size: most messages leased at once.
            lock_seconds: lease length (``None``: ``Config.lock_seconds``).
            concurrency: handler calls running at once within a batch.
            auto_extend: keep the batch's leases alive while its handlers run (see
                :meth:`keep_leased`), for handlers that may outlast the lease.
            stop: an event that ends the loop after the current batch.
            retry_delay: base of the exponential retry delay, in seconds.
            max_retry_delay: cap of the retry delay, in seconds.

        Returns:
            The number of messages handled successfully (and archived).

        Raises:
            ValidationError: a bad argument, or a handler that is not async.
            QueueNotFoundError: the queue does not exist.
            WorkerError: another live process holds the consumer's identity.
            PgqrsConnectionError: the database became unreachable (leases lapse, so nothing is
                lost).
        """
        loop = ConsumeLoop(
            self,
            check_handler(handler),
            LoopSettings(
                batch_size=check_count("batch_size", batch_size),
                lock=self._lock_seconds(lock_seconds),
                concurrency=check_count("concurrency", concurrency),
                auto_extend=bool(auto_extend),
                retry_delay=check_seconds("retry_delay", retry_delay),
                max_retry_delay=check_seconds("max_retry_delay", max_retry_delay),
            ),
            stop,
        )
        await self._ready()
        return await loop.run()

    @functools.cached_property
    def _acknowledgements(self) -> dict[str, Coalescer[int, bool]]:
        """Concurrent single acknowledgements of this consumer, by statement, sent together."""
        return {}

    async def _acknowledge_one(self, statement: Statement[IdRow], message_id: int) -> bool:
        message_id = check_id("message_id", message_id)
        group = self._acknowledgements.setdefault(statement.name, Coalescer(ACK_GROUP_MAX))

        async def one(item: int) -> bool:
            return (await self._acknowledge(statement, [item]))[0]

        async def together(items: Sequence[int]) -> list[bool | Exception]:
            done = await self._acknowledge(statement, list(dict.fromkeys(items)))
            # An id given twice is acknowledged once: only its first caller hears True.
            answered: set[int] = set()
            flags: list[bool | Exception] = []
            for item, ok in zip(items, _spread(items, done), strict=True):
                flags.append(ok and item not in answered)
                answered.add(item)
            return flags

        return await group.submit(message_id, one, together)

    async def _acknowledge(
        self, statement: Statement[IdRow], message_ids: Iterable[int], **extra: Any
    ) -> list[bool]:
        """Run an id-list statement; one flag per id, in input order."""
        ids = check_ids(message_ids)
        if not ids:
            return []
        rows = await self._run(statement, {"ids": ids, **extra})
        done = set(core.decode_ids(rows))
        return [message_id in done for message_id in ids]


def _spread(items: Sequence[int], unique_flags: list[bool]) -> list[bool]:
    """Flags of ``dict.fromkeys(items)`` spread back over ``items``."""
    by_id = dict(zip(dict.fromkeys(items), unique_flags, strict=True))
    return [by_id[item] for item in items]
