"""The code and the SQL files agree."""

from __future__ import annotations

import re

from pgqrs import _core_py
from pgqrs._sql import (
    SCHEMA_VERSION,
    Queries,
    _read,
    expand_variants,
    parse_queries,
    queries_for,
)
from pgqrs.admin import SCHEMA_OBJECTS


def test_queries_file_defines_exactly_the_declared_statements() -> None:
    declared = {name for name, kind in Queries.__annotations__.items() if kind == "bytes"}
    assert set(expand_variants(parse_queries(_read("queries.sql")))) == declared


def test_notify_lines_only_in_notify_variants() -> None:
    queries = queries_for("public")
    for name in ("enqueue", "enqueue_delayed", "enqueue_rows", "reserve_ids"):
        assert b"pg_notify" not in getattr(queries, name)
        assert b"pg_notify" in getattr(queries, f"{name}_notify")


def test_copy_statement_names_core_columns() -> None:
    copy = queries_for("public").copy_messages.decode()
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
    rendered = queries_for('odd"name').dequeue.decode()
    assert '"odd""name".pgqrs_messages' in rendered


def test_percent_signs_in_queries_are_placeholders() -> None:
    # psycopg reads every % as a placeholder, comments included; a stray one breaks a statement.
    for name, text in expand_variants(parse_queries(_read("queries.sql"))).items():
        assert not re.search(r"%(?![(%])", text), name
