"""The two core implementations agree, and what they produce is what PostgreSQL expects.

Every test runs whether or not the compiled core is built: the pure core is checked against an
independent reference (struct packing in this module, the raw inputs, PostgreSQL itself), and the
compiled core, when present, against the pure one.  With ``PGQRS_IMPL=c`` a compiled core that
failed to build or import fails this module loudly instead of leaving the pure core alone.
"""

from __future__ import annotations

import importlib
import itertools
import os
import struct
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.string import ByteaBinaryLoader

import pgqrs
from pgqrs import PayloadTooLargeError, SerializationError, _core_py
from pgqrs._impl import IMPL_ENV


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("pgqrs._core")
    except ImportError as exc:
        if os.environ.get(IMPL_ENV) == "c":
            raise ImportError(f"{IMPL_ENV}=c but pgqrs._core does not import: {exc}") from exc
        return None


#: The compiled core, or None when it is not built (then only the pure core is tested).
COMPILED = _compiled()
#: Every core present, compiled first.
CORES: list[ModuleType] = [_core_py] if COMPILED is None else [COMPILED, _core_py]
IMPLS = pytest.mark.parametrize("core", CORES, ids=[c.__name__.rsplit(".", 1)[1] for c in CORES])
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# JSON values pgqrs stores: str keys, 64-bit ints, finite floats, no NUL (jsonb cannot hold it;
# tests/test_core_malformed.py covers NaN and NUL).
texts = st.text(alphabet=st.characters(blacklist_characters="\x00", codec="utf-8"))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
    # The characters the compiled encoder's scanners for row boundaries, nulls and NUL escapes
    # must get right.
    | st.text(alphabet='\\"[]{},nu0')
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=20,
)
int8s = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def encode_all(
    core: Any, payloads: list[Any], ids: list[int], chunk: int, **kw: Any
) -> list[bytes]:
    encoder = core.CopyEncoder(
        kw.get("queue_id", 7),
        kw.get("producer", 3),
        kw.get("enqueued_at", 10),
        kw.get("vt", 20),
        kw.get("limit"),
    )
    chunks, start = [], 0
    while True:
        data, start = encoder.encode(payloads, ids, start, chunk)
        chunks.append(data)
        if start == len(payloads):
            return chunks


def reference_stream(
    payloads: list[Any],
    ids: list[int],
    *,
    queue_id: int = 7,
    producer: int | None = 3,
    enqueued_at: int = 10,
    vt: int = 20,
) -> bytes:
    """The COPY stream built field by field from PostgreSQL's documented binary format, with
    neither core: what both must produce."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for id_, payload in zip(ids, payloads, strict=True):
        i8 = [struct.pack(">q", v) for v in (id_, queue_id, vt, enqueued_at)]
        fields: list[bytes | None] = [i8[0], i8[1], b"\x01" + orjson.dumps(payload), i8[2], i8[3]]
        fields.append(None if producer is None else struct.pack(">q", producer))
        out.append(struct.pack(">h", len(fields)))
        out += [
            struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f for f in fields
        ]
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def encode_checked(payloads: list[Any], ids: list[int], chunk: int, **kw: Any) -> list[bytes]:
    """The pure core's chunks, checked against the reference stream and the chunk bound; the
    compiled core's, when built, must be the very same chunks."""
    python = encode_all(_core_py, payloads, ids, chunk, **kw)
    assert b"".join(python) == reference_stream(payloads, ids, **kw)
    assert all(len(c) >= chunk for c in python[:-1])
    if COMPILED is not None:
        assert encode_all(COMPILED, payloads, ids, chunk, **kw) == python
    return python


def test_impl_selected_strictly() -> None:
    wanted = os.environ.get(IMPL_ENV)
    if wanted:
        assert pgqrs.__impl__ == wanted
    active = COMPILED if pgqrs.__impl__ == "c" else _core_py
    assert active is not None
    assert pgqrs.QueueMessage is active.QueueMessage


