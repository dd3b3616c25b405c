"""The code and the SQL files agree."""

from __future__ import annotations

import re

from pgqrs import _core_py
from pgqrs._sql import SCHEMA_VERSION, Queries, _read, parse_queries, queries_for
from pgqrs.admin import SCHEMA_OBJECTS


def test_queries_file_defines_exactly_the_declared_statements() -> None:
    declared = {name for name, kind in Queries.__annotations__.items() if kind == "bytes"}
    assert set(parse_queries(_read("queries.sql"))) == declared


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
