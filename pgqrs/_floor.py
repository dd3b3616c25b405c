"""Where a consumer's dequeue starts its walk of the queue's ``(queue_id, vt)`` index.

Dequeue asks for the visible messages in ``vt`` order, so it walks the index from the lowest
``vt`` of the queue.  Every message that passed through leaves index entries below now: the
version its lease replaced, and after its acknowledgement the lease's own.  Vacuum removes
them, and scans that meet them skip them cheaply once their rows are dead to every snapshot;
while a long transaction holds back vacuum, neither happens, so each dequeue would step over
every entry left since that transaction began (measured: archiving fell to 0.03x of the offered
rate within two minutes of a held ``REPEATABLE READ``; docs/retention.md).

A :class:`ScanFloor` remembers a ``vt`` below which this consumer has already taken every
message, and dequeue passes it as the lower bound of its index range, so a dequeue walks only
what changed since the consumer's previous one.  The bound is set ``MARGIN`` below what the
consumer saw: a message can become visible with a ``vt`` below the bound only if the
transaction that wrote it committed more than ``MARGIN`` after it started (a very large COPY
batch, an ``enqueue(conn=...)`` in a caller's long transaction), or if a concurrent dequeue
that had locked it rolled back.  For those, the consumer sweeps: now and then it dequeues
without a bound (the first dequeue of every consumer is one), as often as every
``SWEEP_MIN_SECONDS`` while a sweep is cheap, and never spending more than
``1 / SWEEP_FACTOR`` of its time on sweeps while a held horizon makes them expensive.  No
message is lost or leased twice either way; a straggler waits at most until the next sweep.

Time is the database's (``vt`` is compared with the server's ``now()``): the floor follows the
server timestamps dequeue returns, and between them the client's monotonic clock, which
underestimates the server's time (the round trip only adds to it), so the floor errs low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

from .types import QueueMessage

__all__ = ["MARGIN", "SWEEP_FACTOR", "SWEEP_MIN_SECONDS", "ScanBound", "ScanFloor"]

#: How long after it started a transaction may commit a message and still be found without a
#: sweep.  Each second of margin costs a dequeue under a held horizon a walk over about two
#: index entries per message that arrived in that second.
MARGIN = timedelta(seconds=1)
#: The shortest time between two sweeps of one consumer.
SWEEP_MIN_SECONDS = 1.0
#: A sweep waits at least this many times the duration of the previous one.
SWEEP_FACTOR = 50.0


@dataclass(frozen=True, slots=True)
class ScanBound:
    """The bound one dequeue is sent with (``value`` ``None``: a sweep) and when."""

    value: datetime | None
    sent: float

    @property
    def sweep(self) -> bool:
        return self.value is None


class ScanFloor:
    """The lower ``vt`` bound of one consumer's dequeues.  Concurrent dequeues of one consumer
    are fine: each reports on its own :class:`ScanBound`, and every bound it learns holds."""

    __slots__ = ("_anchor", "_floor", "_next_sweep")

    def __init__(self) -> None:
        self._floor: datetime | None = None
        #: A database timestamp and the monotonic time it was known at.
        self._anchor: tuple[datetime, float] | None = None
        self._next_sweep = 0.0

    @property
    def value(self) -> datetime | None:
        """The floor as it stands (``None`` until the first dequeue)."""
        return self._floor

    def anchor(self, server_time: datetime) -> None:
        """Learn the database's time: ``server_time`` is current now, or was a moment ago."""
        self._anchor = (server_time, monotonic())

    def bound(self) -> ScanBound:
        """The bound for the dequeue about to be sent."""
        sent = monotonic()
        if self._floor is None or sent >= self._next_sweep:
            return ScanBound(None, sent)
        return ScanBound(self._floor, sent)

    def update(self, bound: ScanBound, messages: Sequence[QueueMessage], count: int) -> None:
        """Move the floor after the dequeue sent with ``bound`` returned ``messages`` (it
        asked for ``count``).

        Every visible message not returned that the dequeue could have taken lies at or
        above the highest ``vt`` it took, which is at least the highest ``enqueued_at``
        returned (``vt`` never precedes ``enqueued_at``); when it returned fewer than
        ``count``, nothing visible was left below its own time.  The caller leaves the dead
        letters the dequeue picked out of ``count``: a dequeue that picked only dead letters
        (``count`` 0) says nothing about what is left, and leaves the floor where it was.
        """
        sent, received = bound.sent, monotonic()
        if messages:
            server_now = messages[0].dequeued_at
            assert server_now is not None, "dequeue sets dequeued_at"
            self._anchor = (server_now, received)
            seen = server_now if len(messages) < count else max(m.enqueued_at for m in messages)
        elif self._anchor is not None and count > 0:
            known, at = self._anchor
            seen = known + timedelta(seconds=max(0.0, sent - at))
        else:
            seen = None
        if seen is not None:
            candidate = seen - MARGIN
            # A sweep walked from the lowest vt, so its bound holds for the whole queue and
            # may lower the floor (a large batch that committed late lies below it); a bounded
            # dequeue only knows its own range.
            if bound.sweep or self._floor is None or candidate > self._floor:
                self._floor = candidate
        if bound.sweep:
            took = received - sent
            self._next_sweep = received + max(SWEEP_MIN_SECONDS, SWEEP_FACTOR * took)
