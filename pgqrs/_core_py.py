"""Pure-Python twin of the compiled core (``_core.pyx``): the readable specification.

The core is pure computation: it turns payloads into PostgreSQL binary COPY rows and the raw
binary columns of the hot statements into :class:`QueueMessage` objects.  It does no I/O and
imports no psycopg.  Both implementations must produce byte-identical buffers, equal messages and
the same errors; ``tests/test_core.py`` holds them to it.

Binary formats used (PostgreSQL docs, "COPY", "Binary Format", and the types' send functions):

- COPY stream: 11-byte signature, int32 flags, int32 header-extension length, then per row an
  int16 field count and per field an int32 length (-1 for NULL) plus the value; int16 -1 ends it.
- ``int8``: 8 bytes big-endian; ``int4``: 4 bytes big-endian.
- ``timestamptz``: int64 microseconds since 2000-01-01 00:00 UTC.
- ``jsonb``: a version byte (1) followed by the JSON text.
- ``int8[]``: int32 ndim, int32 has-nulls flag, int32 element oid, then per dimension int32 size
  and int32 lower bound, then each element as int32 length plus value.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .errors import PayloadTooLargeError, SerializationError

__all__ = [
    "COPY_COLUMNS",
    "COPY_HEADER",
    "COPY_TRAILER",
    "MESSAGE_COLUMNS",
    "CopyEncoder",
    "QueueMessage",
    "decode_ids",
    "decode_int8",
    "decode_int8_array",
    "decode_jsonb",
    "decode_messages",
    "decode_timestamptz",
    "encode_jsonb",
]

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
#: Column order of every row the encoder writes; the COPY statement must name these.
COPY_COLUMNS = ("id", "queue_id", "payload", "vt", "enqueued_at", "producer_worker_id")
#: Column order of the rows ``decode_messages`` reads, which is also the field order of
#: :class:`QueueMessage`; every statement returning messages selects these.
MESSAGE_COLUMNS = (
    "id",
    "queue_id",
    "payload",
    "enqueued_at",
    "vt",
    "read_ct",
    "dequeued_at",
    "producer_worker_id",
    "consumer_worker_id",
)

JSONB_VERSION = 1
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_ROW_HEAD = struct.Struct(">hiqiqi")  # field count, id, queue_id, payload length
_INT8_FIELD = struct.Struct(">iq")
_NULL_FIELD = struct.pack(">i", -1)
_INT8 = struct.Struct(">q")
_INT4 = struct.Struct(">i")
_ARRAY_HEAD = struct.Struct(">iiiii")


class QueueMessage:
    """A message as stored in the queue, with its delivery state.

    Attributes:
        id: message id, unique across all queues of a schema.
        queue_id: id of the queue holding it.
        payload: the JSON value that was enqueued.
        enqueued_at: when it was enqueued (database clock, UTC).
        vt: visibility time: the message can be dequeued from then on; while leased, the end of
            the lease.
        read_ct: how many times it has been delivered.
        dequeued_at: time of the latest delivery, or ``None``.
        producer_worker_id: worker that enqueued it, if known.
        consumer_worker_id: worker holding (or last holding) its lease, if any.
    """

    __slots__ = MESSAGE_COLUMNS

    def __init__(
        self,
        id: int,
        queue_id: int,
        payload: Any,
        enqueued_at: datetime,
        vt: datetime,
        read_ct: int,
        dequeued_at: datetime | None = None,
        producer_worker_id: int | None = None,
        consumer_worker_id: int | None = None,
    ) -> None:
        self.id = id
        self.queue_id = queue_id
        self.payload = payload
        self.enqueued_at = enqueued_at
        self.vt = vt
        self.read_ct = read_ct
        self.dequeued_at = dequeued_at
        self.producer_worker_id = producer_worker_id
        self.consumer_worker_id = consumer_worker_id

    def to_dict(self) -> dict[str, Any]:
        """The message's fields as a dict (for logging or a JSON response)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (
            f"QueueMessage(id={self.id!r}, queue_id={self.queue_id!r}, "
            f"payload={self.payload!r}, read_ct={self.read_ct!r}, vt={self.vt!r})"
        )


def _dumps(payload: Any, index: int | None, limit: int | None) -> bytes:
    try:
        data = orjson.dumps(payload)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        where = "payload" if index is None else f"payload at index {index}"
        raise SerializationError(f"{where} is not JSON serialisable: {exc}", index=index) from exc
    if limit is not None and len(data) > limit:
        raise PayloadTooLargeError(len(data), limit, index=index)
    return data


def encode_jsonb(payload: Any, max_payload_bytes: int | None, index: int | None = None) -> bytes:
    """Encode one payload as a binary ``jsonb`` value (version byte + JSON text).

    ``index`` is the payload's position in its batch, named by the errors.
    """
    return b"\x01" + _dumps(payload, index, max_payload_bytes)