@IMPLS
def test_core_constants(core: Any) -> None:
    assert b"PGCOPY\n\xff\r\n\x00" + bytes(8) == core.COPY_HEADER
    assert core.COPY_TRAILER == b"\xff\xff"
    assert core.COPY_COLUMNS == _core_py.COPY_COLUMNS
    assert core.MAX_FIELD_BYTES == 2**31 - 2


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(json_values, max_size=30),
    producer=st.none() | int8s,
    queue_id=int8s,
    stamps=st.tuples(int8s, int8s),
    chunk=st.integers(min_value=1, max_value=4096),
)
def test_copy_encoders_byte_identical(
    payloads: list[Any], producer: int | None, queue_id: int, stamps: tuple[int, int], chunk: int
) -> None:
    ids = list(range(1, len(payloads) + 1))
    kw = {"producer": producer, "queue_id": queue_id, "enqueued_at": stamps[0], "vt": stamps[1]}
    encode_checked(payloads, ids, chunk, **kw)


def test_copy_encoders_agree_on_every_short_escape_sequence() -> None:
    # Backslash runs next to quotes are where a scanner for top-level commas goes wrong: an
    # even run before a quote ends the string, an odd one escapes it.  The same runs before
    # "u0000" are where a scanner for NUL escapes goes wrong: only an odd run makes one.
    strings = ["".join(p) for n in range(4) for p in itertools.product('\\"a,]}', repeat=n)]
    strings += ["\\" * n + "u0000" for n in range(0, 20, 2)]
    payloads = [*strings, *({s: [s, {s: s}]} for s in strings)]
    ids = list(range(len(payloads)))
    for chunk in (1, 700, 1 << 30):
        encode_checked(payloads, ids, chunk)


@settings(max_examples=200, deadline=None)
@given(payload=json_values)
def test_encode_jsonb_identical(payload: Any) -> None:
    expected = b"\x01" + orjson.dumps(payload)
    assert [core.encode_jsonb(payload, None) for core in CORES] == [expected] * len(CORES)


def raw_row(
    id_: int,
    payload: bytes,
    stamps: tuple[int, int, int | None],
    read_ct: int,
    ids: tuple[Any, Any],
) -> tuple[Any, ...]:
    def i8(v: int | None) -> bytes | None:
        return None if v is None else struct.pack(">q", v)

    return (
        i8(id_),
        i8(5),
        b"\x01" + payload,
        i8(stamps[0]),
        i8(stamps[1]),
        struct.pack(">i", read_ct),
        i8(stamps[2]),
        i8(ids[0]),
        i8(ids[1]),
    )


# Microseconds within datetime's range (years 1..9999) relative to 2000-01-01.
stamps_us = st.integers(min_value=-63_000_000_000_000_000, max_value=250_000_000_000_000_000)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            int8s,
            json_values,
            st.tuples(stamps_us, stamps_us, st.none() | stamps_us),
            st.integers(min_value=0, max_value=2**31 - 1),
            st.tuples(st.none() | int8s, st.none() | int8s),
        ),
        max_size=20,
    )
)
def test_decoders_agree(rows: list[Any]) -> None:
    raw = [
        raw_row(id_, _core_py.encode_jsonb(payload, None)[1:], stamps, read_ct, ids)
        for id_, payload, stamps, read_ct, ids in rows
    ]
    python = [m.to_dict() for m in _core_py.decode_messages(raw)]
    if COMPILED is not None:
        assert [m.to_dict() for m in COMPILED.decode_messages(raw)] == python

    def at(usecs: int | None) -> datetime | None:
        return None if usecs is None else PG_EPOCH + timedelta(microseconds=usecs)

    expected = [
        {
            "id": id_,
            "queue_id": 5,
            "payload": orjson.loads(orjson.dumps(payload)),
            "enqueued_at": at(stamps[0]),
            "vt": at(stamps[1]),
            "read_ct": read_ct,
            "dequeued_at": at(stamps[2]),
            "producer_worker_id": workers[0],
            "consumer_worker_id": workers[1],
        }
        for id_, payload, stamps, read_ct, workers in rows
    ]
    assert python == expected
    assert all(m["vt"].tzinfo is UTC for m in python)


@IMPLS
def test_decode_jsonb_beyond_double_range(core: Any) -> None:
    # jsonb prints numerics in full; 1e400 is valid jsonb but not a double.
    assert core.decode_jsonb(b"\x01[1e400]") == [float("inf")]
    with pytest.raises(ValueError, match="version"):
        core.decode_jsonb(b"\x02{}")


@IMPLS
def test_decode_int8_array(core: Any) -> None:
    values = [0, -1, 2**63 - 1, -(2**63)]
    raw = struct.pack(">iiiii", 1, 0, 20, len(values), 1) + b"".join(
        struct.pack(">iq", 8, v) for v in values
    )
    assert core.decode_int8_array(raw) == values
    assert core.decode_int8_array(struct.pack(">iii", 0, 0, 20)) == []
    with pytest.raises(ValueError, match="unexpected size"):
        core.decode_int8_array(raw[:-1])  # truncated


