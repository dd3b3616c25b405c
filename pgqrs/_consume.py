"""The loop behind :meth:`pgqrs.Consumer.consume`, one step per method.

A round is: :meth:`ConsumeLoop.next_batch` (lease messages, while the previous batch's
acknowledgements travel), :meth:`~ConsumeLoop.handle` (run the handler on each), then the
acknowledgements are sent in the background by :meth:`~ConsumeLoop.acknowledge`.  An empty
queue makes the loop :meth:`~ConsumeLoop.idle`; a suspended consumer waits in
:meth:`~ConsumeLoop.paused`; :meth:`~ConsumeLoop.finish` settles what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._listen import Listener, channel_name
from .errors import ValidationError
from .types import QueueMessage, WorkerStatus

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["MIN_POLL_SECONDS", "ConsumeLoop", "Handler", "LoopSettings", "check_handler"]

log = logging.getLogger("pgqrs")

#: First wait of a consume loop on an empty queue; doubles up to ``Config.poll_interval``.
MIN_POLL_SECONDS = 0.01

Handler = Callable[[QueueMessage], Awaitable[object]]


def check_handler(handler: object) -> Handler:
    """An async handler: a coroutine function, or an object whose ``__call__`` is one.

    A plain function is refused up front.  It would block the event loop (heartbeats, other
    handlers), and awaiting its result fails only after its side effects ran, so the message
    would be retried and the work done ``max_read_ct`` times.
    """
    # An instance with an async __call__ is not a coroutine function itself; its method is.
    method = None if inspect.isroutine(handler) else type(handler).__dict__.get("__call__")
    if not callable(handler) or not (
        inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(method)
    ):
        raise ValidationError(
            f"handler must be an async function (async def), not {handler!r}; run blocking "
            "work inside it with asyncio.to_thread"
        )
    return handler


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """The validated arguments of one ``consume`` call."""

    batch_size: int
    lock: float
    concurrency: int
    auto_extend: bool
    retry_delay: float
    max_retry_delay: float

    def retry_after(self, message: QueueMessage) -> float:
        """The release delay after a failed delivery: exponential in ``read_ct``, capped."""
        exponent = min(message.read_ct - 1, 64)  # 2.0**64 is already past any cap
        return min(self.max_retry_delay, self.retry_delay * 2.0**exponent)


class ConsumeLoop:
    """One run of ``Consumer.consume``: lease, handle, acknowledge, until stopped."""

    def __init__(
        self,
        consumer: Consumer,
        handler: Handler,
        settings: LoopSettings,
        stop: asyncio.Event | None,
    ) -> None:
        self._consumer = consumer
        self._handler = handler
        self._settings = settings
        self._stop = stop
        self._poll_interval = consumer.config.poll_interval
        self._listener: Listener | None = None
        self._wait = MIN_POLL_SECONDS
        #: The previous batch's acknowledgements, sent while the next batch is leased.
        self._settling: asyncio.Future[None] | None = None
        #: Messages handled successfully (and archived) so far.
        self.handled = 0

    async def run(self) -> int:
        """Loop until ``stop`` is set (after the current batch) or the task is cancelled.

        Returns:
            The number of messages handled successfully.
        """
        config = self._consumer.config
        if config.listen:
            queue_id = self._consumer._queue_id or 0  # registered before the loop starts
            self._listener = Listener(config, channel_name(config.schema, queue_id))
        try:
            while not self._stopped():
                if await self.paused():
                    continue
                messages = await self.next_batch()
                if messages:
                    await self.handle(messages)
                else:
                    await self.idle()
        finally:
            await self.finish()
        return self.handled

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def paused(self) -> bool:
        """While the consumer is suspended, wait one poll interval (or until stopped) instead
        of leasing; its heartbeat or ``resume()`` brings the status back.

        Returns:
            Whether the consumer was suspended.
        """
        if self._consumer._status is not WorkerStatus.SUSPENDED:
            return False
        await _wait(None, self._stop, self._poll_interval)
        return True

    async def next_batch(self) -> list[QueueMessage]:
        """Lease up to ``batch_size`` messages.  The previous batch's acknowledgements run
        meanwhile, on a second pooled connection."""
        if self._listener is not None:
            self._listener.event.clear()  # before the dequeue: a later NOTIFY wakes us
        lease = self._consumer._lease(self._settings.batch_size, self._settings.lock)
        settling, self._settling = self._settling, None
        if settling is None:
            return await lease
        # shield: a cancellation here must not cut the acknowledgement short.
        messages, _ = await asyncio.gather(lease, asyncio.shield(settling))
        return messages

    async def handle(self, messages: Sequence[QueueMessage]) -> None:
        """Run the handler on a batch, then start acknowledging it.  Cancelled mid-batch, it
        archives what finished and releases the rest before the cancellation goes on."""
        self._wait = MIN_POLL_SECONDS
        done: list[int] = []
        failed: list[tuple[int, float]] = []
        try:
            async with self._keep_leased(messages):
                await self._run_handlers(messages, done, failed)
        except BaseException:
            finished = set(done).union(message_id for message_id, _ in failed)
            failed += [(m.id, 0.0) for m in messages if m.id not in finished]
            await asyncio.shield(self.acknowledge(done, failed))
            raise
        self.handled += len(done)
        self._settling = asyncio.ensure_future(self.acknowledge(done, failed))

    def _keep_leased(
        self, messages: Sequence[QueueMessage]
    ) -> contextlib.AbstractAsyncContextManager[None]:
        lock = self._settings.lock
        if not self._settings.auto_extend or lock <= 0:
            return contextlib.nullcontext()
        return self._consumer.keep_leased([m.id for m in messages], lock_seconds=lock)

    async def _run_handlers(
        self,
        messages: Sequence[QueueMessage],
        done: list[int],
        failed: list[tuple[int, float]],
    ) -> None:
        """``concurrency`` runners share the batch.  ``done`` and ``failed`` grow as handlers
        finish, so a cancellation knows exactly which messages were handled."""
        pending = iter(messages)

        async def runner() -> None:
            for message in pending:
                try:
                    await self._handler(message)
                except Exception:
                    log.exception("pgqrs: handler failed on message %d", message.id)
                    failed.append((message.id, self._settings.retry_after(message)))
                else:
                    done.append(message.id)

        runners = min(self._settings.concurrency, len(messages))
        if runners == 1:
            await runner()
        else:
            await asyncio.gather(*(runner() for _ in range(runners)))

    async def acknowledge(self, done: list[int], failed: list[tuple[int, float]]) -> None:
        """Archive the handled messages and release the failed ones with their delays."""
        if done:
            await self._consumer.archive_many(done)
        if failed:
            await self._consumer._release([i for i, _ in failed], [d for _, d in failed])

    async def idle(self) -> None:
        """Wait for a NOTIFY (when listening) or the next poll, backing off from
        ``MIN_POLL_SECONDS`` to ``Config.poll_interval``."""
        listener = self._listener
        listening = listener is not None and await listener.ensure()
        event = listener.event if listening and listener is not None else None
        await _wait(event, self._stop, self._wait)
        self._wait = min(self._wait * 2, self._poll_interval)

    async def finish(self) -> None:
        """Settle the last batch's acknowledgements and stop listening."""
        try:
            if self._settling is not None:
                await asyncio.shield(self._settling)
        finally:
            if self._listener is not None:
                await self._listener.close()


async def _wait(event: asyncio.Event | None, stop: asyncio.Event | None, seconds: float) -> None:
    """Sleep up to ``seconds``, less if ``event`` or ``stop`` is set meanwhile."""
    events = [e for e in (event, stop) if e is not None]
    if not events:
        await asyncio.sleep(seconds)
        return
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
