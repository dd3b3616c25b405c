"""``pgqrs worker ...`` and ``pgqrs dlq ...`` through the installed console script, against
workers and dead letters made with the API."""

from __future__ import annotations

import asyncio

from pgqrs import Admin, Config, Consumer, Producer

from pgqrs_command import new_queue, pgqrs


async def test_list_health_stats_and_filters(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "cli-test-producer", 7) as producer:
        await producer.enqueue_batch(list(range(3)))
        async with Consumer(module_dsn, queue, "cli-test-consumer", 8) as consumer:
            await consumer.dequeue_many(2, lock_seconds=300)
            listed = (
                pgqrs("worker", "list", "--queue", queue, "--format", "json", dsn=module_dsn)
                .ok()
                .json_lines()
            )
            assert [
                (w["kind"], w["hostname"], w["port"], w["queue"], w["status"]) for w in listed
            ] == [
                ("producer", "cli-test-producer", 7, queue, "ready"),
                ("consumer", "cli-test-consumer", 8, queue, "ready"),
            ]
            table = pgqrs("worker", "list", "--queue", queue, dsn=module_dsn).ok().stdout
            assert "cli-test-consumer" in table
            assert f"{listed[1]['process_host']}:{listed[1]['process_id']}" in table

            health = (
                pgqrs("worker", "health", "--queue", queue, "--format", "json", dsn=module_dsn)
                .ok()
                .json_lines()
            )
            assert [(h["id"], h["leased_messages"], h["is_stale"]) for h in health] == [
                (listed[0]["id"], 0, False),
                (listed[1]["id"], 2, False),
            ]
            assert health[1]["heartbeat_age"] >= 0
            await asyncio.sleep(0.3)
            stale = (
                pgqrs("worker", "health", "--queue", queue, "--stale-after", "0.1", dsn=module_dsn)
                .ok()
                .stdout
            )
            [row] = [line.split() for line in stale.splitlines() if "cli-test-consumer" in line]
            assert row[-2:] == ["yes", "2"]  # stale, two leased

            stats = (
                pgqrs("worker", "stats", "--queue", queue, "--format", "json", dsn=module_dsn)
                .ok()
                .json()
            )
            assert stats == {
                "queue": queue,
                "total": 2,
                "ready": 2,
                "suspended": 0,
                "stopped": 0,
                "stale": 0,
            }
    stopped = (
        pgqrs(
            "worker",
            "list",
            "--queue",
            queue,
            "--status",
            "stopped",
            "--format",
            "json",
            dsn=module_dsn,
        )
        .ok()
        .json_lines()
    )
    assert len(stopped) == 2
    pgqrs("worker", "list", "--queue", "no-such-queue", dsn=module_dsn).failed("does not exist")
    pgqrs("worker", "list", "--status", "lost", dsn=module_dsn).failed("invalid choice", status=2)


