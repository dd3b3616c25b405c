"""In-place upgrades: a database installed by an earlier pgqrs (built from that version's frozen
SQL in ``sql/schema_v<N>.sql`` and filled with real data) is upgraded by ``Admin.install()``,
keeps every row, ends up with the same schema as a fresh install, and works with this pgqrs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import Admin, Consumer, Producer, SchemaError, WorkerStatus
from pgqrs._sql import SCHEMA_VERSION, render_script

#: Every earlier schema version that has a frozen SQL file; each must upgrade to the current one.
EARLIER_VERSIONS = list(range(1, SCHEMA_VERSION))

TABLES = ("pgqrs_queues", "pgqrs_workers", "pgqrs_messages", "pgqrs_archive")


def _exec(dsn: str, statement: sql.Composed | bytes, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def bare_schema(dsn: str) -> Iterator[str]:
    """An empty schema name, dropped after the test."""
    name = f"pgqrs_up_{uuid.uuid4().hex[:12]}"
    yield name
    _exec(dsn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def fill_version_1(dsn: str, schema: str) -> None:
    """What a version-1 pgqrs leaves in its tables: two queues, a producer, a consumer holding
    a valid lease, pending, delayed and leased messages, archived messages and a dead letter."""
    t = {name: sql.Identifier(schema, name) for name in TABLES}
    statements = [
        sql.SQL("INSERT INTO {} (queue_name) VALUES ('orders'), ('mail')").format(
            t["pgqrs_queues"]
        ),
        # A producer and a consumer registered by a v1 process that is gone (pid 1 is init,
        # on another host: the heartbeat decides), and one stopped worker.
        sql.SQL(
            "INSERT INTO {} (hostname, port, queue_id, process_host, process_id, status,"
            " heartbeat_at) VALUES"
            " ('api', 8000, 1, 'old-host', 1, 'ready', now() - interval '1 hour'),"
            " ('worker', 9000, 1, 'old-host', 1, 'ready', now() - interval '1 hour'),"
            " ('gone', 1, 2, 'old-host', 1, 'stopped', now() - interval '1 day')"
        ).format(t["pgqrs_workers"]),
        sql.SQL(
            "INSERT INTO {} (queue_id, payload, vt, read_ct, dequeued_at, producer_worker_id,"
            " consumer_worker_id) VALUES"
            " (1, '{{\"n\": 1}}', now() - interval '1 minute', 0, NULL, 1, NULL),"
            " (1, '{{\"n\": 2}}', now() + interval '1 hour', 1, now(), 1, 2),"
            " (1, '{{\"n\": 3}}', now() + interval '1 day', 0, NULL, 1, NULL),"
            ' (2, \'{{"to": "x@example.org"}}\', now(), 0, NULL, 1, NULL)'
        ).format(t["pgqrs_messages"]),
        sql.SQL(
            "INSERT INTO {} (original_msg_id, queue_id, payload, vt, enqueued_at, read_ct,"
            " dequeued_at, producer_worker_id, consumer_worker_id, dead_lettered_at,"
            " dead_letter_reason) VALUES"
            " (100, 1, '{{\"n\": 0}}', now(), now(), 1, now(), 1, 2, NULL, NULL),"
            " (101, 1, '{{\"n\": -1}}', now(), now(), 5, now(), 1, 2, now(),"
            "  'delivered 5 times without acknowledgement')"
        ).format(t["pgqrs_archive"]),
    ]
    for statement in statements:
        _exec(dsn, statement)


def fill_version_2(dsn: str, schema: str) -> None:
    """What a version-2 pgqrs leaves: the version-1 data, plus workers that record their kind, a
    producer identity shared by two processes and a consumer on port 0."""
    fill_version_1(dsn, schema)
    workers = sql.Identifier(schema, "pgqrs_workers")
    _exec(
        dsn,
        sql.SQL(
            "INSERT INTO {} (hostname, port, queue_id, process_host, process_id, status,"
            " heartbeat_at, kind) VALUES"
            " ('web', 8080, 1, 'old-host', 11, 'ready', now() - interval '1 hour', 'producer'),"
            " ('web', 8080, 1, 'old-host', 12, 'ready', now() - interval '1 hour', 'producer'),"
            " ('any', 0, 2, 'old-host', 13, 'stopped', now() - interval '1 day', 'consumer')"
        ).format(workers),
    )


FILLS = {1: fill_version_1, 2: fill_version_2}


def table_dump(dsn: str, schema: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every pgqrs table, as dicts, ordered by id."""
    dump = {}
    with psycopg.connect(dsn) as conn:
        for name in TABLES:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            query = sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(schema, name))
            dump[name] = cur.execute(query).fetchall()
    return dump


