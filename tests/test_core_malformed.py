"""Malformed input to every public core function: both cores raise the same pgqrs error.

Each case runs against every core present (the compiled one and the pure twin side by side, or
the pure one alone when the extension is not built) and must raise the expected type with a
message naming the problem; with both cores the type, message and ``.index`` must be identical.
No database: raw values are built here the way PostgreSQL sends them.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import struct
from collections.abc import Callable
from typing import Any

import pytest
from test_core import COMPILED, CORES

import pgqrs
from pgqrs import DecodeError, PayloadTooLargeError, SerializationError, ValidationError

Call = Callable[[Any], Any]
NAN, INF = math.nan, math.inf


def i8(value: int) -> bytes:
    return struct.pack(">q", value)


def outcome(core: Any, call: Call) -> tuple[Any, ...]:
    try:
        result = call(core)
    except Exception as exc:
        return (type(exc), str(exc), getattr(exc, "index", None))
    return ("returned", result if isinstance(result, (bytes, int, list)) else repr(result))


def check(call: Call, error: type[Exception], match: str, index: int | None = None) -> None:
    """Every core raises ``error`` with a message matching ``match`` (and ``.index``), and all
    of them raise exactly the same."""
    results = [outcome(core, call) for core in CORES]
    for core, result in zip(CORES, results, strict=True):
        assert result[0] is error, f"{core.__name__}: {result}"
        assert re.search(match, result[1]), f"{core.__name__}: {result[1]!r} !~ {match!r}"
        assert result[2] == index, f"{core.__name__}: index {result[2]}"
    assert results == [results[0]] * len(results)


def check_accepted(call: Call, expected: Any) -> None:
    """Every core accepts the input and returns ``expected`` (the edge of what is allowed)."""
    for core in CORES:
        assert call(core) == expected, core.__name__


# -- raw values from the server: DecodeError ------------------------------------------------

ARRAY_OK = (
    struct.pack(">iiiii", 1, 0, 20, 2, 1) + struct.pack(">iq", 8, 5) + struct.pack(">iq", 8, 6)
)


def array(ndim: int = 1, nulls: int = 0, oid: int = 20, count: int = 1, *elements: bytes) -> bytes:
    return struct.pack(">iiiii", ndim, nulls, oid, count, 1) + b"".join(elements)


# Microseconds from 2000-01-01 to datetime.min and to datetime.max (UTC).
USECS_MIN = -63_082_281_600_000_000
USECS_MAX = 252_455_615_999_999_999

DECODE_CASES = [
    # decode_int8
    ("int8-16-bytes", lambda c: c.decode_int8(bytes(16)), r"^int8 value must be 8 bytes, got 16$"),
    ("int8-empty", lambda c: c.decode_int8(b""), r"must be 8 bytes, got 0"),
    ("int8-str", lambda c: c.decode_int8("abcdefgh"), r"^int8 value must be bytes, not str$"),
    ("int8-int", lambda c: c.decode_int8(8), r"must be bytes, not int"),
    ("int8-null", lambda c: c.decode_int8(None), r"^int8 value is NULL$"),
    ("int8-memoryview-7", lambda c: c.decode_int8(memoryview(bytes(7))), r"got 7$"),
    # decode_timestamptz
    ("ts-4-bytes", lambda c: c.decode_timestamptz(bytes(4)), r"^timestamptz value must be 8"),
    ("ts-str", lambda c: c.decode_timestamptz("x" * 8), r"must be bytes, not str"),
    (
        "ts-infinity",
        lambda c: c.decode_timestamptz(i8(2**63 - 1)),
        r"outside the range of datetime",
    ),
    ("ts--infinity", lambda c: c.decode_timestamptz(i8(-(2**63))), r"outside the range"),
    ("ts-after-9999", lambda c: c.decode_timestamptz(i8(USECS_MAX + 1)), r"years 1 to 9999"),
    ("ts-before-1", lambda c: c.decode_timestamptz(i8(USECS_MIN - 1)), r"years 1 to 9999"),
    # decode_jsonb
    ("jsonb-empty", lambda c: c.decode_jsonb(b""), r"^jsonb value is empty"),
    ("jsonb-version-2", lambda c: c.decode_jsonb(b"\x02{}"), r"unsupported .*version 2$"),
    ("jsonb-invalid", lambda c: c.decode_jsonb(b"\x01{nope"), r"^jsonb value is not valid JSON"),
    ("jsonb-truncated", lambda c: c.decode_jsonb(b'\x01{"a":'), r"not valid JSON"),
    ("jsonb-bad-utf8", lambda c: c.decode_jsonb(b'\x01"\xff"'), r"not valid JSON.*utf-8"),
    ("jsonb-str", lambda c: c.decode_jsonb("\x01{}"), r"^jsonb value must be bytes, not str$"),
    ("jsonb-null", lambda c: c.decode_jsonb(None), r"^jsonb value is NULL$"),
    # decode_int8_array
    ("array-16-bytes", lambda c: c.decode_int8_array(array()[:16]), r"truncated: 16"),
    ("array-11-bytes", lambda c: c.decode_int8_array(bytes(11)), r"^int8\[\] value is truncated"),
    ("array-empty-plus", lambda c: c.decode_int8_array(array(0)[:12] + bytes(4)), r"12 bytes"),
    ("array-2-dims", lambda c: c.decode_int8_array(array(2)), r"one-dimensional, got 2"),
    ("array-nulls", lambda c: c.decode_int8_array(array(1, 1)), r"NULL elements"),
    ("array-int4", lambda c: c.decode_int8_array(array(1, 0, 23)), r"type oid 23, not int8"),
    ("array-short", lambda c: c.decode_int8_array(ARRAY_OK[:-1]), r"unexpected size"),
    ("array-long", lambda c: c.decode_int8_array(ARRAY_OK + b"\0"), r"2 elements in 45 bytes"),
    ("array-negative", lambda c: c.decode_int8_array(array(1, 0, 20, -1)), r"-1 elements"),
    (
        "array-4-byte-element",
        lambda c: c.decode_int8_array(array(1, 0, 20, 1, struct.pack(">iiI", 4, 1, 0))),
        r"element 0 must be 8 bytes, got 4",
    ),
    ("array-str", lambda c: c.decode_int8_array("x" * 20), r"must be bytes, not str"),
    ("array-null", lambda c: c.decode_int8_array(None), r"^int8\[\] value is NULL$"),
]


@pytest.mark.parametrize(
    ("call", "match"), [c[1:] for c in DECODE_CASES], ids=[c[0] for c in DECODE_CASES]
)
def test_malformed_raw_value(call: Call, match: str) -> None:
    check(call, DecodeError, match)


def test_raw_value_edges_accepted() -> None:
    check_accepted(lambda c: c.decode_int8(memoryview(i8(-5))), -5)
    check_accepted(lambda c: c.decode_int8(bytearray(i8(7))), 7)
    check_accepted(lambda c: c.decode_timestamptz(i8(USECS_MAX)).year, 9999)
    check_accepted(lambda c: c.decode_timestamptz(i8(USECS_MIN)).year, 1)
    check_accepted(lambda c: c.decode_int8_array(ARRAY_OK), [5, 6])
    check_accepted(lambda c: c.decode_int8_array(memoryview(array(0)[:12])), [])
    check_accepted(lambda c: c.decode_jsonb(memoryview(b'\x01{"a":null}')), {"a": None})


def message_row(**changes: Any) -> tuple[Any, ...]:
    """A valid raw dequeue row, with some columns replaced."""
    row = {
        "id": i8(1),
        "queue_id": i8(2),
        "payload": b'\x01{"a":1}',
        "enqueued_at": i8(0),
        "vt": i8(10),
        "read_ct": struct.pack(">i", 1),
        "dequeued_at": None,
        "producer_worker_id": None,
        "consumer_worker_id": i8(3),
    } | changes
    return tuple(row.values())


ROW_CASES = [
    ("rows-none", None, r"^rows must be an iterable of rows, not NoneType$"),
    ("rows-int", 5, r"not int$"),
    ("rows-bytes", b"\x00" * 9, r"not bytes$"),
    ("row-str", ["abcdefghi"], r"^row must be a sequence of raw values, not str$"),
    ("row-int", [7], r"not int$"),
    ("row-8-values", [message_row()[:8]], r"^row has 8 values, expected 9$"),
    ("row-10-values", [(*message_row(), None)], r"^row has 10 values, expected 9$"),
    ("row-empty", [()], r"^row has 0 values"),
    ("id-str", [message_row(id="12345678")], r"^column id \(int8\) must be bytes, not str$"),
    ("id-16-bytes", [message_row(id=bytes(16))], r"^column id \(int8\) must be 8 bytes, got 16$"),
    ("id-null", [message_row(id=None)], r"^column id \(int8\) is NULL$"),
    ("queue-id-int", [message_row(queue_id=2)], r"^column queue_id \(int8\) must be bytes"),
    ("payload-null", [message_row(payload=None)], r"^column payload \(jsonb\) is NULL$"),
    ("payload-v0", [message_row(payload=b"\x00{}")], r"^column payload \(jsonb\) has unsup"),
    ("enqueued-at-null", [message_row(enqueued_at=None)], r"^column enqueued_at .* is NULL$"),
    ("vt-null", [message_row(vt=None)], r"^column vt \(timestamptz\) is NULL$"),
    ("vt-infinity", [message_row(vt=i8(2**63 - 1))], r"^column vt .* outside the range"),
    ("read-ct-8-bytes", [message_row(read_ct=i8(1))], r"^column read_ct \(int4\) must be 4 bytes"),
    ("read-ct-null", [message_row(read_ct=None)], r"^column read_ct \(int4\) is NULL$"),
    ("dequeued-at-3-bytes", [message_row(dequeued_at=b"abc")], r"^column dequeued_at .* got 3$"),
    ("producer-str", [message_row(producer_worker_id="x")], r"^column producer_worker_id"),
    ("consumer-float", [message_row(consumer_worker_id=1.0)], r"^column consumer_worker_id .*flo"),
    # The first bad column of the first bad row is the one named.
    ("first-bad-column", [message_row(vt=b"", payload=b"")], r"^column payload"),
    ("second-row", [message_row(), message_row(queue_id=b"")], r"^column queue_id"),
]


@pytest.mark.parametrize(
    ("rows", "match"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES]
)
def test_malformed_message_rows(rows: Any, match: str) -> None:
    check(lambda c: c.decode_messages(rows), DecodeError, match)


IDS_CASES = [
    ("rows-none", None, r"^rows must be an iterable of rows, not NoneType$"),
    ("row-empty", [()], r"^row has no values, expected an int8 in its first column$"),
    ("row-str", ["12345678"], r"^row must be a sequence of raw values, not str$"),
    ("row-bytes", [i8(1)], r"not bytes$"),
    ("id-str", [("12345678",)], r"^column 1 \(int8\) must be bytes, not str$"),
    ("id-16-bytes", [(bytes(16),)], r"^column 1 \(int8\) must be 8 bytes, got 16$"),
    ("id-null", [(i8(1),), (None,)], r"^column 1 \(int8\) is NULL$"),
]


@pytest.mark.parametrize(
    ("rows", "match"), [c[1:] for c in IDS_CASES], ids=[c[0] for c in IDS_CASES]
)
def test_malformed_id_rows(rows: Any, match: str) -> None:
    check(lambda c: c.decode_ids(rows), DecodeError, match)


def test_rows_of_other_sequences_accepted() -> None:
    row = message_row()
    expected = [m.to_dict() for m in CORES[-1].decode_messages([row])]
    check_accepted(lambda c: [m.to_dict() for m in c.decode_messages([list(row)])], expected)
    mixed = [memoryview(v) if isinstance(v, bytes) else v for v in row]
    check_accepted(lambda c: [m.to_dict() for m in c.decode_messages(iter([mixed]))], expected)
    check_accepted(lambda c: c.decode_ids([[i8(4), b"ignored"], (bytearray(i8(5)),)]), [4, 5])


# -- encoder arguments: ValidationError -----------------------------------------------------


def encoder(core: Any, *args: Any) -> Any:
    base = [7, 3, 10, 20, None]
    return core.CopyEncoder(*args, *base[len(args) :])


def encode(
    core: Any, payloads: Any, ids: Any, start: Any = 0, max_bytes: Any = 1 << 20, **kw: Any
) -> Any:
    return core.CopyEncoder(7, 3, 10, 20, kw.get("limit")).encode(payloads, ids, start, max_bytes)


INT8_RANGE = r"must be within int8 \(-9223372036854775808 to 9223372036854775807\), got "
ARGUMENT_CASES = [
    ("queue-id-str", lambda c: encoder(c, "7"), r"^queue_id must be an integer, not str$"),
    ("queue-id-float", lambda c: encoder(c, 7.0), r"^queue_id must be an integer, not float$"),
    ("queue-id-bool", lambda c: encoder(c, True), r"^queue_id must be an integer, not bool$"),
    ("queue-id-none", lambda c: encoder(c, None), r"^queue_id must be an integer, not NoneType$"),
    ("queue-id-2**63", lambda c: encoder(c, 2**63), rf"^queue_id {INT8_RANGE}9223372036854775808$"),
    ("producer-2**70", lambda c: encoder(c, 7, 2**70), rf"^producer_worker_id {INT8_RANGE}"),
    ("producer-str", lambda c: encoder(c, 7, "3"), r"^producer_worker_id must be an integer"),
    ("enqueued-at-float", lambda c: encoder(c, 7, 3, 1.5), r"^enqueued_at must be an integer"),
    ("vt-too-low", lambda c: encoder(c, 7, 3, 10, -(2**63) - 1), rf"^vt {INT8_RANGE}"),
    (
        "limit-float",
        lambda c: encoder(c, 7, 3, 10, 20, 8.0),
        r"^max_payload_bytes must be None or an integer, not float$",
    ),
    ("limit-str", lambda c: encoder(c, 7, 3, 10, 20, "8"), r"not str$"),
    ("limit-bool", lambda c: encoder(c, 7, 3, 10, 20, True), r"not bool$"),
    (
        "limit-negative",
        lambda c: encoder(c, 7, 3, 10, 20, -1),
        r"^max_payload_bytes must be None or at least 0, got -1$",
    ),
    (
        "jsonb-limit-float",
        lambda c: c.encode_jsonb({}, 1.5),
        r"^max_payload_bytes must be None or an integer, not float$",
    ),
    ("jsonb-limit-negative", lambda c: c.encode_jsonb({}, -5), r"at least 0, got -5$"),
    (
        "jsonb-index-str",
        lambda c: c.encode_jsonb({}, None, "1"),
        r"^index must be None or an integer, not str$",
    ),
    ("jsonb-index-bool", lambda c: c.encode_jsonb({}, None, False), r"not bool$"),
    (
        "jsonb-index-negative",
        lambda c: c.encode_jsonb({}, None, -1),
        r"^index must be None or 0 to \d+, got -1$",
    ),
    (
        "jsonb-index-2**70",
        lambda c: c.encode_jsonb({}, None, 2**70),
        r"got 1180591620717411303424$",
    ),
    (
        "payloads-generator",
        lambda c: encode(c, (p for p in [{"n": 1}]), [1]),
        r"^payloads must be a sequence \(list or tuple\), not generator$",
    ),
    ("payloads-str", lambda c: encode(c, "ab", [1, 2]), r"^payloads must be a sequence .*not str$"),
    ("payloads-dict", lambda c: encode(c, {"a": 1}, [1]), r"not dict$"),
    ("payloads-none", lambda c: encode(c, None, []), r"not NoneType$"),
    ("ids-none", lambda c: encode(c, [{}], None), r"^ids must be a sequence .*not NoneType$"),
    ("ids-set", lambda c: encode(c, [{}], {1}), r"^ids must be a sequence .*not set$"),
    ("ids-too-few", lambda c: encode(c, [{}, {}], [1]), r"^1 ids for 2 payloads$"),
    ("start-negative", lambda c: encode(c, [{}], [1], -1), r"^start -1 outside 0..1$"),
    ("start-past-end", lambda c: encode(c, [{}], [1], 2), r"^start 2 outside 0..1$"),
    (
        "start-2**70",
        lambda c: encode(c, [{}], [1], 2**70),
        r"^start 1180591620717411303424 outside",
    ),
    ("start-float", lambda c: encode(c, [{}], [1], 0.0), r"^start must be an integer, not float$"),
    ("start-bool", lambda c: encode(c, [{}], [1], False), r"^start must be an integer, not bool$"),
    (
        "max-bytes-negative",
        lambda c: encode(c, [{}], [1], 0, -1),
        r"^max_bytes must be at least 0, got -1$",
    ),
    (
        "max-bytes-float",
        lambda c: encode(c, [{}], [1], 0, 1e6),
        r"^max_bytes must be an integer, not float$",
    ),
    ("max-bytes-none", lambda c: encode(c, [{}], [1], 0, None), r"not NoneType$"),
    ("id-str", lambda c: encode(c, [{}], ["1"]), r"^ids\[0\] must be an integer, not str$"),
    (
        "id-none",
        lambda c: encode(c, [{}, {}], [1, None]),
        r"^ids\[1\] must be an integer, not NoneType$",
    ),
    ("id-float", lambda c: encode(c, [{}], [1.0]), r"^ids\[0\] must be an integer, not float$"),
    ("id-bool", lambda c: encode(c, [{}], [True]), r"^ids\[0\] must be an integer, not bool$"),
    (
        "id-2**63",
        lambda c: encode(c, [{}], [2**63]),
        rf"^ids\[0\] {INT8_RANGE}9223372036854775808$",
    ),
    ("id-below-int8", lambda c: encode(c, [{}], [-(2**63) - 1]), rf"^ids\[0\] {INT8_RANGE}"),
    # The grouped fast path (128 rows per orjson call) checks ids row by row too.
    (
        "id-in-second-group",
        lambda c: encode(c, [{}] * 300, [*range(200), "x", *range(99)]),
        r"^ids\[200\]",
    ),
    # Within a row the payload is checked before the id; an earlier row's id before a later
    # row's payload.
    ("bad-payload-and-id", lambda c: encode(c, [{}, {1}], [1, "x"]), r"^payload at index 1 is not"),
    ("bad-id-then-payload", lambda c: encode(c, [{}, {1}], ["x", 2]), r"^ids\[0\]"),
]


@pytest.mark.parametrize(
    ("call", "match"), [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES]
)
def test_bad_encoder_argument(call: Call, match: str) -> None:
    error = SerializationError if match.startswith("^payload ") else ValidationError
    check(call, error, match, 1 if error is SerializationError else None)


def test_encoder_argument_edges_accepted() -> None:
    ints = (-(2**63), 2**63 - 1)
    stream = [
        core.CopyEncoder(ints[1], ints[0], ints[0], ints[1], 0).encode((), [], 0, 0)[0]
        for core in CORES
    ]
    assert stream == [stream[0]] * len(CORES)
    check_accepted(lambda c: encode(c, ({},), (ints[0],))[1], 1)
    check_accepted(lambda c: encode(c, [{}], [1], 1)[1], 1)  # start == len: only the trailer
    check_accepted(lambda c: encode(c, [{}], [1], 0, 2**70)[1], 1)
    check_accepted(lambda c: c.encode_jsonb({}, 2**70, 2**62), b"\x01{}")

    class IntId(int):
        pass

    check_accepted(lambda c: encode(c, [{}], [IntId(9)]), encode(CORES[-1], [{}], [9]))


# -- payload content: SerializationError with .index ----------------------------------------


class Colour(enum.Enum):
    NAN = NAN


@dataclasses.dataclass
class Reading:
    value: float
    _hidden: float = NAN  # orjson skips names starting with "_"


@dataclasses.dataclass(slots=True)
class SlotReading:
    value: float


class Tagged(dict[str, Any]):
    pass


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


NONFINITE = r"contains the float {}, which JSON cannot represent \(it would be stored as null\)$"
NUL = r"contains a NUL character \(\\x00\) in a string or key, which jsonb cannot store$"
PAYLOAD_CASES = [
    ("nan", NAN, NONFINITE.format("nan")),
    ("inf", INF, NONFINITE.format("inf")),
    ("-inf", -INF, NONFINITE.format("-inf")),
    ("nan-in-dict", {"a": None, "b": {"c": [1.5, NAN]}}, NONFINITE.format("nan")),
    ("inf-in-tuple", {"t": (None, INF)}, NONFINITE.format("inf")),
    ("first-of-two", [None, -INF, NAN], NONFINITE.format("-inf")),
    ("nan-enum", [None, Colour.NAN], NONFINITE.format("nan")),
    ("inf-dataclass", [None, Reading(INF)], NONFINITE.format("inf")),
    ("nan-slots-dataclass", [None, SlotReading(NAN)], NONFINITE.format("nan")),
    ("nan-dict-subclass", Tagged(a=None, b=NAN), NONFINITE.format("nan")),
    ("nul-in-value", {"s": "a\x00b"}, NUL),
    ("nul-in-key", {"k\x00": 1}, NUL),
    ("nul-after-escaped-backslash", ["\\\x00"], NUL),
    ("nul-and-nan", [NAN, "\x00"], NONFINITE.format("nan")),  # non-finite is checked first
    ("set", {"s": {1, 2}}, r"is not JSON serialisable: Type is not JSON serializable: set$"),
    ("bytes", b"raw", r"is not JSON serialisable: .*bytes$"),
    ("object", object(), r"is not JSON serialisable: .*object$"),
    ("int-over-64-bits", 2**64, r"is not JSON serialisable: Integer exceeds 64-bit range$"),
    ("non-str-key", {1: "x"}, r"is not JSON serialisable: Dict key must be str$"),
    ("lone-surrogate", "\ud800", r"is not JSON serialisable: str is not valid UTF-8"),
    ("300-deep", nested(300), r"is not JSON serialisable: Recursion limit reached$"),
]


@pytest.mark.parametrize(
    ("payload", "match"), [c[1:] for c in PAYLOAD_CASES], ids=[c[0] for c in PAYLOAD_CASES]
)
def test_bad_payload_everywhere(payload: Any, match: str) -> None:
    check(lambda c: c.encode_jsonb(payload, None), SerializationError, rf"^payload {match}")
    check(
        lambda c: c.encode_jsonb(payload, None, 3),
        SerializationError,
        rf"^payload at index 3 {match}",
        3,
    )
    # In a batch: the grouped fast path (rows 0..127, 128..255, ...) and the row-by-row path
    # (a limit below the good rows' size is irrelevant: bad content is named first).
    for position in (0, 5, 127, 128, 299):
        payloads: list[Any] = [{"ok": n, "none": None, "s": "\\u0000 is text"} for n in range(300)]
        payloads[position] = payload
        ids = list(range(1, 301))
        check(
            functools.partial(encode, payloads=payloads, ids=ids),
            SerializationError,
            rf"^payload at index {position} {match}",
            position,
        )


ACCEPTED_PAYLOADS = [
    None,
    [None, {"null": "null", "n": None}],
    "\\u0000",
    {"\\\\u0000": "\\\\\\\\u0000"},
    Reading(1.5),  # its hidden NaN field is never written
    [float("1e308"), -0.0, 5e-324],
]


@pytest.mark.parametrize("payload", ACCEPTED_PAYLOADS)
def test_payload_content_edges_accepted(payload: Any) -> None:
    # null, "null" and an escaped backslash before "u0000" are ordinary JSON.
    check_accepted(lambda c: c.encode_jsonb(payload, None), CORES[-1].encode_jsonb(payload, None))
    check_accepted(lambda c: encode(c, [payload] * 3, [1, 2, 3])[1], 3)


@pytest.mark.skipif(
    COMPILED is not None and pgqrs.__impl__ != "c",
    reason="seconds of 2 GiB payloads: run once, in the PGQRS_IMPL=c run, against both cores",
)
def test_payload_over_the_copy_field_limit() -> None:
    # The int32 length of a COPY field: whatever max_payload_bytes says, a longer JSON text
    # would wrap the length and let the server read payload bytes as rows.  Two 1 GiB strings
    # make 2**31 - 1 bytes of JSON, one over the cap (one string that long crashes orjson
    # 3.13 itself).
    half = "x" * (2**30 - 4)
    huge = [half, half]
    over = r"is 2147483647 bytes of JSON, over the limit of 2147483646 bytes"
    check(lambda c: encode(c, [huge], [1]), PayloadTooLargeError, over, 0)  # no limit


def test_size_is_checked_before_content() -> None:
    # Cheapest first: a payload both too large and holding NaN or NUL is named as too large.
    for payload in ([NAN, "x" * 100], ["\x00" * 100]):
        match = r"^payload at index 1 is \d+ bytes of JSON, over the limit of 64 bytes"
        check(
            functools.partial(encode, payloads=[{}, payload], ids=[1, 2], limit=64),
            PayloadTooLargeError,
            match,
            1,
        )
