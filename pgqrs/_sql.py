"""SQL text: the schema scripts and the named queries in ``sql/``, rendered for one schema, each
query with the row type of its results.

The files hold ``{schema}`` placeholders (and ``{messages_seq}``, ``{messages_table}``,
``{archive_table}``: those objects' qualified names as string literals, for ``regclass``) that
are filled with ``psycopg.sql.Identifier``/``Literal`` composition, never with string
formatting of user input.
Rendering happens once per schema name; statements are kept as bytes, which psycopg caches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar, cast, get_type_hints

from psycopg import sql

from ._rows import (
    AdminStatusRow,
    ArchivedRow,
    CountRow,
    DeletedWorkerRow,
    ExistsRow,
    HorizonRow,
    IdRow,
    LiveTableRow,
    LockedWorkerRow,
    MaintenanceRow,
    MessageRow,
    MetricsRow,
    NameRow,
    OwnerRow,
    QueueRow,
    ReclaimedRow,
    RegisteredRow,
    ReplayRow,
    ReservedRow,
    RetentionRow,
    StatusRow,
    TableHealthRow,
    VersionRow,
    WorkerHealthRow,
    WorkerRow,
    WorkerStatsRow,
)

__all__ = ["SCHEMA_VERSION", "Queries", "Statement", "queries_for", "render_script", "script"]

#: The schema version ``sql/schema.sql`` records; ``Admin.verify`` expects exactly this, and
#: ``Admin.install`` upgrades an older one with ``sql/migrate_v2.sql`` ... ``migrate_v<this>.sql``.
SCHEMA_VERSION = 3

_QUERY_NAME = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)


def _read(filename: str) -> str:
    return resources.files("pgqrs.sql").joinpath(filename).read_text(encoding="utf-8")


def _qualified(schema: str, name: str) -> sql.Literal:
    return sql.Literal(sql.Identifier(schema, name).as_string())


def _render(text: str, schema: str) -> bytes:
    return (
        sql.SQL(text)  # trusted text from our own package data
        .format(
            schema=sql.Identifier(schema),
            messages_seq=_qualified(schema, "pgqrs_messages_id_seq"),
            messages_table=_qualified(schema, "pgqrs_messages"),
            archive_table=_qualified(schema, "pgqrs_archive"),
        )
        .as_bytes()
    )


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into ``{name: statement}`` at its ``-- name: x`` lines."""
    parts = _QUERY_NAME.split(text)
    return {
        name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


NOTIFY_MARK = "-- with notify"


def expand_variants(queries: dict[str, str]) -> dict[str, str]:
    """Split statements with lines marked ``-- with notify`` in two: ``name`` without those
    lines, ``name_notify`` with them, so the default path carries no trace of the feature."""
    expanded = {}
    for name, text in queries.items():
        lines = text.splitlines()
        if not any(line.endswith(NOTIFY_MARK) for line in lines):
            expanded[name] = text
            continue
        expanded[name] = "\n".join(line for line in lines if not line.endswith(NOTIFY_MARK))
        expanded[f"{name}_notify"] = "\n".join(
            line.removesuffix(NOTIFY_MARK).rstrip() for line in lines
        )
    return expanded


def render_script(filename: str, schema: str) -> bytes:
    """A whole SQL script from ``sql/`` (several statements) rendered for ``schema``."""
    return _render(_read(filename), schema)


#: A row type: a ``NamedTuple`` class of ``pgqrs._rows``.
R = TypeVar("R")


class Statement(Generic[R]):
    """One named statement rendered for a schema, and the type of the rows it returns.

    Attributes:
        name: its name in ``sql/queries.sql``.
        sql: the statement, rendered for one schema.
        row: the row type (``None`` for statements whose results pgqrs does not read: locks,
            DDL, COPY).
        hot: on the hot path (enqueue, dequeue, acknowledgements, heartbeats): prepared
            server-side at first use unless ``Config.prepare`` is off.  Others are left to
            psycopg's own prepare threshold.
        lane: for a hot statement whose results are all raw binary values, the statement with
            ``$n`` placeholders and the parameter names in ``$n`` order, for the lean road of
            ``pgqrs._lane``; ``None`` otherwise.
    """

    __slots__ = ("hot", "lane", "name", "row", "sql")

    def __init__(self, name: str, sql: bytes, row: type[R] | None, hot: bool) -> None:
        self.name = name
        self.sql = sql
        self.row = row
        self.hot = hot
        self.lane = numbered(sql) if hot and _all_raw(row) else None

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The declared result columns, in order (``None``: not read)."""
        return None if self.row is None else tuple(cast(Any, self.row)._fields)

    def read(self, raw: Iterable[Iterable[Any]]) -> list[R]:
        """Raw rows as rows of the declared type."""
        assert self.row is not None, f"{self.name} declares no row type"
        make = cast(Any, self.row)._make
        return [make(values) for values in raw]

    def __repr__(self) -> str:
        return f"Statement({self.name!r})"


_PLACEHOLDER = re.compile(rb"%%|%\((\w+)\)[sb]")


def numbered(text: bytes) -> tuple[bytes, tuple[str, ...]]:
    """``text`` with psycopg's ``%(name)s`` placeholders as PostgreSQL's ``$n``, and the
    parameter names in ``$n`` order."""
    names: dict[str, int] = {}

    def number(match: re.Match[bytes]) -> bytes:
        if match.group(0) == b"%%":
            return b"%"
        return b"$%d" % names.setdefault(match.group(1).decode(), len(names) + 1)

    return _PLACEHOLDER.sub(number, text), tuple(names)


def _all_raw(row: type[Any] | None) -> bool:
    """Whether every column of ``row`` is a raw binary value (``bytes``, maybe NULL)."""
    if row is None:
        return False
    hints = get_type_hints(row)
    return all(hint in (bytes, bytes | None) for hint in hints.values())


def _returns(row: type[R] | None, *, hot: bool = False) -> Statement[R]:
    """A declaration in :class:`Queries`: the row type, filled with SQL per schema."""
    return Statement("", b"", row, hot)


def script(filename: str, schema: str) -> Statement[Any]:
    """A whole SQL script from ``sql/`` (several statements) rendered for ``schema``."""
    return Statement(filename, render_script(filename, schema), None, False)


def on_object(template: str, schema: str, name: str) -> Statement[Any]:
    """A statement on one object of ``schema`` that no parameter can name (``TRUNCATE {}``,
    ``DROP INDEX ... {}``): ``{}`` becomes the quoted, schema-qualified identifier."""
    text = sql.SQL(template).format(sql.Identifier(schema, name)).as_bytes()
    return Statement(f"{template.split()[0].lower()}_{name}", text, None, False)


class Queries:
    """Every named statement of ``sql/queries.sql``, rendered for one schema.

    The declarations below are the contract between code and SQL: tests check that the file
    defines exactly these names and that each statement returns exactly its row type's columns.
    """

    # installation
    install_lock: Statement[Any] = _returns(None)
    installed_objects: Statement[NameRow] = _returns(NameRow)
    has_version_table: Statement[ExistsRow] = _returns(ExistsRow)
    schema_version: Statement[VersionRow] = _returns(VersionRow)
    # queues
    create_queue: Statement[QueueRow] = _returns(QueueRow)
    get_queue: Statement[QueueRow] = _returns(QueueRow)
    get_queue_by_id: Statement[QueueRow] = _returns(QueueRow)
    list_queues: Statement[QueueRow] = _returns(QueueRow)
    set_keep_archive: Statement[QueueRow] = _returns(QueueRow)
    count_queues: Statement[CountRow] = _returns(CountRow)
    delete_queue: Statement[IdRow] = _returns(IdRow)
    lock_messages: Statement[Any] = _returns(None)
    delete_queue_messages: Statement[Any] = _returns(None)
    delete_queue_archive: Statement[Any] = _returns(None)
    purge_queue: Statement[CountRow] = _returns(CountRow)
    queue_metrics: Statement[MetricsRow] = _returns(MetricsRow)
    # workers
    register_worker: Statement[RegisteredRow] = _returns(RegisteredRow)
    shared_identity_owners: Statement[OwnerRow] = _returns(OwnerRow)
    register_shared: Statement[RegisteredRow] = _returns(RegisteredRow)
    lock_worker: Statement[LockedWorkerRow] = _returns(LockedWorkerRow)
    take_over_worker: Statement[RegisteredRow] = _returns(RegisteredRow)
    stop_worker: Statement[IdRow] = _returns(IdRow)
    heartbeat: Statement[StatusRow] = _returns(StatusRow, hot=True)
    set_worker_status: Statement[StatusRow] = _returns(StatusRow, hot=True)
    admin_set_worker_status: Statement[AdminStatusRow] = _returns(AdminStatusRow)
    get_worker: Statement[WorkerRow] = _returns(WorkerRow)
    list_workers: Statement[WorkerRow] = _returns(WorkerRow)
    count_workers: Statement[CountRow] = _returns(CountRow)
    worker_health: Statement[WorkerHealthRow] = _returns(WorkerHealthRow)
    worker_stats: Statement[WorkerStatsRow] = _returns(WorkerStatsRow)
    release_worker_messages: Statement[CountRow] = _returns(CountRow)
    reclaim_stale_workers: Statement[ReclaimedRow] = _returns(ReclaimedRow)
    purge_stopped_workers: Statement[CountRow] = _returns(CountRow)
    delete_worker: Statement[DeletedWorkerRow] = _returns(DeletedWorkerRow)
    # producing
    enqueue: Statement[IdRow] = _returns(IdRow, hot=True)
    enqueue_notify: Statement[IdRow] = _returns(IdRow, hot=True)
    enqueue_delayed: Statement[IdRow] = _returns(IdRow, hot=True)
    enqueue_delayed_notify: Statement[IdRow] = _returns(IdRow, hot=True)
    enqueue_rows: Statement[IdRow] = _returns(IdRow, hot=True)
    enqueue_rows_notify: Statement[IdRow] = _returns(IdRow, hot=True)
    reserve_ids: Statement[ReservedRow] = _returns(ReservedRow, hot=True)
    reserve_ids_notify: Statement[ReservedRow] = _returns(ReservedRow, hot=True)
    copy_messages: Statement[Any] = _returns(None)  # columns: core.COPY_COLUMNS (tested)
    # consuming
    dequeue: Statement[MessageRow] = _returns(MessageRow, hot=True)
    bury_dead_letters: Statement[CountRow] = _returns(CountRow)
    archive_messages: Statement[IdRow] = _returns(IdRow, hot=True)
    delete_messages: Statement[IdRow] = _returns(IdRow, hot=True)
    release_messages: Statement[IdRow] = _returns(IdRow, hot=True)
    renew_leases: Statement[IdRow] = _returns(IdRow, hot=True)
    count_leases: Statement[CountRow] = _returns(CountRow, hot=True)
    release_leases: Statement[CountRow] = _returns(CountRow, hot=True)
    extend_visibility: Statement[IdRow] = _returns(IdRow, hot=True)
    # tables
    get_message: Statement[MessageRow] = _returns(MessageRow)
    list_messages: Statement[MessageRow] = _returns(MessageRow)
    count_messages: Statement[CountRow] = _returns(CountRow)
    get_archived: Statement[ArchivedRow] = _returns(ArchivedRow)
    list_archive: Statement[ArchivedRow] = _returns(ArchivedRow)
    count_archive: Statement[CountRow] = _returns(CountRow)
    delete_archived: Statement[IdRow] = _returns(IdRow)
    delete_archived_by_worker: Statement[CountRow] = _returns(CountRow)
    replay_dead_letters: Statement[ReplayRow] = _returns(ReplayRow)
    replay_queue_dead_letters: Statement[CountRow] = _returns(CountRow)

    # retention and maintenance
    get_retention: Statement[RetentionRow] = _returns(RetentionRow)
    set_retention: Statement[RetentionRow] = _returns(RetentionRow)
    lock_retention: Statement[RetentionRow] = _returns(RetentionRow)
    rotation_lock_timeout: Statement[Any] = _returns(None)
    rehome_dead_letters: Statement[CountRow] = _returns(CountRow)
    advance_slot: Statement[Any] = _returns(None)
    delete_old_dead_letters: Statement[CountRow] = _returns(CountRow)
    claim_maintenance: Statement[MaintenanceRow] = _returns(MaintenanceRow)
    release_maintenance: Statement[Any] = _returns(None)
    live_table_state: Statement[LiveTableRow] = _returns(LiveTableRow)
    rebuild_live_indexes: Statement[Any] = _returns(None)
    invalid_live_indexes: Statement[NameRow] = _returns(NameRow)
    # health
    table_health: Statement[TableHealthRow] = _returns(TableHealthRow)
    vacuum_horizon: Statement[HorizonRow] = _returns(HorizonRow)

    def __init__(self, schema: str) -> None:
        self.schema = schema
        for name, text in expand_variants(parse_queries(_read("queries.sql"))).items():
            declared: Statement[Any] = getattr(type(self), name)
            setattr(self, name, Statement(name, _render(text, schema), declared.row, declared.hot))

    @classmethod
    def names(cls) -> set[str]:
        """The names of every declared statement."""
        return {name for name, value in vars(cls).items() if isinstance(value, Statement)}


@cache
def queries_for(schema: str) -> Queries:
    """The rendered queries for ``schema`` (rendered once per process)."""
    return Queries(schema)