def catalog(dsn: str, schema: str) -> dict[str, Any]:
    """The shape of a pgqrs schema: columns, indexes, constraints, types, and each relation's
    kind, storage settings and partitioning."""
    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
            " column_default, is_identity, identity_generation"
            " FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 3",
            [schema],
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = %s ORDER BY 1, 2",
            [schema],
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = %s::regnamespace ORDER BY 2, 1",
            [sql.Identifier(schema).as_string()],
        ).fetchall()
        types = conn.execute(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)"
            " FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid"
            " WHERE t.typnamespace = %s::regnamespace GROUP BY 1",
            [sql.Identifier(schema).as_string()],
        ).fetchall()
        # Storage settings, partitioning and the partitions' bounds.
        relations = conn.execute(
            "SELECT c.relname::text, c.relkind::text, c.reloptions,"
            " pg_get_expr(c.relpartbound, c.oid), pg_get_partkeydef(c.oid)"
            " FROM pg_class c WHERE c.relnamespace = %s::regnamespace ORDER BY 1",
            [sql.Identifier(schema).as_string()],
        ).fetchall()
    shape = {
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "types": types,
        "relations": relations,
    }
    # The schema's own name (in defaults, index and constraint definitions) is not its shape.
    return {key: _unqualified(rows, schema) for key, rows in shape.items()}


def _unqualified(rows: list[tuple[Any, ...]], schema: str) -> list[tuple[Any, ...]]:
    # Generated names need no quotes, so they appear as bare `name.`.
    def strip(value: Any) -> Any:
        return value.replace(f"{schema}.", "S.") if isinstance(value, str) else value

    return [tuple(strip(value) for value in row) for row in rows]


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
async def test_upgrade_keeps_every_row_and_matches_a_fresh_install(
    dsn: str, bare_schema: str, schema: str, version: int
) -> None:
    _exec(dsn, render_script(f"schema_v{version}.sql", bare_schema))
    FILLS[version](dsn, bare_schema)
    before = table_dump(dsn, bare_schema)
    async with Admin(dsn, schema=bare_schema) as admin:
        with pytest.raises(SchemaError, match=rf"version {version}, expected {SCHEMA_VERSION}"):
            await admin.verify()
        await admin.install()
        await admin.verify()
        await admin.install()  # idempotent on the upgraded schema too
    after = table_dump(dsn, bare_schema)
    for name in TABLES:
        # The rows are the same rows; new columns may only have been added.
        assert len(after[name]) == len(before[name]), name
        pairs = zip(after[name], before[name], strict=True)
        assert [{k: new[k] for k in old} for new, old in pairs] == before[name], name
    # `schema` is a fresh install of the current version in the same database.
    assert catalog(dsn, bare_schema) == catalog(dsn, schema)


async def test_upgraded_version_1_database_works(dsn: str, bare_schema: str) -> None:
    _exec(dsn, render_script("schema_v1.sql", bare_schema))
    fill_version_1(dsn, bare_schema)
    async with Admin(dsn, schema=bare_schema) as admin:
        await admin.install()
        # The v1 consumer's identity, its process gone, is taken over with its lease: the new
        # process acknowledges the message the old one leased.
        async with Consumer(dsn, "orders", "worker", 9000, schema=bare_schema) as consumer:
            assert await consumer.archive(2)
            pending = await consumer.dequeue_many(10)
            assert [m.payload for m in pending] == [{"n": 1}]
            assert await consumer.archive(pending[0].id)
            assert consumer.worker_id == 2
        workers = await admin.get_workers().list()
        assert [(w.id, w.kind, w.status) for w in workers] == [
            (1, None, WorkerStatus.READY),  # the v1 producer row, untouched (kind unknown)
            (2, "consumer", WorkerStatus.STOPPED),
            (3, None, WorkerStatus.STOPPED),
        ]
        # The v1 producer's identity now has a producer row of its own beside the old one.
        async with Producer(dsn, "orders", "api", 8000, schema=bare_schema) as producer:
            new_id = await producer.enqueue({"n": 4})
            assert producer.worker_id not in (1, 2, 3)
        assert (await admin.get_messages().get(new_id)).payload == {"n": 4}
        archive = admin.get_archive()
        assert await archive.count(queue="orders") == 4
        (dead,) = await archive.list(dead_letters=True)
        assert dead.original_msg_id == 101
        (replayed,) = await admin.replay([dead.id])
        assert (await admin.get_messages().get(replayed)).payload == {"n": -1}
        metrics = await admin.queue_metrics("mail")
        assert metrics.pending_messages == 1


async def test_upgraded_version_2_database_keeps_its_archive_until_told(
    dsn: str, bare_schema: str
) -> None:
    _exec(dsn, render_script("schema_v2.sql", bare_schema))
    fill_version_2(dsn, bare_schema)
    async with Admin(dsn, schema=bare_schema) as admin:
        await admin.install()
        # The archive it had stays, all of it, in the first slot, and nothing prunes it.
        retention = await admin.retention()
        assert (retention.archive, retention.dead_letters, retention.current_slot) == (
            None,
            None,
            0,
        )
        assert [q.keep_archive for q in await admin.get_queues().list()] == [True, True]
        # New archive rows continue the archive's ids.
        async with Consumer(dsn, "mail", "worker", 9001, schema=bare_schema) as consumer:
            [message] = await consumer.dequeue_many(10)
            assert await consumer.archive(message.id)
        archive = admin.get_archive()
        newest = (await archive.list(queue="mail"))[-1]
        assert newest.original_msg_id == message.id
        assert newest.id == 3
        assert await archive.count() == 3
        pruned = await admin.prune()
        assert pruned.truncated_slot is None
        # Once a retention is set, the archive prunes like a fresh install's.
        retention = await admin.set_retention(archive=3600, dead_letters=86400)
        assert retention.next_rotation_at is not None
        assert (await admin.health()).retention == retention
