"""Pure-Python twin of the compiled core (``_core.pyx``): the readable specification.

The core is pure computation: it turns payloads into PostgreSQL binary COPY rows and the raw
binary columns of the hot statements into :class:`QueueMessage` objects.  It does no I/O and
imports no psycopg.  Both implementations must produce byte-identical buffers, equal messages and
the same errors (same type, same message); ``tests/test_core.py`` and
``tests/test_core_malformed.py`` hold them to it.

Binary formats used (PostgreSQL docs, "COPY", "Binary Format", and the types' send functions):

- COPY stream: 11-byte signature, int32 flags, int32 header-extension length, then per row an
  int16 field count and per field an int32 length (-1 for NULL) plus the value; int16 -1 ends it.
- ``int8``: 8 bytes big-endian; ``int4``: 4 bytes big-endian.
- ``timestamptz``: int64 microseconds since 2000-01-01 00:00 UTC.
- ``jsonb``: a version byte (1) followed by the JSON text.
- ``int8[]``: int32 ndim, int32 has-nulls flag, int32 element oid, then per dimension int32 size
  and int32 lower bound, then each element as int32 length plus value.

Errors (the contract both cores keep, checked before anything is written):

- :class:`~pgqrs.SerializationError` (a ``TypeError``), with ``.index`` set when the payload has
  a position in a batch: a payload orjson cannot serialise (unsupported type, non-``str`` dict
  key, an int beyond 64 bits, a lone surrogate, nesting deeper than orjson's 255 levels); a
  float that is NaN or infinite anywhere in it (orjson would silently write ``null``, changing
  the data); a string or key containing NUL (``\\x00``), which ``jsonb`` cannot store.
- :class:`~pgqrs.PayloadTooLargeError` (a ``ValidationError``): a payload's JSON text is longer
  than ``max_payload_bytes``, or than :data:`MAX_FIELD_BYTES` whatever the limit (the COPY
  field length is an int32).
- :class:`~pgqrs.ValidationError` (a ``ValueError``): an encoder argument of the wrong type or
  out of range: ids, queue and worker ids and timestamps must be ``int`` (not ``bool``) within
  int8; ``max_payload_bytes`` ``None`` or an ``int`` of at least 0; ``start`` within the batch;
  ``max_bytes`` an ``int`` of at least 0; ``payloads`` and ``ids`` sequences of equal length.
- :class:`~pgqrs.DecodeError` (a ``ValueError``): a raw value from the server that does not have
  its type's binary format: not a bytes-like object (``bytes``, ``bytearray``, ``memoryview``),
  NULL in a ``NOT NULL`` column, the wrong length, a timestamp outside ``datetime``'s years
  1-9999, a jsonb version other than 1 or invalid JSON, an ``int8[]`` that is not
  one-dimensional, has NULLs or the wrong size; a row that is not a sequence of 9 values.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import struct
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .errors import DecodeError, PayloadTooLargeError, SerializationError, ValidationError

__all__ = [
    "COPY_COLUMNS",
    "COPY_HEADER",
    "COPY_TRAILER",
    "MAX_FIELD_BYTES",
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
#: Longest JSON text accepted whatever ``max_payload_bytes`` says: with its version byte it must
#: fit the int32 length of a COPY field (far beyond what PostgreSQL stores in a jsonb anyway).
MAX_FIELD_BYTES = 2**31 - 2

JSONB_VERSION = 1
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
INT8_MIN = -(2**63)
INT8_MAX = 2**63 - 1
INT8_OID = 20

_ROW_HEAD = struct.Struct(">hiqiqi")  # field count, id, queue_id, payload length
_INT8_FIELD = struct.Struct(">iq")
_NULL_FIELD = struct.pack(">i", -1)
_INT8 = struct.Struct(">q")
_INT4 = struct.Struct(">i")
_ARRAY_HEAD = struct.Struct(">iiiii")
_ARRAY_ELEMENT = struct.Struct(">iq")

# JSON strings in orjson's output (no raw control characters, so "." needs no DOTALL), and a NUL
# escape that is not itself an escaped backslash followed by "u0000".
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


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


# -- argument checks (ValidationError) -------------------------------------------------------


def _int8_arg(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if not INT8_MIN <= value <= INT8_MAX:
        raise ValidationError(f"{name} must be within int8 ({INT8_MIN} to {INT8_MAX}), got {value}")
    return value


def _size_arg(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValidationError(f"{name} must be at least 0, got {value}")
    return value


def _limit_arg(max_payload_bytes: object) -> int:
    """The effective limit: ``max_payload_bytes`` capped at :data:`MAX_FIELD_BYTES`."""
    if max_payload_bytes is None:
        return MAX_FIELD_BYTES
    if isinstance(max_payload_bytes, bool) or not isinstance(max_payload_bytes, int):
        kind = type(max_payload_bytes).__name__
        raise ValidationError(f"max_payload_bytes must be None or an integer, not {kind}")
    if max_payload_bytes < 0:
        raise ValidationError(
            f"max_payload_bytes must be None or at least 0, got {max_payload_bytes}"
        )
    return min(max_payload_bytes, MAX_FIELD_BYTES)


def _index_arg(index: object) -> int | None:
    if index is None:
        return None
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValidationError(f"index must be None or an integer, not {type(index).__name__}")
    if not 0 <= index <= sys.maxsize:
        raise ValidationError(f"index must be None or 0 to {sys.maxsize}, got {index}")
    return index


def _sequence_arg(name: str, value: object) -> Sequence[Any]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise ValidationError(
            f"{name} must be a sequence (list or tuple), not {type(value).__name__}"
        )
    return value


# -- payloads (SerializationError, PayloadTooLargeError) -------------------------------------


def _where(index: int | None) -> str:
    return "payload" if index is None else f"payload at index {index}"


def _nonfinite(value: Any) -> float | None:
    """The first NaN or infinite float in ``value``, looked up where orjson looks: dict values,
    list and tuple items, Enum values, dataclass fields (orjson's rules: the instance
    ``__dict__`` unless the class has ``__slots__``, names starting with ``_`` skipped).
    ``None`` if there is none."""
    kind = type(value)
    items: Iterable[Any]
    if kind is float:
        return None if math.isfinite(value) else value
    if issubclass(kind, dict):
        items = dict.values(value)
    elif kind is list or kind is tuple:
        items = value
    elif issubclass(kind, list):
        items = list.copy(value)  # orjson reads the list itself, not an overridden __iter__
    elif issubclass(kind, (str, int)):
        return None
    elif type(kind) is enum.EnumType:
        return _nonfinite(value.value)
    elif "__dataclass_fields__" in kind.__dict__:
        items = _dataclass_values(value)
    else:
        return None
    for item in items:
        found = _nonfinite(item)
        if found is not None:
            return found
    return None


def _dataclass_values(value: Any) -> list[Any]:
    attrs = getattr(value, "__dict__", None)
    if attrs is not None and "__slots__" not in type(value).__dict__:
        return [v for k, v in attrs.items() if not (isinstance(k, str) and k.startswith("_"))]
    return [getattr(value, f.name) for f in dataclasses.fields(value) if not f.name.startswith("_")]


def _check_text(payload: Any, data: bytes, index: int | None) -> None:
    """Reject what orjson writes but must not be stored: ``null`` standing for a NaN or infinite
    float, and NUL characters.  Both are looked for in the JSON text first (cheap), in the payload
    only when the text has a ``null`` outside strings."""
    # bytes.count: `in` costs twice as much (it first tries the needle as an int).
    if data.count(b"null") and _JSON_STRING.sub(b"", data).count(b"null"):
        found = _nonfinite(payload)
        if found is not None:
            raise SerializationError(
                f"{_where(index)} contains the float {found!r}, which JSON cannot represent "
                "(it would be stored as null)",
                index=index,
            )
    if data.count(b"\\u0000") and _NUL_ESCAPE.search(data):
        raise SerializationError(
            f"{_where(index)} contains a NUL character (\\x00) in a string or key, which jsonb "
            "cannot store",
            index=index,
        )


def _dumps(payload: Any, index: int | None, limit: int) -> bytes:
    """The payload's JSON text, checked in this order (cheapest first): serialisable, not longer
    than ``limit``, no NaN or infinity, no NUL."""
    try:
        data = orjson.dumps(payload)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise SerializationError(
            f"{_where(index)} is not JSON serialisable: {exc}", index=index
        ) from exc
    if len(data) > limit:
        raise PayloadTooLargeError(len(data), limit, index=index)
    if data.count(b"null") or data.count(b"\\u0000"):
        _check_text(payload, data, index)
    return data


def encode_jsonb(payload: Any, max_payload_bytes: int | None, index: int | None = None) -> bytes:
    """Encode one payload as a binary ``jsonb`` value (version byte + JSON text).

    ``index`` is the payload's position in its batch, named by the errors.

    Raises:
        SerializationError: see the module docstring; ``.index`` is ``index``.
        PayloadTooLargeError: the JSON text is longer than ``max_payload_bytes``.
        ValidationError: ``max_payload_bytes`` or ``index`` is not ``None`` or an ``int`` >= 0.
    """
    return b"\x01" + _dumps(payload, _index_arg(index), _limit_arg(max_payload_bytes))


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

    Raises:
        ValidationError: an id or timestamp is not an ``int`` within int8, or
            ``max_payload_bytes`` is not ``None`` or an ``int`` >= 0.
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
        self._queue_id = _int8_arg("queue_id", queue_id)
        producer = (
            None
            if producer_worker_id is None
            else _int8_arg("producer_worker_id", producer_worker_id)
        )
        enqueued_at = _int8_arg("enqueued_at", enqueued_at)
        vt = _int8_arg("vt", vt)
        self._limit = _limit_arg(max_payload_bytes)
        # vt, enqueued_at and producer_worker_id end every row identically: build them once.
        producer_field = _NULL_FIELD if producer is None else _INT8_FIELD.pack(8, producer)
        self._tail = _INT8_FIELD.pack(8, vt) + _INT8_FIELD.pack(8, enqueued_at) + producer_field

    def encode(
        self, payloads: Sequence[Any], ids: Sequence[int], start: int, max_bytes: int
    ) -> tuple[bytes, int]:
        """Encode rows from ``start`` until the chunk holds at least ``max_bytes`` or the batch
        ends.

        The first chunk (``start == 0``) begins with the COPY header and the last one ends with
        the trailer, so the chunks concatenated are the whole stream.  Each row is checked as it
        is encoded: its payload as :func:`encode_jsonb` checks it, then its id.

        Returns:
            The chunk and the index of the first row not yet encoded.

        Raises:
            SerializationError: a payload is not JSON-serialisable, holds a NaN or infinite
                float or a NUL character (its index is named).
            PayloadTooLargeError: a payload's JSON exceeds ``max_payload_bytes``.
            ValidationError: ``payloads`` or ``ids`` is not a sequence, they differ in length,
                ``start`` is not an ``int`` within ``0..len(payloads)``, ``max_bytes`` is not an
                ``int`` >= 0, or an id is not an ``int`` within int8 (``ids[i]`` is named).
        """
        payloads = _sequence_arg("payloads", payloads)
        ids = _sequence_arg("ids", ids)
        count = len(payloads)
        if len(ids) != count:
            raise ValidationError(f"{len(ids)} ids for {count} payloads")
        if isinstance(start, bool) or not isinstance(start, int):
            raise ValidationError(f"start must be an integer, not {type(start).__name__}")
        if not 0 <= start <= count:
            raise ValidationError(f"start {start} outside 0..{count}")
        max_bytes = _size_arg("max_bytes", max_bytes)
        out = bytearray(COPY_HEADER if start == 0 else b"")
        tail, queue_id, limit = self._tail, self._queue_id, self._limit
        low, high = INT8_MIN, INT8_MAX
        index = start
        while index < count:
            data = _dumps(payloads[index], index, limit)
            id_ = ids[index]
            if type(id_) is not int or not low <= id_ <= high:
                id_ = _int8_arg(f"ids[{index}]", id_)
            out += _ROW_HEAD.pack(6, 8, id_, 8, queue_id, len(data) + 1)
            out += b"\x01"
            out += data
            out += tail
            index += 1
            if len(out) >= max_bytes:
                break
        if index == count:
            out += COPY_TRAILER
        return bytes(out), index


# -- raw values from the server (DecodeError) ------------------------------------------------


def _raw(data: object, what: str) -> bytes:
    """``data`` as ``bytes``: psycopg hands binary values over as bytes-like objects."""
    if type(data) is bytes:
        return data
    if data is None:
        raise DecodeError(f"{what} is NULL")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise DecodeError(f"{what} must be bytes, not {type(data).__name__}")


def _int8(data: object, what: str) -> int:
    raw = _raw(data, what)
    if len(raw) != 8:
        raise DecodeError(f"{what} must be 8 bytes, got {len(raw)}")
    return int(_INT8.unpack(raw)[0])


def _int4(data: object, what: str) -> int:
    raw = _raw(data, what)
    if len(raw) != 4:
        raise DecodeError(f"{what} must be 4 bytes, got {len(raw)}")
    return int(_INT4.unpack(raw)[0])


def _timestamptz(data: object, what: str) -> datetime:
    usecs = _int8(data, what)
    try:
        return PG_EPOCH + timedelta(microseconds=usecs)
    except OverflowError:
        raise DecodeError(
            f"{what} {usecs} is outside the range of datetime (years 1 to 9999)"
        ) from None


def _jsonb(data: object, what: str) -> Any:
    raw = _raw(data, what)
    if not raw:
        raise DecodeError(f"{what} is empty (no jsonb version byte)")
    if raw[0] != JSONB_VERSION:
        raise DecodeError(f"{what} has unsupported jsonb binary format version {raw[0]}")
    text = raw[1:]  # a bytes copy parses faster in orjson than a memoryview
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    # jsonb prints numerics in full: one beyond a double's range (1e400) defeats orjson.
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise DecodeError(f"{what} is not valid JSON: {exc}") from None


def decode_int8(data: bytes) -> int:
    """Decode a binary ``int8`` (also a ``timestamptz``'s raw microseconds).

    Raises:
        DecodeError: ``data`` is not 8 bytes (or not bytes-like).
    """
    return _int8(data, "int8 value")


def decode_int8_array(data: bytes) -> list[int]:
    """Decode a one-dimensional binary ``int8[]`` without NULLs (or an empty array).

    Raises:
        DecodeError: not bytes-like, truncated, not one-dimensional, not of int8, with NULLs,
            or of a size that does not match its element count.
    """
    what = "int8[] value"
    raw = _raw(data, what)
    size = len(raw)
    if size < 12:
        raise DecodeError(f"{what} is truncated: {size} bytes")
    ndim, has_nulls, oid = struct.unpack_from(">iii", raw, 0)
    if ndim == 0:
        if size != 12:
            raise DecodeError(f"{what} without dimensions must be 12 bytes, got {size}")
        return []
    if ndim != 1:
        raise DecodeError(f"{what} must be one-dimensional, got {ndim} dimensions")
    if has_nulls:
        raise DecodeError(f"{what} has NULL elements, which are not supported")
    if oid != INT8_OID:
        raise DecodeError(f"{what} has elements of type oid {oid}, not int8 ({INT8_OID})")
    if size < 20:
        raise DecodeError(f"{what} is truncated: {size} bytes")
    count = _ARRAY_HEAD.unpack_from(raw, 0)[3]
    if count < 0 or size != 20 + 12 * count:
        raise DecodeError(f"{what} of unexpected size: {count} elements in {size} bytes")
    out: list[int] = []
    for offset in range(20, size, 12):
        length, value = _ARRAY_ELEMENT.unpack_from(raw, offset)
        if length != 8:
            raise DecodeError(f"{what} element {len(out)} must be 8 bytes, got {length}")
        out.append(value)
    return out


def decode_timestamptz(data: bytes) -> datetime:
    """Decode a binary ``timestamptz`` into an aware UTC datetime.

    Raises:
        DecodeError: ``data`` is not 8 bytes, or the time is outside datetime's years 1-9999.
    """
    return _timestamptz(data, "timestamptz value")


def decode_jsonb(data: bytes) -> Any:
    """Decode a binary ``jsonb`` value with orjson.

    Raises:
        DecodeError: no version byte, a version other than 1, or invalid JSON.
    """
    return _jsonb(data, "jsonb value")


#: Type of each of MESSAGE_COLUMNS, and what decode_messages names in its errors.
_MESSAGE_TYPES: tuple[str, ...] = ("int8", "int8", "jsonb", "timestamptz", "timestamptz")
_MESSAGE_TYPES += ("int4", "timestamptz", "int8", "int8")
_COLUMN_NAMES = tuple(
    f"column {c} ({t})" for c, t in zip(MESSAGE_COLUMNS, _MESSAGE_TYPES, strict=True)
)


def _row(item: object, width: int | None) -> Sequence[Any]:
    """``item`` as a row of ``width`` raw values (``None``: at least one)."""
    if isinstance(item, (str, bytes, bytearray)) or not isinstance(item, Sequence):
        raise DecodeError(f"row must be a sequence of raw values, not {type(item).__name__}")
    if width is None:
        if not item:
            raise DecodeError("row has no values, expected an int8 in its first column")
    elif len(item) != width:
        raise DecodeError(f"row has {len(item)} values, expected {width}")
    return item


def _rows(rows: object) -> Iterable[Any]:
    if isinstance(rows, (str, bytes, bytearray)) or not isinstance(rows, Iterable):
        raise DecodeError(f"rows must be an iterable of rows, not {type(rows).__name__}")
    return rows


def decode_messages(rows: Sequence[Sequence[Any]]) -> list[QueueMessage]:
    """Build messages from raw binary rows.

    Each row holds, in order: id, queue_id, payload, enqueued_at, vt, read_ct (int4),
    dequeued_at, producer_worker_id, consumer_worker_id, as raw binary values (``None`` for NULL,
    allowed in the last three only).  Columns are decoded in that order, so the first bad one
    is the one named.

    Raises:
        DecodeError: a row is not a sequence of 9 values, or a value is malformed (the error
            names its column).
    """
    names = _COLUMN_NAMES
    messages = []
    for item in _rows(rows):
        row = _row(item, 9)
        messages.append(
            QueueMessage(
                _int8(row[0], names[0]),
                _int8(row[1], names[1]),
                _jsonb(row[2], names[2]),
                _timestamptz(row[3], names[3]),
                _timestamptz(row[4], names[4]),
                _int4(row[5], names[5]),
                None if row[6] is None else _timestamptz(row[6], names[6]),
                None if row[7] is None else _int8(row[7], names[7]),
                None if row[8] is None else _int8(row[8], names[8]),
            )
        )
    return messages


def decode_ids(rows: Sequence[Sequence[Any]]) -> list[int]:
    """Decode the first column of each row as a binary ``int8``.

    Raises:
        DecodeError: a row is not a sequence of at least one value, or its first value is not a
            binary int8.
    """
    return [_int8(_row(item, None)[0], "column 1 (int8)") for item in _rows(rows)]