async def test_release_suspend_resume_reclaim_and_purge(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "cli-test-producer", 9) as producer:
        await producer.enqueue_batch(list(range(4)))
    async with Admin(module_dsn) as admin, Consumer(module_dsn, queue, "cli-w", 10) as worker:
        await worker.dequeue_many(2, lock_seconds=300)
        wid = worker.worker_id
        assert wid is not None
        released = pgqrs("worker", "release", str(wid), "--format", "json", dsn=module_dsn)
        assert released.ok().json() == {"worker_id": wid, "released_messages": 2}
        assert (await admin.queue_metrics(queue)).pending_messages == 4

        assert "suspended" in pgqrs("worker", "suspend", str(wid), dsn=module_dsn).ok().stdout
        assert (await admin.get_workers().get(wid)).status == "suspended"
        pgqrs("worker", "resume", str(wid), "--format", "json", dsn=module_dsn).ok()
        assert (await admin.get_workers().get(wid)).status == "ready"
        pgqrs("worker", "suspend", "999999", dsn=module_dsn).failed("Worker 999999 does not exist")

        await worker.dequeue_many(3, lock_seconds=300)
        await asyncio.sleep(0.3)  # its heartbeat is 30 s away: stale after 0.1 s
        reclaimed = (
            pgqrs(
                "worker",
                "reclaim",
                queue,
                "--stale-after",
                "0.1",
                "--format",
                "json",
                dsn=module_dsn,
            )
            .ok()
            .json()
        )
        assert reclaimed == {"queue": queue, "worker_ids": [wid], "released_messages": 3}
        assert (await admin.get_workers().get(wid)).status == "stopped"
        again = pgqrs("worker", "reclaim", queue, dsn=module_dsn).ok().stdout
        assert again.startswith(f"reclaimed 0 stale workers of {queue!r}")
        pgqrs("worker", "resume", str(wid), dsn=module_dsn).failed(f"Worker {wid} is stopped")

    purged = pgqrs("worker", "purge", "--older-than", "0", "--format", "json", dsn=module_dsn)
    assert purged.ok().json()["deleted_workers"] >= 2  # this test's two, maybe others'
    async with Admin(module_dsn) as admin:
        assert await admin.get_workers().count(queue=queue) == 0
    pgqrs("worker", "purge", dsn=module_dsn).failed("--older-than", status=2)


async def make_dead_letters(dsn: str, queue: str, payloads: list[object]) -> None:
    async with Producer(dsn, queue, "cli-test-producer", 11) as producer:
        await producer.enqueue_batch(payloads)
    config = Config(max_read_ct=1)
    async with Consumer(dsn, queue, "cli-dlq", 0, config=config) as consumer:
        assert len(await consumer.dequeue_many(100, lock_seconds=0)) == len(payloads)
        assert await consumer.dequeue_many(100) == []  # the second delivery buries them


async def test_dead_letters_list_count_and_replay(module_dsn: str) -> None:
    queue, other = new_queue(module_dsn), new_queue(module_dsn)
    await make_dead_letters(module_dsn, queue, [{"poison": n} for n in range(3)])
    await make_dead_letters(module_dsn, other, ["elsewhere"])

    dead = pgqrs("dlq", "list", queue, "--format", "json", dsn=module_dsn).ok().json_lines()
    assert [d["payload"] for d in dead] == [{"poison": n} for n in range(3)]
    assert {(d["queue"], d["is_dead_letter"], d["read_ct"]) for d in dead} == {(queue, True, 1)}
    table = pgqrs("dlq", "list", dsn=module_dsn).ok().stdout
    assert "delivered 1 times without acknowledgement" in table
    assert queue in table
    assert other in table
    counted = pgqrs("dlq", "count", queue, "--format", "json", dsn=module_dsn).ok().json()
    assert counted == {"queue": queue, "dead_letters": 3}
    assert (
        pgqrs("dlq", "count", other, dsn=module_dsn).ok().stdout == f"1 dead letters in {other!r}\n"
    )

    one = pgqrs("dlq", "replay", str(dead[0]["id"]), "--format", "json", dsn=module_dsn).ok()
    assert one.json()["replayed"] == 1
    pgqrs("dlq", "replay", str(dead[0]["id"]), dsn=module_dsn).failed(
        "not found in the dead letters"
    )
    rest = pgqrs("dlq", "replay", "--queue", queue, "--all", dsn=module_dsn).ok()
    assert rest.stdout == f"replayed 2 dead letters of {queue!r} as fresh messages\n"
    async with Admin(module_dsn) as admin:
        metrics = await admin.queue_metrics(queue)
        assert (metrics.pending_messages, metrics.dead_lettered_messages) == (3, 0)
        assert (await admin.queue_metrics(other)).dead_lettered_messages == 1
    pgqrs("dlq", "replay", "--queue", queue, dsn=module_dsn).failed("--all", status=2)
    pgqrs("dlq", "replay", "1", "--queue", queue, "--all", dsn=module_dsn).failed(
        "not both", status=2
    )
    pgqrs("dlq", "replay", "--queue", "no-such-queue", "--all", dsn=module_dsn).failed(
        "does not exist"
    )
