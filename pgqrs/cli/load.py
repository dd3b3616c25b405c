"""``pgqrs message enqueue QUEUE --file PATH|-``: a JSON-lines file (or stdin) onto a queue.

One JSON value per line, blank lines skipped.  The lines are parsed and enqueued in batches of
``--batch-size`` with :meth:`Producer.enqueue_batch` (binary COPY, one transaction per batch).
While one batch travels, the next is parsed in the gaps where the event loop waits for the
server, so memory holds two batches at most, whatever the size of the file.

A bad line (not JSON, or a payload the batch refuses) stops the load.  The batches committed
before the one holding it stay enqueued; that batch stores nothing, nor does anything after it.
The error names the line, how many messages were enqueued, and the line to resume from
(``tail -n +N``), so a fixed file can be loaded on without duplicates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from ..errors import PgqrsConnectionError, PgqrsError
from ..producer import Producer
from ._common import CommandError

__all__ = ["DEFAULT_BATCH", "BadLineError", "Batch", "JsonLines", "Loaded", "Progress", "load"]

#: Lines per batch: ``enqueue_batch`` runs at the speed of a raw COPY from 1,000 messages on.
DEFAULT_BATCH = 1000

#: Lines parsed between two yields to the event loop, so the batch in flight moves on as soon
#: as the server answers (about 0.15 ms of parsing for small payloads).
PARSE_SLICE = 256


class BadLineError(CommandError):
    """A line of the file could not be enqueued; nothing from its batch on was stored."""

    def __init__(self, message: str, *, line: int, loaded: int, resume_line: int) -> None:
        super().__init__(message)
        #: The line at fault (1-based).
        self.line = line
        #: Messages enqueued before it.
        self.loaded = loaded
        #: The first line not enqueued: where a fixed file resumes.
        self.resume_line = resume_line


@dataclass(slots=True)
class Batch:
    """Payloads parsed from the lines ``first_line`` to ``last_line``."""

    first_line: int
    last_line: int = 0
    payloads: list[Any] = field(default_factory=list)
    #: Numbers of the blank lines in between (rare), to map a payload's index to its line.
    blank_lines: list[int] = field(default_factory=list)
    #: Bytes of the stream read by the end of the batch (``None``: not seekable, e.g. a pipe).
    offset: int | None = None

    def line_of(self, index: int) -> int:
        """The line holding ``payloads[index]``."""
        line = self.first_line + index
        for blank in self.blank_lines:
            if blank <= line:
                line += 1
        return line


class _BadJson(Exception):
    def __init__(self, line: int, detail: str, batch: Batch) -> None:
        super().__init__(detail)
        self.line = line
        self.batch = batch


class JsonLines:
    """Reads a JSON-lines stream one batch at a time, counting lines."""

    def __init__(self, stream: IO[bytes], batch_size: int) -> None:
        self._stream = stream
        self._lines: Iterator[bytes] = iter(stream)
        self._size = batch_size
        self._seekable = stream.seekable()
        #: Lines read so far.
        self.lines = 0

    async def next_batch(self) -> Batch:
        """The next ``batch_size`` payloads (fewer at the end of the stream, none after it),
        yielding to the event loop every :data:`PARSE_SLICE` lines.

        Raises:
            _BadJson: a line is not JSON; the batch read so far comes with it.
        """
        batch = Batch(self.lines + 1)
        more = True
        while more and len(batch.payloads) < self._size:
            # Yield first: the batch just handed to enqueue_batch gets its statement out, and
            # its answers are read between slices.
            await asyncio.sleep(0)
            more = self._parse(batch, min(self._size, len(batch.payloads) + PARSE_SLICE))
        batch.last_line = self.lines
        batch.offset = self._stream.tell() if self._seekable else None
        return batch

    def _parse(self, batch: Batch, until: int) -> bool:
        """Parse lines into ``batch`` until it holds ``until`` payloads.

        Returns:
            ``False`` at the end of the stream.
        """
        payloads = batch.payloads
        append, loads = payloads.append, orjson.loads
        line = self.lines
        try:
            for raw in self._lines:
                line += 1
                try:
                    append(loads(raw))
                except orjson.JSONDecodeError as exc:
                    if raw.strip():
                        batch.last_line = line - 1
                        raise _BadJson(line, str(exc), batch) from None
                    batch.blank_lines.append(line)
                    continue
                if len(payloads) == until:
                    return True
            return False
        finally:
            self.lines = line


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a load did: messages enqueued, lines read, seconds taken."""

    messages: int
    lines: int
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


