# cython: language_level=3, wraparound=False, initializedcheck=False
"""Compiled core: binary COPY encoding and raw-row decoding.

``_core_py.py`` is the specification (formats, argument meanings, errors); this module must
produce byte-identical output and raise the same errors, with the same messages.  No I/O, no
psycopg.

Memory safety: every value crossing from Python into C is type-checked first (``bytes`` before
its buffer is read, ``int`` within range before it is converted), and bounds checking stays on
(a row of the wrong length or a sequence shrunk by a payload's own code cannot be read past).
"""

from cpython.bool cimport PyBool_Check
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_GET_SIZE,
    PyBytes_FromStringAndSize,
    _PyBytes_Resize,
)
from cpython.datetime cimport datetime_new, import_datetime
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.dict cimport PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.math cimport isfinite

cdef extern from "Python.h":
    PyTypeObject PyBool_Type
    PyTypeObject PyFloat_Type
    PyTypeObject PyLong_Type
    PyTypeObject PyUnicode_Type
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import orjson

from .errors import DecodeError, PayloadTooLargeError, SerializationError, ValidationError

import_datetime()

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

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
COPY_TRAILER = b"\xff\xff"
COPY_COLUMNS = ("id", "queue_id", "payload", "vt", "enqueued_at", "producer_worker_id")
MAX_FIELD_BYTES = 2**31 - 2

DEF JSONB_VERSION = 1
DEF USECS_PER_DAY = 86400000000
DEF USECS_PER_SEC = 1000000
DEF DUMP_GROUP = 128  # rows per orjson call in CopyEncoder.encode
DEF FIELD_MAX = 2147483646  # MAX_FIELD_BYTES
DEF INT8_OID = 20

cdef object _dumps_impl = orjson.dumps
cdef object _loads_impl = orjson.loads
cdef object _JSONDecodeError = orjson.JSONDecodeError
cdef object _UTC = timezone.utc
cdef object _EnumType = enum.EnumType
cdef object _fields = dataclasses.fields
cdef object _Sequence = Sequence
cdef object _Iterable = Iterable
cdef object _MAXSIZE = sys.maxsize
cdef object _INT8_MIN = -(2**63)
cdef object _INT8_MAX = 2**63 - 1
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
# What decode_messages names in its errors, per column (as _core_py._COLUMN_NAMES).
cdef tuple _COLUMNS = tuple(
    f"column {c} ({t})"
    for c, t in zip(MESSAGE_COLUMNS, ("int8", "int8", "jsonb", "timestamptz", "timestamptz",
                                      "int4", "timestamptz", "int8", "int8"))
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


# -- argument checks (ValidationError) -------------------------------------------------------

cdef inline bint _is_int(object value):
    return PyLong_Check(value) and not PyBool_Check(value)


cdef int64_t _int8_arg(object name, object value) except? -1:
    cdef int overflow = 0
    cdef long long result
    if not _is_int(value):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    result = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        raise ValidationError(
            f"{name} must be within int8 ({_INT8_MIN} to {_INT8_MAX}), got {value}"
        )
    return result


cdef Py_ssize_t _size_arg(object name, object value) except -1:
    """An int of at least 0, clamped to 2**62: no chunk can be that large, so the clamped bound
    behaves exactly like the one given (and sums with it cannot overflow)."""
    if not _is_int(value):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValidationError(f"{name} must be at least 0, got {value}")
    return <Py_ssize_t>min(value, 2**62)


cdef Py_ssize_t _limit_arg(object max_payload_bytes) except -1:
    """The effective limit: ``max_payload_bytes`` capped at MAX_FIELD_BYTES."""
    if max_payload_bytes is None:
        return FIELD_MAX
    if not _is_int(max_payload_bytes):
        kind = type(max_payload_bytes).__name__
        raise ValidationError(f"max_payload_bytes must be None or an integer, not {kind}")
    if max_payload_bytes < 0:
        raise ValidationError(
            f"max_payload_bytes must be None or at least 0, got {max_payload_bytes}"
        )
    return <Py_ssize_t>min(max_payload_bytes, FIELD_MAX)


cdef Py_ssize_t _index_arg(object index) except -2:
    """-1 for ``None``."""
    if index is None:
        return -1
    if not _is_int(index):
        raise ValidationError(f"index must be None or an integer, not {type(index).__name__}")
    if index < 0 or index > _MAXSIZE:
        raise ValidationError(f"index must be None or 0 to {_MAXSIZE}, got {index}")
    return <Py_ssize_t>index


cdef object _sequence_arg(object name, object value):
    if type(value) is list or type(value) is tuple:
        return value
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, _Sequence):
        raise ValidationError(
            f"{name} must be a sequence (list or tuple), not {type(value).__name__}"
        )
    return value


