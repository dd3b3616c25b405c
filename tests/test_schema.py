"""The throughput schema keeps its promises: every hot query on an index, and no orphaned
messages without a foreign key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import QueueNotFoundError
from pgqrs._sql import queries_for

from conftest import Clients


def plan(dsn: str, query: bytes, params: dict[str, Any]) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        # Small tables would make a sequential scan the cheaper plan; the index must be usable.
        conn.execute("SET LOCAL enable_seqscan = off")
        row = conn.execute(b"EXPLAIN (FORMAT JSON) " + query, params).fetchone()
        assert row is not None
        raw = row[0]
        return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]  # type: ignore[no-any-return]


def scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = []
    if "Scan" in node["Node Type"]:
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


@pytest.mark.parametrize(
    ("name", "params", "index"),
    [
        (
            "dequeue",
            {
                "queue_id": 1,
                "count": 10,
                "lock_seconds": 30.0,
                "worker_id": 1,
                "max_read_ct": 5,
                "floor": None,
            },
            "pgqrs_messages_queue_vt_idx",
        ),
        ("archive_messages", {"ids": [1, 2], "queue_id": 1, "worker_id": 1}, "pgqrs_messages_pkey"),
        ("delete_messages", {"ids": [1, 2], "queue_id": 1, "worker_id": 1}, "pgqrs_messages_pkey"),
        (
            "extend_visibility",
            {"id": 1, "seconds": 5.0, "queue_id": 1, "worker_id": 1},
            "pgqrs_messages_pkey",
        ),
        ("delete_queue_messages", {"queue_id": 1}, "pgqrs_messages_queue_vt_idx"),
        ("count_messages", {"queue_id": 1}, "pgqrs_messages_queue_vt_idx"),
        (
            "count_archive",
            {"queue_id": 1, "dead": None, "worker_id": None, "min_read_ct": None},
            "pgqrs_archive_queue_archived_idx",
        ),
        (
            "count_archive",
            {"queue_id": 1, "dead": True, "worker_id": None, "min_read_ct": None},
            "pgqrs_archive_dead_letters_idx",
        ),
        (
            "release_messages",
            {"ids": [1, 2], "delays": [0.0, 1.0], "queue_id": 1, "worker_id": 1},
            "pgqrs_messages_pkey",
        ),
        (
            "renew_leases",
            {"ids": [1, 2], "lock_seconds": 5.0, "queue_id": 1, "worker_id": 1},
            "pgqrs_messages_pkey",
        ),
        ("count_leases", {"queue_id": 1, "worker_id": 1}, "pgqrs_messages_queue_vt_idx"),
        ("release_worker_messages", {"worker_id": 1}, "pgqrs_messages_queue_vt_idx"),
        ("replay_queue_dead_letters", {"queue_id": 1}, "pgqrs_archive_dead_letters_idx"),
    ],
)
def test_hot_queries_use_their_index(
    dsn: str, schema: str, name: str, params: dict[str, Any], index: str
) -> None:
    query = getattr(queries_for(schema), name).sql
    found = scans(plan(dsn, query, params))
    on_messages = [
        s for s in found if s[1] is None or "pgqrs_messages" in s[1] or "archive" in s[1]
    ]
    # On the partitioned archive the index is its partitions' indexes, one per slot.
    assert index_family(dsn, schema, index) & {s[1] for s in found}, found
    assert all(kind != "Seq Scan" for kind, _ in on_messages), found


def index_family(dsn: str, schema: str, index: str) -> set[str | None]:
    """``index`` and, for an index on a partitioned table, the indexes of its partitions."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s)",
            [sql.Identifier(schema, index).as_string()],
        ).fetchall()
    return {index, *(row[0] for row in rows)}


def messages_of_queue(clients: Clients, queue_id: int) -> int:
    """Rows left in pgqrs_messages for a queue id (after a delete: orphans)."""
    with psycopg.connect(clients.dsn) as conn:
        table = sql.Identifier(clients.schema, "pgqrs_messages")
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE queue_id = %s").format(table), (queue_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_delete_queue_during_batch_leaves_no_orphans(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    for attempt in range(3):
        queue = await queue_factory()
        queue_id = (await admin.get_queue(queue)).id
        producer = clients.producer(queue)
        await producer.enqueue("registers the producer")
        batch = asyncio.create_task(producer.enqueue_batch([{"n": n} for n in range(30_000)]))
        await asyncio.sleep(0.01 * attempt)  # land the delete at different points of the COPY
        await admin.delete_queue(queue)
        with contextlib.suppress(QueueNotFoundError):  # the delete won: nothing written
            await batch
        assert messages_of_queue(clients, queue_id) == 0


