"""Group commit in the client: concurrent calls share one statement and one commit.

A call that finds nothing in flight runs alone, at once, on its own path: a lone caller never
waits for a window.  Calls that arrive while a statement is in flight queue up and go together
in the next one (up to ``max_items``), as soon as it returns; each caller gets its own result
or its own error.

A caller cancelled while it waits in the queue is taken out: its item is never sent.  One
cancelled after its group was sent cannot be taken back: the statement completes (and commits)
for it too, and only the caller's knowledge of the result is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class _Round(Generic[T, R]):
    """The coalescer's state on one event loop."""

    __slots__ = ("busy", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.busy = False
        self.pending: list[tuple[T, asyncio.Future[R]]] = []


One = Callable[[T], Awaitable[R]]
Group = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]


class Coalescer(Generic[T, R]):
    """Runs ``one(item)`` for a lone call and ``group(items)`` for the calls that queued up
    meanwhile.

    The two are passed with each call rather than kept: the coalescer belongs to a client
    object, and holding its bound methods would make a cycle that keeps a dropped client alive
    until the garbage collector runs (its worker row would look held).

    Args:
        max_items: most items in one group.
    """

    def __init__(self, max_items: int) -> None:
        self._max_items = max_items
        self._round: _Round[T, R] | None = None

    def _current(self) -> _Round[T, R]:
        # State belongs to one loop: a client used from a new loop (a new asyncio.run) must not
        # wait for a flush that the old, stopped loop will never finish.
        loop = asyncio.get_running_loop()
        state = self._round
        if state is None or state.loop is not loop:
            state = self._round = _Round(loop)
        return state

    async def submit(self, item: T, one: One[T, R], group: Group[T, R]) -> R:
        """The result of ``item``, alone or with the calls that arrive meanwhile.

        Args:
            item: what this call sends.
            one: the path of a call that runs alone.
            group: runs several items in one statement; returns, per item and in order, its
                result or the error its caller raises.
        """
        state = self._current()
        if not state.busy:
            state.busy = True
            try:
                return await one(item)
            finally:
                self._drain(state, group)
        future: asyncio.Future[R] = state.loop.create_future()
        state.pending.append((item, future))
        return await future

    def _drain(self, state: _Round[T, R], group: Group[T, R]) -> None:
        """After a statement: send what queued up meanwhile, or become idle."""
        if state.pending:
            state.loop.create_task(self._flush(state, group))
        else:
            state.busy = False

    async def _flush(self, state: _Round[T, R], group: Group[T, R]) -> None:
        try:
            while True:
                taken = state.pending[: self._max_items]
                del state.pending[: self._max_items]
                live = [(item, future) for item, future in taken if not future.done()]
                if live:
                    await self._send(live, group)
                if not state.pending:
                    return
        finally:
            state.busy = False
            if state.pending:  # the flush itself failed hard (cancelled with its loop)
                for _, future in state.pending:
                    future.cancel()
                state.pending.clear()

    async def _send(self, live: list[tuple[T, asyncio.Future[R]]], group: Group[T, R]) -> None:
        try:
            outcomes: Sequence[R | Exception] = await group([item for item, _ in live])
        except Exception as exc:  # the whole group failed: every caller in it learns why
            outcomes = [exc] * len(live)
        except BaseException:  # the flush was cancelled (its loop is shutting down)
            for _, future in live:
                future.cancel()
            raise
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if future.done():  # its caller was cancelled after the group was sent
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