cdef inline int64_t _id_at(object ids, Py_ssize_t index) except? -1:
    cdef object value = ids[index]
    cdef int overflow = 0
    cdef long long result
    if type(value) is int:
        result = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return result
    return _int8_arg(f"ids[{index}]", value)


# -- payloads (SerializationError, PayloadTooLargeError) -------------------------------------

cdef inline object _where(Py_ssize_t index):
    return "payload" if index < 0 else f"payload at index {index}"


cdef inline int _leaf(PyObject *item) noexcept:
    """1: holds no float (the types most JSON values are); 2: a NaN or infinite float; 0: look
    closer.  Decided on the borrowed pointer, without a call or a reference."""
    cdef PyTypeObject *kind = item.ob_type
    if kind is &PyUnicode_Type or kind is &PyLong_Type or item is <PyObject *>None:
        return 1
    if kind is &PyFloat_Type:
        return 1 if isfinite(PyFloat_AS_DOUBLE(<object>item)) else 2
    return 1 if kind is &PyBool_Type else 0


cdef inline object _nonfinite_entry(PyObject *entry):
    """``_nonfinite`` of a borrowed container item, leaves decided without a reference."""
    cdef int leaf = _leaf(entry)
    if leaf == 1:
        return None
    item = <object>entry
    return item if leaf == 2 else _nonfinite(item)


cdef object _nonfinite(object value):
    """The first NaN or infinite float in ``value``, looked up where orjson looks (see
    ``_core_py._nonfinite``); ``None`` if there is none."""
    cdef type kind = type(value)
    cdef object item, found
    cdef PyObject *key
    cdef PyObject *entry
    cdef Py_ssize_t pos = 0
    if kind is float:
        return None if isfinite(<double>value) else value
    # Exact dicts and lists first, their leaves tested on borrowed pointers: the walk runs for
    # every payload holding a None, so it must cost little next to orjson's own pass.  A value
    # is only referenced (and so kept alive) before anything that could run Python code.
    if kind is dict:
        while PyDict_Next(value, &pos, &key, &entry):
            found = _nonfinite_entry(entry)
            if found is not None:
                return found
        return None
    if kind is list:
        while pos < PyList_GET_SIZE(value):
            entry = PyList_GET_ITEM(value, pos)
            pos += 1
            found = _nonfinite_entry(entry)
            if found is not None:
                return found
        return None
    if _leaf(<PyObject *>value) == 1:
        return None
    if issubclass(kind, dict):
        items = dict.values(value)
    elif kind is tuple:
        items = value
    elif issubclass(kind, list):
        items = list.copy(value)  # orjson reads the list itself, not an overridden __iter__
    elif issubclass(kind, (str, int)):
        return None
    elif type(kind) is _EnumType:
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


cdef list _dataclass_values(object value):
    attrs = getattr(value, "__dict__", None)
    if attrs is not None and "__slots__" not in type(value).__dict__:
        return [v for k, v in attrs.items() if not (isinstance(k, str) and k.startswith("_"))]
    return [getattr(value, f.name) for f in _fields(value) if not f.name.startswith("_")]


cdef Py_ssize_t _element_end(const char *p, Py_ssize_t pos, Py_ssize_t end,
                             bint *null) noexcept nogil:
    """Index of the top-level ``,`` (or the end) that closes the JSON value starting at ``pos``
    in orjson's compact output: no whitespace, strings with backslash escapes.  Sets ``null``
    if the value has a ``null`` outside its strings (the only ``n`` outside strings)."""
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
        elif c == 110:  # 'n'
            null[0] = True
        pos += 1
    return end