async def test_delete_queue_during_single_enqueues_leaves_no_orphans(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    queue_id = (await admin.get_queue(queue)).id
    producers = [clients.producer(queue) for _ in range(4)]
    for producer in producers:
        await producer.enqueue("registers")

    async def hammer(producer: Any) -> int:
        sent = 0
        with contextlib.suppress(QueueNotFoundError):
            while True:
                await producer.enqueue({"n": sent})
                sent += 1
        return sent

    tasks = [asyncio.create_task(hammer(p)) for p in producers]
    await asyncio.sleep(0.3)
    await admin.delete_queue(queue)
    sent = await asyncio.gather(*tasks)  # every producer ends with QueueNotFoundError
    assert all(n > 0 for n in sent)
    assert messages_of_queue(clients, queue_id) == 0


def generic_plan(dsn: str, query: bytes, params: dict[str, Any]) -> dict[str, Any]:
    """The plan PostgreSQL caches for a prepared statement after its first executions.

    ``plan_cache_mode = force_generic_plan`` shows it directly; client-side literals would
    only ever show custom plans.
    """
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)[sbt]", placeholder, query.decode())
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(sql.SQL("PREPARE generic_probe AS {}").format(sql.SQL(text)))
        cur = psycopg.ClientCursor(conn)
        args = sql.SQL(", ").join(sql.Literal(params[name]) for name in names)
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE generic_probe ({})").format(args))
        row = cur.fetchone()
        conn.execute("DEALLOCATE generic_probe")
    assert row is not None
    raw = row[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "no-statistics"])
@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("archive_messages", {}),
        ("delete_messages", {}),
        ("renew_leases", {"lock_seconds": 5.0}),
        ("release_messages", {"delays": [0.0, 0.0]}),
        ("bury_dead_letters", {"max_read_ct": 5}),
    ],
)
async def test_acknowledgements_keep_to_the_primary_key_in_generic_plans(
    clients: Clients,
    queue_factory: Callable[..., Any],
    name: str,
    extra: dict[str, Any],
    analyzed: bool,
) -> None:
    # A few queues of a few thousand messages, analysed: the shape where a generic plan could
    # prefer walking one queue's (queue_id, vt) range to looking the ids up.
    queues = [await queue_factory() for _ in range(4)]
    for queue in queues:
        await clients.producer(queue).enqueue_batch([{"n": n} for n in range(2000)])
    if analyzed:  # unanalysed is a new or fast-growing table, before autovacuum's ANALYZE
        with psycopg.connect(clients.dsn, autocommit=True) as conn:
            table = sql.Identifier(clients.schema, "pgqrs_messages")
            conn.execute(sql.SQL("ANALYZE {}").format(table))
    params = {"ids": [1, 2], "queue_id": 1, "worker_id": 1, **extra}
    found = scans(generic_plan(clients.dsn, getattr(queries_for(clients.schema), name).sql, params))
    assert "pgqrs_messages_pkey" in {index for _, index in found}, found
    assert all(index != "pgqrs_messages_queue_vt_idx" for _, index in found), found


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a plan, depth first."""
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed-drained", "no-statistics"])
async def test_dequeue_finds_its_rows_by_primary_key_in_generic_plans(
    clients: Clients, queue_factory: Callable[..., Any], analyzed: bool
) -> None:
    # A drained queue whose table was just analysed: its pages hold only dead rows, the
    # statistics under which a generic plan once joined the leased rows the wrong way round
    # and walked the whole primary key on every dequeue.
    queue = await queue_factory()
    await clients.producer(queue).enqueue_batch([{"n": n} for n in range(3000)])
    await clients.admin().purge_queue(queue)
    if analyzed:
        with psycopg.connect(clients.dsn, autocommit=True) as conn:
            table = sql.Identifier(clients.schema, "pgqrs_messages")
            conn.execute(sql.SQL("ANALYZE {}").format(table))
    params = {
        "queue_id": 1,
        "count": 100,
        "lock_seconds": 30.0,
        "worker_id": 1,
        "max_read_ct": 5,
        "floor": None,
    }
    found = nodes(generic_plan(clients.dsn, queries_for(clients.schema).dequeue.sql, params))
    by_key = [n for n in found if n.get("Index Name") == "pgqrs_messages_pkey"]
    assert len(by_key) == 1, found  # the lease's update (bury_dead_letters: see above)
    assert all("Index Cond" in n for n in by_key), by_key
