"""``pgqrs maintenance health|retention|prune|run|reindex`` and ``pgqrs queue create
--no-archive`` / ``queue archive`` through the installed console script."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import Admin, Consumer, Producer
from pgqrs.retention import ARCHIVE_SLOTS

from pgqrs_command import new_queue, pgqrs


def _exec(dsn: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql.SQL(statement), params or None)
        return cur.fetchall() if cur.description else []


async def _archive(dsn: str, queue: str, count: int) -> None:
    async with Producer(dsn, queue, "test", 1) as producer:
        await producer.enqueue_batch([{"n": n} for n in range(count)])
    async with Consumer(dsn, queue, "test", 2) as consumer:
        ids = [m.id for m in await consumer.dequeue_many(count)]
        assert all(await consumer.archive_many(ids))


def _archived(dsn: str, queue: str) -> int:
    [(count,)] = _exec(
        dsn,
        "SELECT count(*) FROM pgqrs_archive a JOIN pgqrs_queues q ON q.id = a.queue_id"
        " WHERE q.queue_name = %s",
        queue,
    )
    return int(count)


def test_retention_is_shown_and_set(module_dsn: str) -> None:
    shown = pgqrs("maintenance", "retention", "--format", "json", dsn=module_dsn).ok().json()
    assert (shown["archive"], shown["dead_letters"]) == (86400.0, 14 * 86400.0)
    assert shown["period"] == pytest.approx(86400.0 / (ARCHIVE_SLOTS - 1))
    changed = pgqrs(
        "maintenance", "retention", "--archive", "3600", "--dead-letters", "forever",
        "--format", "json", dsn=module_dsn,
    ).ok().json()  # fmt: skip
    assert (changed["archive"], changed["dead_letters"]) == (3600.0, None)
    text = pgqrs("maintenance", "retention", dsn=module_dsn).ok().stdout
    assert text.startswith("archive kept 1 hour, dead letters kept forever; current slot 0")
    pgqrs("maintenance", "retention", "--archive", "-5", dsn=module_dsn).failed(
        "positive number of seconds", status=2
    )
    pgqrs("maintenance", "retention", "--archive", "86400", dsn=module_dsn).ok()
    pgqrs("maintenance", "retention", "--dead-letters", str(14 * 86400), dsn=module_dsn).ok()


async def test_prune_rotates_only_when_due_and_empties_the_oldest_slot(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    await _archive(module_dsn, queue, 30)
    first = pgqrs("maintenance", "prune", "--format", "json", dsn=module_dsn).ok().json()
    assert first == {
        "truncated_slot": None,
        "dead_letters_kept": 0,
        "dead_letters_deleted": 0,
        "blocked": False,
    }
    start = int(_exec(module_dsn, "SELECT current_slot FROM pgqrs_retention")[0][0])
    # The messages sit in the current slot: seven rotations age it, the eighth empties it.
    for step in range(1, ARCHIVE_SLOTS + 1):
        assert _archived(module_dsn, queue) == 30
        _exec(module_dsn, "UPDATE pgqrs_retention SET rotated_at = now() - interval '30 days'")
        pruned = pgqrs("maintenance", "prune", dsn=module_dsn).ok().stdout
        assert pruned.startswith(f"truncated archive slot {(start + step) % ARCHIVE_SLOTS} ")
    assert _archived(module_dsn, queue) == 0


async def test_run_and_reindex(module_dsn: str) -> None:
    _exec(module_dsn, "UPDATE pgqrs_retention SET rotated_at = now() - interval '30 days'")
    done = pgqrs("maintenance", "run", "--format", "json", dsn=module_dsn).ok().json()
    assert done["ran"] is True
    assert done["prune"]["truncated_slot"] is not None
    assert done["rebuilt_indexes"] is False
    # Another process holds the maintenance lease: the run does nothing and says so.
    _exec(module_dsn, "UPDATE pgqrs_maintenance SET running_until = now() + interval '1 hour'")
    try:
        busy = pgqrs("maintenance", "run", dsn=module_dsn).ok().stdout
    finally:
        _exec(module_dsn, "UPDATE pgqrs_maintenance SET running_until = '-infinity'")
    assert busy.startswith("another process is running the maintenance step")
    [(before,)] = _exec(module_dsn, "SELECT 'pgqrs_messages_pkey'::regclass::oid")
    pgqrs("maintenance", "reindex", dsn=module_dsn).ok()
    [(after,)] = _exec(module_dsn, "SELECT 'pgqrs_messages_pkey'::regclass::oid")
    assert before != after  # REINDEX CONCURRENTLY builds a new index and swaps it in


async def test_health_shows_tables_and_holders_and_checks_warnings(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    await _archive(module_dsn, queue, 10)
    with psycopg.connect(module_dsn) as holder:
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT 1")
        pid = holder.info.backend_pid
        report = pgqrs("maintenance", "health", "--format", "json", dsn=module_dsn).ok().json()
        table = pgqrs("maintenance", "health", dsn=module_dsn).ok().stdout
    tables = {t["name"]: t for t in report["tables"]}
    assert set(tables) == {"pgqrs_messages", "pgqrs_archive", "pgqrs_queues", "pgqrs_workers"}
    assert tables["pgqrs_archive"]["total_bytes"] > 0
    [mine] = [h for h in report["horizon"] if h["pid"] == pid]
    assert (mine["kind"], mine["state"]) == ("transaction", "idle in transaction")
    assert report["retention"]["current_slot"] >= 0
    assert any(line.split()[:1] == ["pgqrs_messages"] for line in table.splitlines())
    assert any(str(pid) in line and "transaction" in line for line in table.splitlines())
    pgqrs("maintenance", "health", "--check", dsn=module_dsn).ok()  # nothing to warn of
    # 100,000 dead tuples on a live table autovacuum may not touch: the dead-tuple warning.
    _exec(module_dsn, "ALTER TABLE pgqrs_messages SET (autovacuum_enabled = false)")
    try:
        with psycopg.connect(module_dsn, autocommit=True) as conn:
            # Forget any earlier autovacuum of the table: the warning wants none for 10 minutes.
            conn.execute("SELECT pg_stat_reset_single_table_counters('pgqrs_messages'::regclass)")
            conn.execute(
                "INSERT INTO pgqrs_messages (queue_id, payload) SELECT q.id, '{}'"
                " FROM pgqrs_queues q, generate_series(1, 100000) WHERE q.queue_name = %s",
                [queue],
            )
            conn.execute("DELETE FROM pgqrs_messages")
            conn.execute("SELECT pg_stat_force_next_flush()")
        warned = pgqrs("maintenance", "health", "--check", dsn=module_dsn)
        # The operator's everyday views carry the warning too, on stderr; their JSON does not.
        seen = [
            pgqrs("queue", "metrics", dsn=module_dsn).ok(),
            pgqrs("queue", "metrics", queue, dsn=module_dsn).ok(),
            pgqrs("worker", "health", dsn=module_dsn).ok(),
        ]
        quiet = pgqrs("queue", "metrics", "--format", "json", dsn=module_dsn).ok()
    finally:
        _exec(module_dsn, "ALTER TABLE pgqrs_messages RESET (autovacuum_enabled)")
        _exec(module_dsn, "VACUUM pgqrs_messages")
    warned.failed("health warning")
    assert re.search(r"^warning: pgqrs_messages holds [\d,]+ dead tuples", warned.stdout, re.M)
    for done in seen:
        assert re.search(r"^warning: pgqrs_messages holds [\d,]+ dead tuples", done.stderr, re.M)
        assert "warning:" not in done.stdout
    assert "warning" not in quiet.stderr + quiet.stdout


async def test_a_queue_created_without_archive_deletes_on_acknowledgement(
    module_dsn: str,
) -> None:
    queue = new_queue(module_dsn) + "-no-archive"
    made = (
        pgqrs("queue", "create", queue, "--no-archive", "--format", "json", dsn=module_dsn)
        .ok()
        .json()
    )
    assert made["keep_archive"] is False
    await _archive(module_dsn, queue, 5)
    assert _archived(module_dsn, queue) == 0
    on = pgqrs("queue", "archive", queue, "on", dsn=module_dsn).ok().stdout
    assert on == f"queue {queue!r}: acknowledged messages are archived\n"
    await _archive(module_dsn, queue, 5)
    assert _archived(module_dsn, queue) == 5
    async with Admin(module_dsn) as admin:
        assert (await admin.get_queue(queue)).keep_archive is True
    pgqrs("queue", "archive", "no-such-queue", "off", dsn=module_dsn).failed(
        "Queue 'no-such-queue' does not exist"
    )
