"""The code and the SQL files agree."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import psycopg
from psycopg import pq

from pgqrs import _core_py
from pgqrs._rows import MessageRow
from pgqrs._sql import (
    SCHEMA_VERSION,
    Queries,
    _read,
    expand_variants,
    parse_queries,
    queries_for,
)
from pgqrs.admin import SCHEMA_OBJECTS

core_c: ModuleType | None
try:
    core_c = importlib.import_module("pgqrs._core")
except ImportError:  # a pure-Python build
    core_c = None


def test_queries_file_defines_exactly_the_declared_statements() -> None:
    assert set(expand_variants(parse_queries(_read("queries.sql")))) == Queries.names()


def test_notify_lines_only_in_notify_variants() -> None:
    queries = queries_for("public")
    for name in ("enqueue", "enqueue_delayed", "enqueue_rows", "reserve_ids"):
        assert b"pg_notify" not in getattr(queries, name).sql
        assert b"pg_notify" in getattr(queries, f"{name}_notify").sql


def test_copy_statement_names_core_columns() -> None:
    copy = queries_for("public").copy_messages.sql.decode()
    columns = re.search(r"\(([^)]*)\)\s*FROM STDIN", copy)
    assert columns is not None
    assert tuple(c.strip() for c in columns.group(1).split(",")) == _core_py.COPY_COLUMNS


def test_schema_file_records_the_version_the_code_expects() -> None:
    schema = _read("schema.sql")
    assert f"VALUES ({SCHEMA_VERSION})" in schema
    assert f"version {SCHEMA_VERSION}." in schema.splitlines()[0]


def test_schema_file_creates_every_verified_object() -> None:
    schema = _read("schema.sql")
    for name in SCHEMA_OBJECTS:
        assert name in schema, name


def test_identifiers_are_quoted_when_rendered() -> None:
    rendered = queries_for('odd"name').dequeue.sql.decode()
    assert '"odd""name".pgqrs_messages' in rendered


def test_percent_signs_in_queries_are_placeholders() -> None:
    # psycopg reads every % as a placeholder, comments included; a stray one breaks a statement.
    for name, text in expand_variants(parse_queries(_read("queries.sql"))).items():
        assert not re.search(r"%(?![(%])", text), name


def _numbered(statement: bytes) -> bytes:
    """psycopg's ``%(name)s`` placeholders as PostgreSQL's ``$n``, for a server-side PREPARE."""
    numbers: dict[bytes, int] = {}

    def number(match: re.Match[bytes]) -> bytes:
        if match.group(0) == b"%%":
            return b"%"
        return b"$%d" % numbers.setdefault(match.group(1), len(numbers) + 1)

    return re.sub(rb"%%|%\((\w+)\)[sb]", number, statement)


def test_every_statement_returns_its_declared_columns(dsn: str, schema: str) -> None:
    # The server describes each prepared statement; nothing is executed.
    queries = queries_for(schema)
    checked = 0
    with psycopg.connect(dsn) as conn:
        for name in sorted(Queries.names()):
            statement = getattr(queries, name)
            if statement.columns is None:
                continue
            pgconn = conn.pgconn
            prepared = pgconn.prepare(name.encode(), _numbered(statement.sql))
            assert prepared.status == pq.ExecStatus.COMMAND_OK, (name, prepared.error_message)
            described = pgconn.describe_prepared(name.encode())
            got = tuple(described.fname(i).decode() for i in range(described.nfields))  # type: ignore[union-attr]
            assert got == statement.columns, name
            checked += 1
    assert checked > 40


def test_message_rows_are_what_the_cores_decode() -> None:
    assert MessageRow._fields == _core_py.MESSAGE_COLUMNS
    if core_c is not None:
        assert core_c.MESSAGE_COLUMNS == _core_py.MESSAGE_COLUMNS
