"""``pgqrs queue create|list|metrics|purge|delete`` through the installed console script."""

from __future__ import annotations

from pgqrs import Producer

from pgqrs_command import new_queue, pgqrs


def test_create_and_exist_ok(module_dsn: str) -> None:
    name = new_queue(module_dsn) + "-created-here"
    made = pgqrs("queue", "create", name, "--format", "json", dsn=module_dsn).ok().json()
    assert made["queue_name"] == name
    assert made["created"] is True
    assert made["created_at"].endswith("+00:00")
    pgqrs("queue", "create", name, dsn=module_dsn).failed(f"Queue {name!r} already exists")
    again = pgqrs("queue", "create", name, "--exist-ok", dsn=module_dsn).ok()
    assert again.stdout == f"queue already exists: {name!r} (id {made['id']})\n"
    listed = pgqrs("queue", "list", "--format", "json", dsn=module_dsn).ok().json_lines()
    [row] = [q for q in listed if q["id"] == made["id"]]
    assert row == {k: v for k, v in made.items() if k != "created"}


async def test_metrics_of_one_queue_and_of_all(module_dsn: str) -> None:
    queue, other = new_queue(module_dsn), new_queue(module_dsn)
    async with Producer(module_dsn, queue, "test", 1) as producer:
        await producer.enqueue_batch([{"n": n} for n in range(3)])
        await producer.enqueue_delayed("later", 3600)

    one = pgqrs("queue", "metrics", queue, "--format", "json", dsn=module_dsn).ok().json()
    assert one["queue_name"] == queue
    counts = (one["total_messages"], one["pending_messages"], one["delayed_messages"])
    assert counts == (4, 3, 1)
    assert one["in_flight_messages"] == one["archived_messages"] == 0
    assert one["oldest_pending_age"] >= 0  # seconds

    every = pgqrs("queue", "metrics", "--format", "json", dsn=module_dsn).ok().json_lines()
    by_name = {m["queue_name"]: m for m in every}
    assert by_name[queue]["total_messages"] == 4
    assert by_name[other]["total_messages"] == 0

    table = pgqrs("queue", "metrics", dsn=module_dsn).ok().stdout
    [row] = [line.split() for line in table.splitlines() if line.startswith(queue)]
    assert row[1:6] == ["4", "3", "0", "1", "0"]  # total pending in-flight delayed archived
    field_table = pgqrs("queue", "metrics", queue, dsn=module_dsn).ok().stdout
    assert "pending_messages" in field_table
    assert any(line.split() == ["delayed_messages", "1"] for line in field_table.splitlines())

    pgqrs("queue", "metrics", "no-such-queue", dsn=module_dsn).failed(
        "Queue 'no-such-queue' does not exist"
    )


async def test_purge_then_delete(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "test", 1) as producer:
        await producer.enqueue_batch(list(range(5)))
    purged = pgqrs("queue", "purge", queue, "--format", "json", dsn=module_dsn).ok().json()
    assert purged == {"queue": queue, "deleted_messages": 5}
    assert "0 messages deleted" in pgqrs("queue", "purge", queue, dsn=module_dsn).ok().stdout
    deleted = pgqrs("queue", "delete", queue, dsn=module_dsn).ok()
    assert deleted.stdout == f"deleted queue {queue!r} with its messages and archive\n"
    listed = pgqrs("queue", "list", "--format", "json", dsn=module_dsn).ok().json_lines()
    assert queue not in {q["queue_name"] for q in listed}
    pgqrs("queue", "delete", queue, dsn=module_dsn).failed(f"Queue {queue!r} does not exist")
    pgqrs("queue", "purge", queue, dsn=module_dsn).failed("does not exist")
