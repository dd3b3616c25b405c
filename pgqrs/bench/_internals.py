"""Everything the benchmarks take from pgqrs's private modules, in one place.

The raw baselines run pgqrs's own SQL statements by hand, the core comparisons call both core
implementations directly, and the small-batch crossover drives the producer's two write paths
one at a time.  None of that is public API, so when the library's internals change this is the
one module to adapt; the scenarios use only what it exports.
"""

from __future__ import annotations

import importlib
import re
import struct
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

import orjson

from .. import _core_py
from .._sql import queries_for
from ..config import Config
from ..producer import SMALL_BATCH_MAX, Producer

__all__ = [
    "SMALL_BATCH_MAX",
    "DrainStatements",
    "WritePath",
    "compiled_core",
    "decode_call",
    "encode_call",
    "enqueue_copy",
    "enqueue_statement",
    "python_core",
]

_PARAM = re.compile(rb"%\((\w+)\)[sbt]")


def _statement_params(name: str, statement: bytes, **known: Any) -> dict[str, Any]:
    """The parameters ``statement`` names, taken from ``known`` (the values pgqrs passes).

    The raw baselines run pgqrs's own statements, which evolve with the library; a parameter
    the benchmark does not know about fails here by name instead of as a psycopg error.
    """
    wanted = {m.decode() for m in _PARAM.findall(statement)}
    unknown = wanted - known.keys()
    if unknown:
        raise RuntimeError(
            f"pgqrs.bench: the {name!r} statement takes {sorted(unknown)}, which the raw "
            "baseline does not supply: update pgqrs/bench/_internals.py to pass what pgqrs passes"
        )
    return {key: known[key] for key in wanted}


class DrainStatements:
    """pgqrs's ``dequeue`` and ``archive_messages`` statements for a raw consumer loop, with
    the parameters pgqrs passes them (default lease and dead-letter limit)."""

    def __init__(self, schema: str, queue_id: int, batch: int) -> None:
        queries = queries_for(schema)
        self.dequeue, self.archive = queries.dequeue.sql, queries.archive_messages.sql
        self._queue_id, self._batch = queue_id, batch
        columns = queries.dequeue.columns
        assert columns is not None, "dequeue declares its result columns"
        self._id_column = columns.index("id")
        # Checked once here, so the timed loop passes a plain dict (psycopg ignores extra keys).
        _statement_params("archive_messages", self.archive, ids=[], queue_id=0, worker_id=0)

    def lease(self, worker_id: int) -> dict[str, Any]:
        """The ``dequeue`` parameters for the consumer ``worker_id``."""
        return _statement_params(
            "dequeue",
            self.dequeue,
            queue_id=self._queue_id,
            count=self._batch,
            lock_seconds=Config().lock_seconds,
            worker_id=worker_id,
            max_read_ct=Config().max_read_ct,
            floor=None,  # the statement as written: walks the index from the lowest vt
        )

    def message_id(self, row: Sequence[Any]) -> Any:
        """The message id in a row the ``dequeue`` statement returned."""
        return row[self._id_column]

    def ack(self, ids: list[Any], worker_id: int) -> dict[str, Any]:
        """The ``archive_messages`` parameters for ``ids`` leased by ``worker_id``."""
        return {"ids": ids, "queue_id": self._queue_id, "worker_id": worker_id}


WritePath = Callable[[Sequence[Any]], Awaitable[list[int]]]


def enqueue_statement(producer: Producer) -> WritePath:
    """The producer's one-statement write path (what ``enqueue_batch`` takes for batches up to
    ``SMALL_BATCH_MAX``), for any batch size."""
    return lambda payloads: producer._enqueue_rows(payloads, 0.0)


def enqueue_copy(producer: Producer) -> WritePath:
    """The producer's COPY transaction (what ``enqueue_batch`` takes above
    ``SMALL_BATCH_MAX``), for any batch size."""
    return lambda payloads: producer._enqueue_copy(payloads, 0.0)


def python_core() -> ModuleType:
    """The pure-Python core, ``pgqrs._core_py``."""
    return _core_py


def compiled_core() -> ModuleType | None:
    """``pgqrs._core`` if the compiled core is built and importable, else ``None``."""
    try:
        return importlib.import_module("pgqrs._core")
    except ImportError:
        return None


def encode_call(core: ModuleType, payloads: Sequence[Any]) -> Callable[[], object]:
    """A call encoding ``payloads`` into one COPY chunk with ``core``'s ``CopyEncoder``."""
    ids = list(range(1_000_000, 1_000_000 + len(payloads)))
    encoder = core.CopyEncoder(3, 7, 817_000_000_000_000, 817_000_000_000_000, 8 * 1024 * 1024)

    def once() -> object:
        return encoder.encode(payloads, ids, 0, 1 << 40)

    return once


def decode_call(core: ModuleType, payloads: Sequence[Any]) -> Callable[[], object]:
    """A call decoding raw dequeue rows of ``payloads`` into messages with ``core``."""
    raw = _raw_message_rows(payloads)
    decode = core.decode_messages

    def once() -> object:
        return decode(raw)

    return once


def _raw_message_rows(payloads: Sequence[Any]) -> list[tuple[bytes | None, ...]]:
    """Raw binary rows as the ``dequeue`` statement returns them, one per payload, in the
    column order the core reads (``MESSAGE_COLUMNS``).

    The timestamps repeat across rows because that is what a dequeue of a batch-enqueued queue
    returns: one ``enqueued_at`` per enqueued batch, one ``vt`` and ``dequeued_at`` per dequeue.
    """
    now = 817_000_000_000_000  # microseconds since 2000-01-01: late 2025

    def i8(value: int) -> bytes:
        return struct.pack(">q", value)

    rows: list[tuple[bytes | None, ...]] = []
    for n, payload in enumerate(payloads):
        value = {
            "id": i8(5_000_000 + n),
            "queue_id": i8(3),
            "payload": b"\x01" + orjson.dumps(payload),
            "enqueued_at": i8(now),
            "vt": i8(now + 30_000_000),
            "read_ct": struct.pack(">i", 1),
            "dequeued_at": i8(now + 1_000),
            "producer_worker_id": i8(7),
            "consumer_worker_id": i8(8),
        }
        rows.append(tuple(value[column] for column in _core_py.MESSAGE_COLUMNS))
    return rows
