"""SQL text: the schema scripts and the named queries in ``sql/``, rendered for one schema.

The files hold ``{schema}`` (and ``{messages_seq}``) placeholders that are filled with
``psycopg.sql.Identifier``/``Literal`` composition, never with string formatting of user input.
Rendering happens once per schema name; statements are kept as bytes, which psycopg caches.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from psycopg import sql

__all__ = ["SCHEMA_VERSION", "Queries", "queries_for", "render_script"]

#: The schema version ``sql/schema.sql`` records; ``Admin.verify`` expects exactly this.
SCHEMA_VERSION = 1

_QUERY_NAME = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)


def _read(filename: str) -> str:
    return resources.files("pgqrs.sql").joinpath(filename).read_text(encoding="utf-8")


def _render(text: str, schema: str) -> bytes:
    return (
        sql.SQL(text)  # trusted text from our own package data
        .format(
            schema=sql.Identifier(schema),
            messages_seq=sql.Literal(sql.Identifier(schema, "pgqrs_messages_id_seq").as_string()),
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


class Queries:
    """Every named statement of ``sql/queries.sql``, rendered for one schema.

    The annotations below are the contract between code and SQL: a test checks that the file
    defines exactly these names.
    """

    # installation
    install_lock: bytes
    installed_objects: bytes
    has_version_table: bytes
    schema_version: bytes
    # queues
    create_queue: bytes
    get_queue: bytes
    get_queue_by_id: bytes
    list_queues: bytes
    count_queues: bytes
    delete_queue: bytes
    lock_messages: bytes
    delete_queue_messages: bytes
    purge_queue: bytes
    queue_metrics: bytes
    # workers
    register_worker: bytes
    lock_worker: bytes
    take_over_worker: bytes
    stop_worker: bytes
    heartbeat: bytes
    set_worker_status: bytes
    admin_set_worker_status: bytes
    get_worker: bytes
    list_workers: bytes
    count_workers: bytes
    worker_health: bytes
    worker_stats: bytes
    release_worker_messages: bytes
    reclaim_stale_workers: bytes
    purge_stopped_workers: bytes
    # producing
    enqueue: bytes
    enqueue_notify: bytes
    enqueue_delayed: bytes
    enqueue_delayed_notify: bytes
    enqueue_rows: bytes
    enqueue_rows_notify: bytes
    reserve_ids: bytes
    reserve_ids_notify: bytes
    copy_messages: bytes
    # consuming
    dequeue: bytes
    archive_messages: bytes
    delete_messages: bytes
    release_messages: bytes
    renew_leases: bytes
    count_leases: bytes
    release_leases: bytes
    extend_visibility: bytes
    # tables
    get_message: bytes
    list_messages: bytes
    count_messages: bytes
    get_archived: bytes
    list_archive: bytes
    count_archive: bytes
    replay_dead_letters: bytes

    def __init__(self, schema: str) -> None:
        self.schema = schema
        for name, text in expand_variants(parse_queries(_read("queries.sql"))).items():
            setattr(self, name, _render(text, schema))


@cache
def queries_for(schema: str) -> Queries:
    """The rendered queries for ``schema`` (rendered once per process)."""
    return Queries(schema)
