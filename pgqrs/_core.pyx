# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled core: binary COPY encoding and raw-row decoding.

``_core_py.py`` is the specification (formats, argument meanings, errors); this module must
produce byte-identical output and raise the same errors.  No I/O, no psycopg.
"""

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_GET_SIZE,
    PyBytes_FromStringAndSize,
    _PyBytes_Resize,
)
from cpython.datetime cimport datetime_new, import_datetime
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy

import json
from datetime import datetime, timezone

import orjson

from .errors import PayloadTooLargeError, SerializationError

import_datetime()

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

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
COPY_TRAILER = b"\xff\xff"
COPY_COLUMNS = ("id", "queue_id", "payload", "vt", "enqueued_at", "producer_worker_id")

DEF JSONB_VERSION = 1
DEF USECS_PER_DAY = 86400000000
DEF USECS_PER_SEC = 1000000
DEF DUMP_GROUP = 128  # rows per orjson call in CopyEncoder.encode

cdef object _dumps_impl = orjson.dumps
cdef object _loads_impl = orjson.loads
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _UTC = timezone.utc
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


# -- big-endian primitives -------------------------------------------------------------------

cdef inline void _put16(char *p, int16_t v) noexcept nogil:
    cdef uint16_t u = <uint16_t>v
    p[0] = <char>(u >> 8)
    p[1] = <char>u

cdef inline void _put32(char *p, int32_t v) noexcept nogil:
    cdef uint32_t u = <uint32_t>v
    p[0] = <char>(u >> 24)
    p[1] = <char>(u >> 16)
    p[2] = <char>(u >> 8)
    p[3] = <char>u

cdef inline void _put64(char *p, int64_t v) noexcept nogil:
    _put32(p, <int32_t>(<uint64_t>v >> 32))
    _put32(p + 4, <int32_t><uint32_t>(<uint64_t>v & 0xFFFFFFFFU))

cdef inline int32_t _get32(const char *p) noexcept nogil:
    cdef const uint8_t *u = <const uint8_t *>p
    return <int32_t>((<uint32_t>u[0] << 24) | (<uint32_t>u[1] << 16) | (<uint32_t>u[2] << 8) | u[3])

cdef inline int64_t _get64(const char *p) noexcept nogil:
    return <int64_t>((<uint64_t><uint32_t>_get32(p) << 32) | <uint64_t><uint32_t>_get32(p + 4))


# -- encoding --------------------------------------------------------------------------------

cdef inline Py_ssize_t _limit_of(object max_payload_bytes) except -2:
    return -1 if max_payload_bytes is None else <Py_ssize_t>max_payload_bytes


cdef bytes _dumps(object payload, Py_ssize_t index, Py_ssize_t limit):
    """orjson-encode one payload; ``index`` -1 means a single message, ``limit`` -1 none."""
    cdef bytes data
    try:
        data = _dumps_impl(payload)
    except TypeError as exc:
        where = "payload" if index < 0 else f"payload at index {index}"
        raise SerializationError(
            f"{where} is not JSON serialisable: {exc}", index=None if index < 0 else index
        ) from exc
    if limit >= 0 and PyBytes_GET_SIZE(data) > limit:
        raise PayloadTooLargeError(
            PyBytes_GET_SIZE(data), limit, index=None if index < 0 else index
        )
    return data


def encode_jsonb(payload, max_payload_bytes, index=None):
    """Encode one payload as a binary ``jsonb`` value (version byte + JSON text)."""
    return b"\x01" + _dumps(payload, -1 if index is None else index, _limit_of(max_payload_bytes))


cdef Py_ssize_t _element_end(const char *p, Py_ssize_t pos, Py_ssize_t end) noexcept nogil:
    """Index of the top-level ``,`` (or the end) that closes the JSON value starting at ``pos``
    in orjson's compact output: no whitespace, strings with backslash escapes."""
    cdef int depth = 0
    cdef char c
    cdef Py_ssize_t back
    cdef const char *quote
    while pos < end:
        c = p[pos]
        if c == 34:  # '"': jump to the closing quote (memchr beat a byte loop by 10%)
            while True:
                quote = <const char *>memchr(p + pos + 1, 34, end - pos - 1)
                if quote == NULL:  # not in orjson's output; never read past the text
                    return end
                pos = quote - p
                back = pos - 1
                while p[back] == 92:  # '\\': stops at the opening quote at the latest
                    back -= 1
                if (pos - 1 - back) % 2 == 0:  # an odd run of backslashes escapes the quote
                    break
        elif c == 91 or c == 123:  # '[' '{'
            depth += 1
        elif c == 93 or c == 125:  # ']' '}'
            depth -= 1
        elif c == 44 and depth == 0:  # ','
            return pos
        pos += 1
    return end


