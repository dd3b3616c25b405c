"""What one churn run does: how long, at what offered rate, with how many producers and
consumers, and when the horizon holder is open."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...errors import ValidationError

__all__ = ["ChurnSettings"]


_STORAGE_NAME = re.compile(r"[a-z][a-z_]*")


def storage_parameter(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` (a number) as a storage parameter for :attr:`ChurnSettings.storage`."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not math.isfinite(number):
        raise ValidationError(f"storage parameter {text!r} is not NAME=NUMBER")
    return name.strip(), number


@dataclass(frozen=True)
class ChurnSettings:
    """One churn run.

    Attributes:
        minutes: how long the producers offer messages.
        interval: seconds per reported interval.
        rate: messages per second offered, all producers together (open loop: a producer
            that falls behind sends its late batches at once, so "in" shows what the server
            accepted).
        producers: producer tasks, each with its own ``Producer``.
        batch: messages per ``enqueue_batch`` call.
        consumers: ``Consumer.consume`` loops, each with its own ``Consumer``.
        consumer_batch: ``batch_size`` of each consume loop.
        holder: open a horizon holder (``REPEATABLE READ``, one read, then idle) mid-run.
        holder_start: minutes into the run the holder opens (default: a third of the run).
        holder_minutes: how long it stays open (default: a third of the run).
        archive_retention: seconds the archive keeps acknowledged messages
            (``Admin.set_retention``), so the producers' and consumers' own maintenance step
            prunes it during the run; ``None`` keeps the default (1 day: nothing is pruned).
        storage: storage parameters set on the live table before the run (``ALTER TABLE
            pgqrs_messages SET (name = value)``), to compare autovacuum settings run against
            run; empty: the table as ``install()`` made it.
        drain_seconds: after the producers stop, how long the consumers may take to empty
            the queue before the run counts what is left.
    """

    minutes: float = 3.0
    interval: float = 30.0
    rate: int = 4000
    producers: int = 2
    batch: int = 200
    consumers: int = 2
    consumer_batch: int = 100
    holder: bool = False
    holder_start: float | None = None
    holder_minutes: float | None = None
    archive_retention: float | None = None
    storage: tuple[tuple[str, float], ...] = ()
    drain_seconds: float = 120.0

    def __post_init__(self) -> None:
        for name in ("minutes", "interval", "drain_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValidationError(f"{name} must be a positive number of seconds/minutes")
        for name in ("rate", "producers", "batch", "consumers", "consumer_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        if self.minutes * 60 < self.interval:
            raise ValidationError("the run must last at least one interval")
        if self.holder and self.holder_window[1] > self.minutes:
            raise ValidationError("the holder must close before the producers stop")
        if self.archive_retention is not None and self.archive_retention < 2 * self.interval:
            # Each interval's output and latency are read from the archive after it ends.
            raise ValidationError("archive_retention must be at least two intervals")
        for name, _ in self.storage:
            if not _STORAGE_NAME.fullmatch(name):
                raise ValidationError(f"storage parameter {name!r} is not a parameter name")

    @property
    def intervals(self) -> int:
        """Reported intervals while the producers run."""
        return max(1, int(self.minutes * 60 // self.interval))

    @property
    def period(self) -> float:
        """Seconds between two batches of one producer."""
        return self.batch * self.producers / self.rate

    @property
    def holder_window(self) -> tuple[float, float]:
        """Minutes into the run the holder opens and closes."""
        start = self.minutes / 3 if self.holder_start is None else self.holder_start
        length = self.minutes / 3 if self.holder_minutes is None else self.holder_minutes
        return start, start + length