cdef extern from *:
    """
    #if defined(__linux__) || defined(__APPLE__)
    #define PGQRS_HAVE_MEMMEM 1
    #else
    #define PGQRS_HAVE_MEMMEM 0
    static void *memmem(const void *h, size_t hn, const void *n, size_t nn) { return NULL; }
    #endif
    """
    const bint PGQRS_HAVE_MEMMEM
    void *memmem(const void *haystack, size_t haystack_len, const void *needle,
                 size_t needle_len) nogil


cdef bint _has_nul(const char *p, Py_ssize_t size) noexcept nogil:
    """Whether orjson's output holds a ``\\u0000`` escape (a NUL in a string or key).

    Backslashes occur only in strings, where each one starts an escape: stepping from one to
    the next over the escaped character never mistakes an escaped backslash followed by
    ``u0000`` for a NUL.  memchr finds the next backslash fastest (0.6 us per 1,000 rows
    without any); with many escapes its per-call cost adds up, so after a few backslashes one
    memmem pass for ``u0000`` takes over (14 us per 1,000 rows whatever they hold), checking
    that an odd run of backslashes precedes it.
    """
    cdef const char *q
    cdef Py_ssize_t pos = 0, back
    cdef int seen = 0
    while pos < size:
        if PGQRS_HAVE_MEMMEM and seen == 8:
            while pos < size:
                q = <const char *>memmem(p + pos, size - pos, b"u0000", 5)
                if q == NULL:
                    return False
                pos = q - p
                back = pos - 1
                while back >= 0 and p[back] == 92:
                    back -= 1
                if (pos - 1 - back) % 2 == 1:
                    return True
                pos += 1
            return False
        q = <const char *>memchr(p + pos, 92, size - pos)
        if q == NULL:
            return False
        pos = q - p
        if pos + 6 <= size and memcmp(q + 1, b"u0000", 5) == 0:
            return True
        pos += 2
        seen += 1
    return False


cdef int _check_text(object payload, const char *raw, Py_ssize_t size,
                     Py_ssize_t index) except -1:
    """As ``_core_py._check_text``: no NaN or infinite float written as ``null``, no NUL."""
    cdef bint null = False
    _element_end(raw, 0, size, &null)
    if null:
        _check_finite(payload, index)
    if _has_nul(raw, size):
        raise SerializationError(
            f"{_where(index)} contains a NUL character (\\x00) in a string or key, which jsonb "
            "cannot store",
            index=None if index < 0 else index,
        )
    return 0


cdef int _check_finite(object payload, Py_ssize_t index) except -1:
    found = _nonfinite(payload)
    if found is not None:
        raise SerializationError(
            f"{_where(index)} contains the float {found!r}, which JSON cannot represent "
            "(it would be stored as null)",
            index=None if index < 0 else index,
        )
    return 0


cdef bytes _dumps(object payload, Py_ssize_t index, Py_ssize_t limit):
    """orjson-encode one payload, checked as ``_core_py._dumps``; ``index`` -1 means a single
    message."""
    cdef bytes data
    try:
        data = _dumps_impl(payload)
    except TypeError as exc:
        raise SerializationError(
            f"{_where(index)} is not JSON serialisable: {exc}",
            index=None if index < 0 else index,
        ) from exc
    if PyBytes_GET_SIZE(data) > limit:
        raise PayloadTooLargeError(
            PyBytes_GET_SIZE(data), limit, index=None if index < 0 else index
        )
    _check_text(payload, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), index)
    return data