cdef struct _Buffer:
    # The chunk is written straight into the bytes object returned (shrunk to size at the end),
    # saving a copy of the whole chunk.
    PyObject *obj  # owned reference, NULL until the first _reserve
    char *data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int _reserve(_Buffer *buf, Py_ssize_t extra) except -1:
    cdef Py_ssize_t needed = buf.size + extra
    cdef Py_ssize_t capacity = buf.capacity
    if needed <= capacity:
        return 0
    # Exactly what is asked for the first time (the chunk's estimated size: the final shrink
    # is then small), doubling after that.
    capacity = max(needed, 2 * capacity)
    if buf.obj == NULL:
        first = PyBytes_FromStringAndSize(NULL, capacity)
        Py_INCREF(first)
        buf.obj = <PyObject *>first
    else:
        _PyBytes_Resize(&buf.obj, capacity)  # on failure: obj NULL, MemoryError raised
    buf.data = PyBytes_AS_STRING(<object>buf.obj)
    buf.capacity = capacity
    return 0


cdef class CopyEncoder:
    """Writes one batch of messages as a binary COPY stream, in bounded chunks.

    See ``pgqrs._core_py.CopyEncoder`` for the contract.
    """

    cdef int64_t _queue_id
    cdef bytes _tail
    cdef Py_ssize_t _limit

    def __init__(self, queue_id, producer_worker_id, int64_t enqueued_at, int64_t vt,
                 max_payload_bytes):
        # vt, enqueued_at and producer_worker_id end every row identically: build them once.
        cdef char tail[36]
        cdef Py_ssize_t size = 28
        self._queue_id = queue_id
        self._limit = _limit_of(max_payload_bytes)
        _put32(tail, 8)
        _put64(tail + 4, vt)
        _put32(tail + 12, 8)
        _put64(tail + 16, enqueued_at)
        if producer_worker_id is None:
            _put32(tail + 24, -1)
        else:
            _put32(tail + 24, 8)
            _put64(tail + 28, <int64_t>producer_worker_id)
            size = 36
        self._tail = PyBytes_FromStringAndSize(tail, size)

    cdef inline int _append_row(self, _Buffer *buf, int64_t id_, const char *data,
                                Py_ssize_t size, const char *tail, Py_ssize_t tail_size) except -1:
        _reserve(buf, 31 + size + tail_size)
        cdef char *p = buf.data + buf.size
        _put16(p, 6)
        _put32(p + 2, 8)
        _put64(p + 6, id_)
        _put32(p + 14, 8)
        _put64(p + 18, self._queue_id)
        _put32(p + 26, <int32_t>(size + 1))
        p[30] = JSONB_VERSION
        memcpy(p + 31, data, size)
        memcpy(p + 31 + size, tail, tail_size)
        buf.size += 31 + size + tail_size
        return 0

    def encode(self, payloads, ids, Py_ssize_t start, Py_ssize_t max_bytes):
        """Encode rows from ``start`` until the chunk holds at least ``max_bytes`` or the batch
        ends; returns ``(chunk, next_index)``."""
        cdef Py_ssize_t count = len(payloads)
        cdef Py_ssize_t index = start
        cdef Py_ssize_t size
        cdef Py_ssize_t tail_size = PyBytes_GET_SIZE(self._tail)
        cdef const char *tail = PyBytes_AS_STRING(self._tail)
        cdef _Buffer buf
        cdef bytes data
        cdef object text
        cdef const char *raw
        cdef Py_ssize_t group_end, pos, stop, end
        cdef bint full = False
        if len(ids) != count:
            raise ValueError(f"{len(ids)} ids for {count} payloads")
        if start < 0 or start > count:
            raise ValueError(f"start {start} outside 0..{count}")
        buf.obj = NULL
        buf.data = NULL
        buf.size = 0
        buf.capacity = 0
        try:
            if start == 0:
                _reserve(&buf, 19)
                memcpy(buf.data, b"PGCOPY\n\xff\r\n\x00", 11)
                _put32(buf.data + 11, 0)
                _put32(buf.data + 15, 0)
                buf.size = 19
            while index < count and not full:
                # One orjson call per group of rows: a call's fixed cost (a fresh output buffer,
                # shrunk at the end) is most of what a small payload costs (measured: 1,000
                # calls ~100 us, one call on the 1,000-row list ~45 us).  The group's JSON array
                # is then split at its top-level commas.
                group_end = min(count, index + DUMP_GROUP)
                group = payloads[index:group_end]
                try:
                    text = _dumps_impl(group if type(group) is list else list(group))
                except TypeError:
                    text = None  # some row is bad: the per-row path below names it
                except RecursionError:
                    text = None  # nested one level deeper than the payloads themselves
                if text is None:
                    while index < group_end and not full:
                        data = _dumps(payloads[index], index, self._limit)
                        self._append_row(&buf, <int64_t>ids[index], PyBytes_AS_STRING(data),
                                         PyBytes_GET_SIZE(data), tail, tail_size)
                        index += 1
                        full = buf.size >= max_bytes  # checked after a row: every call progresses
                    continue
                raw = PyBytes_AS_STRING(text)
                end = PyBytes_GET_SIZE(text) - 1  # the closing ']'
                if index == start:
                    # Size the chunk (trailer included) once, from the first group's rows:
                    # growing by doubling copied a 1,000-row buffer four times over, and a
                    # power-of-two capacity cost a large copy in the final shrink.
                    size = (end + (group_end - index) * (31 + tail_size)) // (group_end - index)
                    _reserve(&buf, min(size * (count - index) + 2, max_bytes + size))
                pos = 1
                while index < group_end and not full:
                    stop = _element_end(raw, pos, end)
                    size = stop - pos
                    if self._limit >= 0 and size > self._limit:
                        raise PayloadTooLargeError(size, self._limit, index=index)
                    self._append_row(&buf, <int64_t>ids[index], raw + pos, size, tail, tail_size)
                    index += 1
                    pos = stop + 1
                    full = buf.size >= max_bytes
            if index == count:
                _reserve(&buf, 2)
                _put16(buf.data + buf.size, -1)
                buf.size += 2
            _PyBytes_Resize(&buf.obj, buf.size)
            return <object>buf.obj, index
        finally:
            Py_XDECREF(buf.obj)