class CopyEncoder:
    """Writes one batch of messages as a binary COPY stream, in bounded chunks.

    Every row of the batch shares the queue, producer and timestamps; the ids were reserved from
    the table's sequence beforehand so they can be returned in input order.

    Args:
        queue_id: queue receiving the batch.
        producer_worker_id: worker id recorded on each row, or ``None``.
        enqueued_at: microseconds since 2000-01-01 UTC (the database's ``now()``).
        vt: microseconds since 2000-01-01 UTC when the messages become visible.
        max_payload_bytes: per-payload limit of the JSON encoding, or ``None``.
    """

    __slots__ = ("_queue_id", "_tail", "_limit")

    def __init__(
        self,
        queue_id: int,
        producer_worker_id: int | None,
        enqueued_at: int,
        vt: int,
        max_payload_bytes: int | None,
    ) -> None:
        self._queue_id = queue_id
        self._limit = max_payload_bytes
        # vt, enqueued_at and producer_worker_id end every row identically: build them once.
        producer = (
            _NULL_FIELD if producer_worker_id is None else _INT8_FIELD.pack(8, producer_worker_id)
        )
        self._tail = _INT8_FIELD.pack(8, vt) + _INT8_FIELD.pack(8, enqueued_at) + producer

    def encode(
        self, payloads: Sequence[Any], ids: Sequence[int], start: int, max_bytes: int
    ) -> tuple[bytes, int]:
        """Encode rows from ``start`` until the chunk holds at least ``max_bytes`` or the batch
        ends.

        The first chunk (``start == 0``) begins with the COPY header and the last one ends with
        the trailer, so the chunks concatenated are the whole stream.

        Returns:
            The chunk and the index of the first row not yet encoded.

        Raises:
            SerializationError: a payload is not JSON-serialisable (its index is named).
            PayloadTooLargeError: a payload's JSON exceeds ``max_payload_bytes``.
            ValueError: ``ids`` and ``payloads`` differ in length, or ``start`` is out of range.
        """
        count = len(payloads)
        if len(ids) != count:
            raise ValueError(f"{len(ids)} ids for {count} payloads")
        if not 0 <= start <= count:
            raise ValueError(f"start {start} outside 0..{count}")
        out = bytearray(COPY_HEADER if start == 0 else b"")
        tail, queue_id, limit = self._tail, self._queue_id, self._limit
        index = start
        while index < count:
            data = _dumps(payloads[index], index, limit)
            out += _ROW_HEAD.pack(6, 8, ids[index], 8, queue_id, len(data) + 1)
            out += b"\x01"
            out += data
            out += tail
            index += 1
            if len(out) >= max_bytes:
                break
        if index == count:
            out += COPY_TRAILER
        return bytes(out), index


def decode_int8(data: bytes) -> int:
    """Decode a binary ``int8`` (also a ``timestamptz``'s raw microseconds)."""
    if len(data) != 8:
        raise ValueError(f"int8 value must be 8 bytes, got {len(data)}")
    return int(_INT8.unpack(data)[0])


def decode_int8_array(data: bytes) -> list[int]:
    """Decode a one-dimensional binary ``int8[]`` without NULLs."""
    if len(data) < 12:
        raise ValueError("truncated array")
    ndim = _INT4.unpack_from(data, 0)[0]
    if ndim == 0:
        return []
    if ndim != 1:
        raise ValueError(f"expected a one-dimensional array, got {ndim} dimensions")
    count = _ARRAY_HEAD.unpack_from(data, 0)[3]
    if len(data) != 20 + 12 * count:
        raise ValueError("int8[] of unexpected size (NULL elements are not supported)")
    return [_INT8.unpack_from(data, offset)[0] for offset in range(24, 20 + 12 * count, 12)]


def decode_timestamptz(data: bytes) -> datetime:
    """Decode a binary ``timestamptz`` into an aware UTC datetime."""
    return PG_EPOCH + timedelta(microseconds=decode_int8(data))


def decode_jsonb(data: bytes) -> Any:
    """Decode a binary ``jsonb`` value with orjson."""
    if not data or data[0] != JSONB_VERSION:
        raise ValueError("unsupported jsonb binary format version")
    text = data[1:]  # a bytes copy parses faster in orjson than a memoryview
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # jsonb prints numerics in full: one beyond a double's range (1e400) defeats orjson.
        return json.loads(text)


def _opt(data: bytes | None, decode: Any) -> Any:
    return None if data is None else decode(data)


def decode_messages(rows: Sequence[Sequence[Any]]) -> list[QueueMessage]:
    """Build messages from raw binary rows.

    Each row holds, in order: id, queue_id, payload, enqueued_at, vt, read_ct (int4),
    dequeued_at, producer_worker_id, consumer_worker_id, as raw binary values (``None`` for NULL).
    """
    messages = []
    for row in rows:
        (id_, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, producer, consumer) = row
        if len(read_ct) != 4:
            raise ValueError(f"int4 value must be 4 bytes, got {len(read_ct)}")
        messages.append(
            QueueMessage(
                decode_int8(id_),
                decode_int8(queue_id),
                decode_jsonb(payload),
                decode_timestamptz(enqueued_at),
                decode_timestamptz(vt),
                _INT4.unpack(read_ct)[0],
                _opt(dequeued_at, decode_timestamptz),
                _opt(producer, decode_int8),
                _opt(consumer, decode_int8),
            )
        )
    return messages


def decode_ids(rows: Sequence[Sequence[Any]]) -> list[int]:
    """Decode the first column of each row as a binary ``int8``."""
    return [decode_int8(row[0]) for row in rows]