def encode_jsonb(payload, max_payload_bytes, index=None):
    """Encode one payload as a binary ``jsonb`` value (version byte + JSON text)."""
    cdef Py_ssize_t position = _index_arg(index)
    return b"\x01" + _dumps(payload, position, _limit_arg(max_payload_bytes))


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

    def __init__(self, queue_id, producer_worker_id, enqueued_at, vt, max_payload_bytes):
        # vt, enqueued_at and producer_worker_id end every row identically: build them once.
        cdef char tail[36]
        cdef Py_ssize_t size = 28
        cdef int64_t producer = 0
        self._queue_id = _int8_arg("queue_id", queue_id)
        if producer_worker_id is not None:
            producer = _int8_arg("producer_worker_id", producer_worker_id)
        _put32(tail, 8)
        _put32(tail + 12, 8)
        _put64(tail + 16, _int8_arg("enqueued_at", enqueued_at))
        _put64(tail + 4, _int8_arg("vt", vt))
        self._limit = _limit_arg(max_payload_bytes)
        if producer_worker_id is None:
            _put32(tail + 24, -1)
        else:
            _put32(tail + 24, 8)
            _put64(tail + 28, producer)
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
        _put32(p + 26, <int32_t>(size + 1))  # size <= FIELD_MAX: the +1 fits an int32
        p[30] = JSONB_VERSION
        memcpy(p + 31, data, size)
        memcpy(p + 31 + size, tail, tail_size)
        buf.size += 31 + size + tail_size
        return 0

    def encode(self, payloads, ids, start, max_bytes):
        """Encode rows from ``start`` until the chunk holds at least ``max_bytes`` or the batch
        ends; returns ``(chunk, next_index)``."""
        cdef Py_ssize_t count
        cdef Py_ssize_t index
        cdef Py_ssize_t limit = self._limit
        cdef Py_ssize_t size, rows
        cdef Py_ssize_t tail_size = PyBytes_GET_SIZE(self._tail)
        cdef const char *tail = PyBytes_AS_STRING(self._tail)
        cdef Py_ssize_t chunk_bytes
        cdef _Buffer buf
        cdef bytes data
        cdef object text
        cdef const char *raw
        cdef Py_ssize_t group_start, group_end, pos, stop, end
        cdef bint full = False
        cdef bint null
        payloads = _sequence_arg("payloads", payloads)
        ids = _sequence_arg("ids", ids)
        count = len(payloads)
        if len(ids) != count:
            raise ValidationError(f"{len(ids)} ids for {count} payloads")
        if not _is_int(start):
            raise ValidationError(f"start must be an integer, not {type(start).__name__}")
        if start < 0 or start > count:
            raise ValidationError(f"start {start} outside 0..{count}")
        index = start
        chunk_bytes = _size_arg("max_bytes", max_bytes)
        buf.obj = NULL
        buf.data = NULL
        buf.size = 0
        buf.capacity = 0
        try:
            if index == 0:
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
                if type(payloads) is list or type(payloads) is tuple:
                    group = payloads[index:group_end]
                else:  # a Sequence need not support slices: read it as the twin does
                    group = [payloads[i] for i in range(index, group_end)]
                try:
                    text = _dumps_impl(group if type(group) is list else list(group))
                except TypeError:
                    text = None  # some row is bad: the per-row path below names it
                except RecursionError:
                    text = None  # nested one level deeper than the payloads themselves
                if text is not None and _has_nul(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text)):
                    text = None  # the per-row path names the payload
                if text is None:
                    while index < group_end and not full:
                        data = _dumps(payloads[index], index, limit)
                        self._append_row(&buf, _id_at(ids, index), PyBytes_AS_STRING(data),
                                         PyBytes_GET_SIZE(data), tail, tail_size)
                        index += 1
                        full = buf.size >= chunk_bytes  # checked after a row: every call progresses
                    continue
                raw = PyBytes_AS_STRING(text)
                end = PyBytes_GET_SIZE(text) - 1  # the closing ']'
                group_start = index
                if index == start:
                    # Size the chunk (trailer included) once, from the first group's rows:
                    # growing by doubling copied a 1,000-row buffer four times over, and a
                    # power-of-two capacity cost a large copy in the final shrink.
                    size = (end + (group_end - index) * (31 + tail_size)) // (group_end - index)
                    rows = min(count - index, chunk_bytes // size + 1)
                    _reserve(&buf, size * rows + 2)
                pos = 1
                while index < group_end and not full:
                    null = False
                    stop = _element_end(raw, pos, end, &null)
                    size = stop - pos
                    if size > limit:
                        raise PayloadTooLargeError(size, limit, index=index)
                    if null:
                        _check_finite(group[index - group_start], index)
                    self._append_row(&buf, _id_at(ids, index), raw + pos, size, tail, tail_size)
                    index += 1
                    pos = stop + 1
                    full = buf.size >= chunk_bytes
            if index == count:
                _reserve(&buf, 2)
                _put16(buf.data + buf.size, -1)
                buf.size += 2
            _PyBytes_Resize(&buf.obj, buf.size)
            return <object>buf.obj, index
        finally:
            Py_XDECREF(buf.obj)


# -- raw values from the server (DecodeError) ------------------------------------------------

cdef bytes _raw(object data, object what):
    """``data`` as ``bytes`` (callers pass exact ``bytes`` through without calling this)."""
    if data is None:
        raise DecodeError(f"{what} is NULL")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise DecodeError(f"{what} must be bytes, not {type(data).__name__}")


cdef inline int64_t _int8(object data, object what) except? -1:
    # The checked fast path inline; anything else (a malformed value) in _int8_slow.
    if type(data) is bytes and PyBytes_GET_SIZE(data) == 8:
        return _get64(PyBytes_AS_STRING(data))
    return _int8_slow(data, what)


cdef int64_t _int8_slow(object data, object what) except? -1:
    cdef bytes raw = data if type(data) is bytes else _raw(data, what)
    if PyBytes_GET_SIZE(raw) != 8:
        raise DecodeError(f"{what} must be 8 bytes, got {PyBytes_GET_SIZE(raw)}")
    return _get64(PyBytes_AS_STRING(raw))


cdef inline int32_t _int4(object data, object what) except? -1:
    cdef bytes raw
    if type(data) is bytes and PyBytes_GET_SIZE(data) == 4:
        return _get32(PyBytes_AS_STRING(data))
    raw = data if type(data) is bytes else _raw(data, what)
    if PyBytes_GET_SIZE(raw) != 4:
        raise DecodeError(f"{what} must be 4 bytes, got {PyBytes_GET_SIZE(raw)}")
    return _get32(PyBytes_AS_STRING(raw))


cdef inline object _datetime(int64_t usecs, object what):
    # Python floor semantics (cdivision is off) keep pre-2000 times right.
    cdef int64_t days = usecs // USECS_PER_DAY
    cdef int64_t rest = usecs - days * USECS_PER_DAY
    cdef int64_t secs = rest // USECS_PER_SEC
    cdef int year, month, day
    # 10957 days from 1970-01-01 to 2000-01-01; year 1..9999 is what datetime can hold.
    _civil_from_days(days + 10957, &year, &month, &day)
    if year < 1 or year > 9999:
        raise DecodeError(f"{what} {usecs} is outside the range of datetime (years 1 to 9999)")
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


cdef inline object _jsonb(object data, object what):
    cdef bytes value = data if type(data) is bytes else _raw(data, what)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(value)
    cdef const char *raw = PyBytes_AS_STRING(value)
    if size == 0:
        raise DecodeError(f"{what} is empty (no jsonb version byte)")
    if <uint8_t>raw[0] != JSONB_VERSION:
        raise DecodeError(f"{what} has unsupported jsonb binary format version {<uint8_t>raw[0]}")
    # A bytes copy parses faster in orjson than a zero-copy memoryview (measured: ~40%).
    text = PyBytes_FromStringAndSize(raw + 1, size - 1)
    try:
        return _loads_impl(text)
    except _JSONDecodeError:
        pass
    # jsonb prints numerics in full: one beyond a double's range (1e400) defeats orjson.
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise DecodeError(f"{what} is not valid JSON: {exc}") from None


def decode_int8(data):
    """Decode a binary ``int8`` (also a ``timestamptz``'s raw microseconds)."""
    return _int8(data, "int8 value")


def decode_timestamptz(data):
    """Decode a binary ``timestamptz`` into an aware UTC datetime."""
    what = "timestamptz value"
    return _datetime(_int8(data, what), what)


def decode_jsonb(data):
    """Decode a binary ``jsonb`` value with orjson."""
    return _jsonb(data, "jsonb value")


def decode_int8_array(data):
    """Decode a one-dimensional binary ``int8[]`` without NULLs (or an empty array)."""
    what = "int8[] value"
    cdef bytes raw = data if type(data) is bytes else _raw(data, what)
    cdef const char *p = PyBytes_AS_STRING(raw)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(raw)
    cdef int32_t ndim, oid, length
    cdef Py_ssize_t count, i
    cdef list out
    if size < 12:
        raise DecodeError(f"{what} is truncated: {size} bytes")
    ndim = _get32(p)
    if ndim == 0:
        if size != 12:
            raise DecodeError(f"{what} without dimensions must be 12 bytes, got {size}")
        return []
    if ndim != 1:
        raise DecodeError(f"{what} must be one-dimensional, got {ndim} dimensions")
    if _get32(p + 4) != 0:
        raise DecodeError(f"{what} has NULL elements, which are not supported")
    oid = _get32(p + 8)
    if oid != INT8_OID:
        raise DecodeError(f"{what} has elements of type oid {oid}, not int8 ({INT8_OID})")
    if size < 20:
        raise DecodeError(f"{what} is truncated: {size} bytes")
    count = _get32(p + 12)
    if count < 0 or size != 20 + 12 * count:
        raise DecodeError(f"{what} of unexpected size: {count} elements in {size} bytes")
    out = [None] * count
    for i in range(count):
        length = _get32(p + 20 + 12 * i)
        if length != 8:
            raise DecodeError(f"{what} element {i} must be 8 bytes, got {length}")
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

    cdef inline object get(self, object data, object what):
        cdef int64_t usecs = _int8(data, what)
        if self.value is None or usecs != self.last:
            self.value = _datetime(usecs, what)
            self.last = usecs
        return self.value

    cdef inline object get_opt(self, object data, object what):
        return None if data is None else self.get(data, what)


cdef inline object _opt_int8(object data, object what):
    return None if data is None else _int8(data, what)


cdef object _rows(object rows):
    if isinstance(rows, (str, bytes, bytearray)) or not isinstance(rows, _Iterable):
        raise DecodeError(f"rows must be an iterable of rows, not {type(rows).__name__}")
    return rows


cdef tuple _row(object item, Py_ssize_t width):
    """``item`` as a tuple of ``width`` raw values (-1: at least one)."""
    cdef tuple row
    if type(item) is tuple:
        row = <tuple>item
    elif isinstance(item, (str, bytes, bytearray)) or not isinstance(item, _Sequence):
        raise DecodeError(f"row must be a sequence of raw values, not {type(item).__name__}")
    else:
        row = tuple(item)
    if width < 0:
        if len(row) == 0:
            raise DecodeError("row has no values, expected an int8 in its first column")
    elif len(row) != width:
        raise DecodeError(f"row has {len(row)} values, expected {width}")
    return row


def decode_messages(rows):
    """Build messages from raw binary rows (column order as in ``_core_py.decode_messages``)."""
    cdef list out = []
    cdef tuple row
    cdef tuple names = _COLUMNS
    cdef QueueMessage msg
    cdef _TimestampMemo enqueued_at = _TimestampMemo()
    cdef _TimestampMemo vt = _TimestampMemo()
    cdef _TimestampMemo dequeued_at = _TimestampMemo()
    for item in _rows(rows):
        # psycopg's rows are 9-tuples: checked inline, anything else in _row.
        row = <tuple>item if type(item) is tuple and len(<tuple>item) == 9 else _row(item, 9)
        msg = QueueMessage.__new__(QueueMessage)
        msg.id = _int8(row[0], names[0])
        msg.queue_id = _int8(row[1], names[1])
        msg.payload = _jsonb(row[2], names[2])
        msg.enqueued_at = enqueued_at.get(row[3], names[3])
        msg.vt = vt.get(row[4], names[4])
        msg.read_ct = _int4(row[5], names[5])
        msg.dequeued_at = dequeued_at.get_opt(row[6], names[6])
        msg.producer_worker_id = _opt_int8(row[7], names[7])
        msg.consumer_worker_id = _opt_int8(row[8], names[8])
        out.append(msg)
    return out


def decode_ids(rows):
    """Decode the first column of each row as a binary ``int8``."""
    what = "column 1 (int8)"
    return [_int8(_row(item, -1)[0], what) for item in _rows(rows)]