bad_payloads = [
    pytest.param({"x": object()}, SerializationError, id="object"),
    pytest.param({1: "int key"}, SerializationError, id="non-str-key"),
    pytest.param({"n": 2**64}, SerializationError, id="int-over-64-bit"),
    pytest.param({"s": "x" * 100}, PayloadTooLargeError, id="too-large"),
]


@IMPLS
@pytest.mark.parametrize(("payload", "error"), bad_payloads)
def test_bad_payload_errors_name_the_index(core: Any, payload: Any, error: type) -> None:
    payloads = [{"ok": 1}, {"ok": 2}, payload, {"ok": 4}]
    with pytest.raises(error) as info:
        encode_all(core, payloads, [1, 2, 3, 4], 1 << 20, limit=64)
    assert getattr(info.value, "index", None) == 2
    assert "index 2" in str(info.value)
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize(("payload", "error"), bad_payloads)
def test_bad_payload_errors_identical(payload: Any, error: type) -> None:
    messages = []
    for core in CORES:
        with pytest.raises(error) as info:
            encode_all(core, [payload], [1], 1 << 20, limit=64)
        messages.append((type(info.value), str(info.value)))
        with pytest.raises(error) as single:
            core.encode_jsonb(payload, 64)
        assert getattr(single.value, "index", 0) is None
        with pytest.raises(error) as indexed:
            core.encode_jsonb(payload, 64, 7)
        assert getattr(indexed.value, "index", None) == 7
        messages.append((type(indexed.value), str(indexed.value)))
    assert "payload at index 0 " in messages[0][1]
    assert "payload at index 7 " in messages[1][1]
    assert messages[:2] == messages[-2:]  # compiled == pure Python, when built


@IMPLS
def test_serialization_error_is_a_type_error(core: Any) -> None:
    with pytest.raises(TypeError):
        core.encode_jsonb({"x": {1, 2}}, None)


@IMPLS
def test_encoder_rejects_mismatched_ids(core: Any) -> None:
    with pytest.raises(ValueError, match="ids"):
        core.CopyEncoder(1, None, 0, 0, None).encode([{}], [], 0, 100)


GOLDEN_PAYLOADS = [
    {"task": "émoji 🚀", "nested": {"list": [1, 2.5, None, True, "x"]}},
    [],
    "plain string",
    -(2**63),
    1.5e300,
    {"": {"deep": [[[]]]}},
]


@IMPLS
def test_golden_copy_stream_accepted_by_postgres(core: Any, dsn: str, schema: str) -> None:
    ids = [101, 102, 103, 104, 105, 106]
    stamp = 800_000_000_000_000  # 2025-05-09 ...
    chunks = encode_all(
        core, GOLDEN_PAYLOADS, ids, 64, queue_id=1, producer=None, enqueued_at=stamp, vt=stamp
    )
    assert len(chunks) > 1  # the 64-byte chunk limit splits the stream
    with psycopg.connect(dsn, autocommit=True) as conn:
        qualified = sql.Identifier(schema, "pgqrs_queues")
        conn.execute(sql.SQL("INSERT INTO {} (queue_name) VALUES ('golden')").format(qualified))
        table = sql.Identifier(schema, "pgqrs_messages")
        columns = sql.SQL(", ").join(map(sql.Identifier, core.COPY_COLUMNS))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, columns)
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for chunk in chunks:
                copy.write(chunk)
        # Read payloads back raw and decode them as pgqrs does (the stdlib json psycopg uses
        # would turn jsonb's full-digit 1.5e300 into an int).
        conn.adapters.register_loader(conn.adapters.types["jsonb"].oid, ByteaBinaryLoader)
        rows = conn.execute(
            sql.SQL(
                "SELECT id, payload, enqueued_at, vt, producer_worker_id FROM {} ORDER BY id"
            ).format(table),
            binary=True,
        ).fetchall()
    expected_time = PG_EPOCH + timedelta(microseconds=stamp)
    assert [r[0] for r in rows] == ids
    assert [core.decode_jsonb(r[1]) for r in rows] == GOLDEN_PAYLOADS
    assert {(r[2], r[3], r[4]) for r in rows} == {(expected_time, expected_time, None)}
