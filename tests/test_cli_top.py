"""``pgqrs top``: one-shot and JSON refreshes (with throughput between two of them), the table
into a pipe, and the live view on a pseudo-terminal with a bounded number of refreshes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime

import pytest

from pgqrs import Consumer, Producer

from pgqrs_command import PGQRS, clean_env, new_queue, pgqrs, run_in_terminal


async def test_once_as_json_and_as_a_table(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "cli-top", 1) as producer:
        await producer.enqueue_batch(list(range(6)))
        await producer.enqueue_delayed("later", 3600)
    async with Consumer(module_dsn, queue, "cli-top", 2) as consumer:
        await consumer.dequeue_many(2, lock_seconds=300)
        [refresh] = (
            pgqrs("top", queue, "--once", "--format", "json", dsn=module_dsn).ok().json_lines()
        )
        [row] = refresh["queues"]
        assert row["queue"] == queue
        assert (row["pending"], row["in_flight"], row["delayed"], row["dead_letters"]) == (
            4,
            2,
            1,
            0,
        )
        assert row["in_per_second"] is None  # one snapshot: no rate yet
        assert (row["workers_ready"], row["workers_suspended"], row["workers_stale"]) == (1, 0, 0)

        table = pgqrs("watch", queue, "--once", dsn=module_dsn).ok().stdout  # the alias
        assert "pgqrs top: schema 'public', 1 queue(s)" in table
        [line] = [line.split() for line in table.splitlines() if line.startswith(queue)]
        assert line[1:5] == ["4", "2", "1", "0"]
        every = pgqrs("top", "--once", "--format", "json", dsn=module_dsn).ok().json_lines()
        assert queue in {r["queue"] for r in every[0]["queues"]}
    pgqrs("top", "no-such-queue", "--once", dsn=module_dsn).failed("does not exist")


async def traffic(dsn: str, queue: str, enqueued: int, archived: int) -> None:
    async with Producer(dsn, queue, "cli-top", 3) as producer:
        await producer.enqueue_batch(list(range(enqueued)))
    if not archived:
        return
    async with Consumer(dsn, queue, "cli-top", 4) as consumer:
        batch = await consumer.dequeue_many(archived)
        await consumer.archive_many([m.id for m in batch])


def test_throughput_between_two_refreshes(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    asyncio.run(traffic(module_dsn, queue, 10, 0))
    command = ["top", queue, "--count", "2", "--interval", "3", "--format", "json"]
    watching = subprocess.Popen(
        [str(PGQRS), "--dsn", module_dsn, *command],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert watching.stdout is not None
    first = watching.stdout.readline()  # the first refresh is out: now make traffic
    asyncio.run(traffic(module_dsn, queue, 30, 12))
    rest, _ = watching.communicate(timeout=30)
    assert watching.returncode == 0
    before, after = (json.loads(text)["queues"][0] for text in (first, rest))
    assert before["in_per_second"] is None
    assert after["pending"] == 28  # the traffic fell between the two snapshots
    elapsed = (
        datetime.fromisoformat(after["measured_at"]) - datetime.fromisoformat(before["measured_at"])
    ).total_seconds()  # on the database clock, as top computes it
    assert after["in_per_second"] == pytest.approx(30 / elapsed, abs=0.1)
    assert after["out_per_second"] == pytest.approx(12 / elapsed, abs=0.1)


def test_live_view_on_a_terminal(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    argv = [str(PGQRS), "--dsn", module_dsn, "top", "--count", "3", "--interval", "0.2"]
    status, screen = run_in_terminal(argv)
    assert status == 0, screen
    assert queue in screen
    assert "in flight" in screen
    assert screen.count("pgqrs top: schema") >= 3  # redrawn at each refresh
    assert "\x1b[1A\x1b[2K" in screen  # up a line and erase it: redrawn in place