# -- decoding --------------------------------------------------------------------------------

cdef inline int64_t _int8(bytes data) except? -1:
    if PyBytes_GET_SIZE(data) != 8:
        raise ValueError(f"int8 value must be 8 bytes, got {PyBytes_GET_SIZE(data)}")
    return _get64(PyBytes_AS_STRING(data))


cdef inline object _timestamptz(bytes data):
    cdef int64_t usecs = _int8(data)
    # Python floor semantics (cdivision is off) keep pre-2000 times right.
    cdef int64_t days = usecs // USECS_PER_DAY
    cdef int64_t rest = usecs - days * USECS_PER_DAY
    cdef int64_t secs = rest // USECS_PER_SEC
    cdef int year, month, day
    # 10957 days from 1970-01-01 to 2000-01-01; year 1..9999 is what datetime can hold.
    _civil_from_days(days + 10957, &year, &month, &day)
    if year < 1 or year > 9999:
        raise OverflowError("date value out of range")
    return datetime_new(year, month, day, <int>(secs // 3600), <int>((secs // 60) % 60),
                        <int>(secs % 60), <int>(rest % USECS_PER_SEC), _UTC)


cdef inline void _civil_from_days(int64_t z, int *year, int *month, int *day) noexcept nogil:
    # Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, 1970-01-01 is day 0),
    # written with floor divisions so it holds for negative day numbers too.
    z += 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t m = mp + 3 if mp < 10 else mp - 9
    year[0] = <int>(yoe + era * 400 + (1 if m <= 2 else 0))
    month[0] = <int>m
    day[0] = <int>(doy - (153 * mp + 2) // 5 + 1)


cdef inline object _jsonb(bytes data):
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef char *raw = PyBytes_AS_STRING(data)
    if size == 0 or <uint8_t>raw[0] != JSONB_VERSION:
        raise ValueError("unsupported jsonb binary format version")
    # A bytes copy parses faster in orjson than a zero-copy memoryview (measured: ~40%).
    text = PyBytes_FromStringAndSize(raw + 1, size - 1)
    try:
        return _loads_impl(text)
    except _JSONDecodeError:
        # jsonb prints numerics in full: one beyond a double's range (1e400) defeats orjson.
        return json.loads(text)


def decode_int8(data):
    """Decode a binary ``int8`` (also a ``timestamptz``'s raw microseconds)."""
    return _int8(bytes(data))


def decode_timestamptz(data):
    """Decode a binary ``timestamptz`` into an aware UTC datetime."""
    return _timestamptz(bytes(data))


def decode_jsonb(data):
    """Decode a binary ``jsonb`` value with orjson."""
    return _jsonb(bytes(data))


def decode_int8_array(data):
    """Decode a one-dimensional binary ``int8[]`` without NULLs."""
    cdef bytes raw = bytes(data)
    cdef const char *p = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(raw)
    cdef int32_t ndim
    cdef Py_ssize_t count, i
    cdef list out
    if size < 12:
        raise ValueError("truncated array")
    ndim = _get32(p)
    if ndim == 0:
        return []
    if ndim != 1:
        raise ValueError(f"expected a one-dimensional array, got {ndim} dimensions")
    count = _get32(p + 12)
    if size != 20 + 12 * count:
        raise ValueError("int8[] of unexpected size (NULL elements are not supported)")
    out = [None] * count
    for i in range(count):
        out[i] = _get64(p + 24 + 12 * i)
    return out


cdef class QueueMessage:
    """A message as stored in the queue, with its delivery state.

    See ``pgqrs._core_py.QueueMessage`` for the fields.
    """

    cdef public object id
    cdef public object queue_id
    cdef public object payload
    cdef public object enqueued_at
    cdef public object vt
    cdef public object read_ct
    cdef public object dequeued_at
    cdef public object producer_worker_id
    cdef public object consumer_worker_id

    def __init__(self, id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at=None,
                 producer_worker_id=None, consumer_worker_id=None):
        self.id = id
        self.queue_id = queue_id
        self.payload = payload
        self.enqueued_at = enqueued_at
        self.vt = vt
        self.read_ct = read_ct
        self.dequeued_at = dequeued_at
        self.producer_worker_id = producer_worker_id
        self.consumer_worker_id = consumer_worker_id

    def to_dict(self):
        """The message's fields as a dict (for logging or a JSON response)."""
        return {name: getattr(self, name) for name in MESSAGE_COLUMNS}

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        return (
            f"QueueMessage(id={self.id!r}, queue_id={self.queue_id!r}, "
            f"payload={self.payload!r}, read_ct={self.read_ct!r}, vt={self.vt!r})"
        )


cdef class _TimestampMemo:
    """Reuses the last datetime built for a column when the raw value repeats.

    Rows of one dequeue share ``vt`` and ``dequeued_at`` (one ``now()``), and messages of one
    batch share ``enqueued_at``; datetimes are immutable, so sharing one object is safe and
    saves most of the decoding cost.
    """

    cdef int64_t last
    cdef object value

    cdef inline object get(self, bytes data):
        cdef int64_t usecs = _int8(data)
        if self.value is None or usecs != self.last:
            self.value = _timestamptz(data)
            self.last = usecs
        return self.value

    cdef inline object get_opt(self, object data):
        return None if data is None else self.get(<bytes>data)


cdef inline object _opt_int8(object data):
    return None if data is None else _int8(<bytes>data)


def decode_messages(rows):
    """Build messages from raw binary rows (column order as in ``_core_py.decode_messages``)."""
    cdef list out = []
    cdef tuple row
    cdef QueueMessage msg
    cdef bytes read_ct
    cdef _TimestampMemo enqueued_at = _TimestampMemo()
    cdef _TimestampMemo vt = _TimestampMemo()
    cdef _TimestampMemo dequeued_at = _TimestampMemo()
    for item in rows:
        row = item if type(item) is tuple else tuple(item)
        read_ct = <bytes>row[5]
        if PyBytes_GET_SIZE(read_ct) != 4:
            raise ValueError(f"int4 value must be 4 bytes, got {PyBytes_GET_SIZE(read_ct)}")
        msg = QueueMessage.__new__(QueueMessage)
        msg.id = _int8(<bytes>row[0])
        msg.queue_id = _int8(<bytes>row[1])
        msg.payload = _jsonb(<bytes>row[2])
        msg.enqueued_at = enqueued_at.get(<bytes>row[3])
        msg.vt = vt.get(<bytes>row[4])
        msg.read_ct = _get32(PyBytes_AS_STRING(read_ct))
        msg.dequeued_at = dequeued_at.get_opt(row[6])
        msg.producer_worker_id = _opt_int8(row[7])
        msg.consumer_worker_id = _opt_int8(row[8])
        out.append(msg)
    return out


def decode_ids(rows):
    """Decode the first column of each row as a binary ``int8``."""
    return [_int8(<bytes>row[0]) for row in rows]