#: Called after each committed batch with the messages loaded so far and that batch.
Progress = Callable[[int, Batch], None]


async def load(
    producer: Producer,
    stream: IO[bytes],
    *,
    batch_size: int = DEFAULT_BATCH,
    delay_seconds: float = 0.0,
    progress: Progress | None = None,
) -> Loaded:
    """Enqueue every JSON line of ``stream`` with ``producer``, batch by batch.

    Raises:
        BadLineError: a line is not JSON or its payload was refused (see the module's text).
        CommandError: the database refused a batch for another reason (the queue is gone, the
            server is down); the message says what was enqueued before.
    """
    reader = JsonLines(stream, batch_size)
    started = time.perf_counter()
    loaded = 0
    try:
        batch = await reader.next_batch()
    except _BadJson as bad:
        raise _bad_line(bad.line, f"not valid JSON ({bad})", loaded, bad.batch) from None
    while batch.payloads:
        sending = asyncio.ensure_future(
            producer.enqueue_batch(batch.payloads, delay_seconds=delay_seconds)
        )
        try:
            following = await reader.next_batch()
        except _BadJson as bad:
            await _sent(sending, loaded, batch)
            loaded += len(batch.payloads)
            raise _bad_line(bad.line, f"not valid JSON ({bad})", loaded, bad.batch) from None
        except BaseException:
            sending.cancel()
            raise
        await _sent(sending, loaded, batch)
        loaded += len(batch.payloads)
        if progress is not None:
            progress(loaded, batch)
        batch = following
    return Loaded(loaded, reader.lines, time.perf_counter() - started)


async def _sent(sending: asyncio.Future[list[int]], loaded: int, batch: Batch) -> None:
    try:
        await sending
    except PgqrsError as exc:
        raise _refused(exc, loaded, batch) from exc


def _resume(loaded: int, batch: Batch, exc: PgqrsError | None = None) -> str:
    first = batch.first_line
    before = (
        f"{loaded:,} messages (lines 1-{first - 1}) were enqueued before its batch"
        if loaded
        else "nothing was enqueued before it"
    )
    if isinstance(exc, PgqrsConnectionError):
        # The commit may have happened before the connection broke: say so, never guess.
        return (
            f"{before}; the batch of lines {first}-{batch.last_line} may or may not have been "
            "stored (look with `pgqrs message list`), nothing after it was"
        )
    return f"{before}, nothing from line {first} on: resume from line {first} (tail -n +{first})"


def _bad_line(line: int, what: str, loaded: int, batch: Batch) -> BadLineError:
    return BadLineError(
        f"line {line}: {what}; {_resume(loaded, batch)}",
        line=line,
        loaded=loaded,
        resume_line=batch.first_line,
    )


def _refused(exc: PgqrsError, loaded: int, batch: Batch) -> CommandError:
    """The error of a refused batch: which line, when the error names a payload, and what was
    enqueued before."""
    index = getattr(exc, "index", None)
    if isinstance(index, int):
        return _bad_line(batch.line_of(index), str(exc), loaded, batch)
    lines = f"lines {batch.first_line}-{batch.last_line}"
    return CommandError(f"the batch of {lines} failed: {exc}; {_resume(loaded, batch, exc)}")
