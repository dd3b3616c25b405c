"""The maintenance step: workers run it by themselves after heartbeats, one process at a time;
it rotates the archive when due and, once a held vacuum horizon that bloated the live table's
indexes is gone, rebuilds them.  ``Admin.health()`` reports what predicts trouble."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from test_retention import _exec, archived, make_rotation_due

from pgqrs import Config, health
from pgqrs import _maintenance as maintenance

from conftest import Clients


def index_bytes(clients: Clients) -> int:
    [(size,)] = _exec(clients, "SELECT pg_indexes_size('{schema}.pgqrs_messages'::regclass)")
    return int(size)


def hold_horizon(clients: Clients) -> psycopg.Connection[Any]:
    """A session whose REPEATABLE READ snapshot holds back vacuum until it is closed."""
    conn = psycopg.connect(clients.dsn)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    conn.execute("SELECT 1")
    return conn


async def test_workers_rotate_the_archive_without_an_operator(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    await archived(clients, queue, 5)
    make_rotation_due(clients)
    config = Config(heartbeat_interval=0.1)
    consumer = clients.consumer(queue, config=config)
    await consumer.dequeue_many(1)  # registers; heartbeats (and maintenance) follow
    admin = clients.admin()
    for _ in range(200):
        if (await admin.retention()).current_slot == 1:
            break
        await asyncio.sleep(0.05)
    assert (await admin.retention()).current_slot == 1
    [(last_run,)] = _exec(
        clients, "SELECT last_run_at > now() - interval '1 minute' FROM {schema}.pgqrs_maintenance"
    )
    assert last_run


async def test_maintenance_can_be_left_to_cron(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    make_rotation_due(clients)
    consumer = clients.consumer(queue, config=Config(heartbeat_interval=0.05, maintenance=False))
    await consumer.dequeue_many(1)
    await asyncio.sleep(0.5)  # ten heartbeats
    admin = clients.admin()
    assert (await admin.retention()).current_slot == 0
    run = await admin.maintain()
    assert run.ran
    assert run.prune.truncated_slot == 1


async def test_one_maintenance_run_at_a_time(clients: Clients) -> None:
    admin = clients.admin()
    # Another process holds the election (its lease still runs).
    _exec(
        clients, "UPDATE {schema}.pgqrs_maintenance SET running_until = now() + interval '1 hour'"
    )
    make_rotation_due(clients)
    assert (await admin.maintain()).ran is False
    assert (await admin.retention()).current_slot == 0
    _exec(clients, "UPDATE {schema}.pgqrs_maintenance SET running_until = '-infinity'")
    assert (await admin.maintain()).ran is True
    # Workers space their runs: within `every` seconds of the last run, nobody runs.
    runner = maintenance.Maintenance(admin._db, admin._sql)
    assert (await runner.run(every=3600)).ran is False


async def test_indexes_bloated_by_a_held_horizon_are_rebuilt_once_it_is_gone(
    clients: Clients, queue_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "HOLD_SECONDS", 0.0)
    monkeypatch.setattr(maintenance, "REBUILD_MIN_BYTES", 0)
    admin = clients.admin()
    queue = await queue_factory()
    assert (await admin.maintain()).rebuilt_indexes is False  # records the steady size
    [(steady,)] = _exec(clients, "SELECT steady_index_bytes FROM {schema}.pgqrs_maintenance")
    holder = hold_horizon(clients)
    try:
        assert (await admin.maintain()).rebuilt_indexes is False  # held: only noted
        for _ in range(10):
            await archived(clients, queue, 1000)
        bloated = index_bytes(clients)
        assert bloated > 2 * steady
    finally:
        holder.close()
    monkeypatch.setattr(maintenance, "HOLD_SECONDS", 3600.0)  # the test's own sessions: short
    assert (await admin.maintain()).rebuilt_indexes is False  # gone, but not vacuumed yet
    _exec(clients, "VACUUM {schema}.pgqrs_messages")
    assert (await admin.maintain()).rebuilt_indexes is True
    assert index_bytes(clients) < bloated / 2
    # verify() still finds every index under its name, and the queue works.
    await admin.verify()
    await archived(clients, queue, 10)
    assert (await admin.maintain()).rebuilt_indexes is False


async def test_a_role_that_may_not_maintain_is_warned_once(
    clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    admin = clients.admin()
    role = f"{clients.schema}_reader"
    _exec(clients, f'CREATE ROLE "{role}" LOGIN')
    try:
        _exec(clients, f'GRANT USAGE ON SCHEMA {{schema}} TO "{role}"')
        _exec(clients, f'GRANT SELECT ON ALL TABLES IN SCHEMA {{schema}} TO "{role}"')
        dsn = psycopg.conninfo.make_conninfo(clients.dsn, user=role)
        reader = clients.track(type(admin)(dsn, schema=clients.schema))
        runner = maintenance.Maintenance(reader._db, reader._sql)
        with caplog.at_level(logging.WARNING, logger="pgqrs"):
            assert (await runner.run(every=None)).ran is False
            assert (await runner.run(every=None)).ran is False
        warned = [r for r in caplog.records if "cannot run as this role" in r.getMessage()]
        assert len(warned) == 1
        assert runner.refused == {"elect", "prune", "rebuild"}
        await reader.close()
    finally:
        _exec(clients, f'DROP OWNED BY "{role}"')
        _exec(clients, f'DROP ROLE "{role}"')


async def test_health_reports_tables_horizon_and_warnings(
    clients: Clients, queue_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await archived(clients, queue, 20)
    report = await admin.health()
    assert set(report.tables) == {
        "pgqrs_messages",
        "pgqrs_archive",
        "pgqrs_queues",
        "pgqrs_workers",
    }
    assert report.live.heap_bytes > 0
    assert report.tables["pgqrs_archive"].total_bytes > 0
    assert report.retention == await admin.retention()
    assert report.warnings == []
    monkeypatch.setattr(health, "HORIZON_WARN_SECONDS", 0.0)
    monkeypatch.setattr(health, "ARCHIVE_WARN_BYTES", 0)
    await admin.set_retention(archive=None)
    holder = hold_horizon(clients)
    pid = holder.info.backend_pid
    try:
        report = await admin.health()
    finally:
        holder.close()
    [mine] = [h for h in report.horizon if h.pid == pid]
    assert (mine.kind, mine.state) == ("transaction", "idle in transaction")
    assert mine.seconds is not None
    assert mine.seconds >= 0
    assert any(f"pid {pid}" in w and "held back vacuum" in w for w in report.warnings)
    assert any("kept for ever" in w for w in report.warnings)
    assert report.horizon_seconds >= mine.seconds
    with psycopg.connect(clients.dsn) as conn:  # nothing of this session is left open
        assert conn.execute(
            sql.SQL("SELECT count(*) FROM pg_stat_activity WHERE pid = %s"), [pid]
        ).fetchone() == (0,)
