"""``pgqrs message ...`` through the installed console script: enqueue one payload or a
JSON-lines file (counts, stdin, bad lines, bounded memory, progress only on a terminal), list
and get without leasing, dequeue and acknowledge as the operator identity, and the lease rule
against another worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from pgqrs import Admin, Consumer, Producer

from pgqrs_command import PGQRS, clean_env, new_queue, pgqrs, run_in_terminal


async def payloads_of(dsn: str, queue: str) -> list[Any]:
    async with Admin(dsn) as admin:
        return [m.payload for m in await admin.get_messages().list(queue=queue, limit=100_000)]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


async def test_enqueue_one_list_and_get(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    done = pgqrs("message", "enqueue", queue, '{"task": "resize", "id": 1}', dsn=module_dsn).ok()
    first = int(done.stdout.split()[2])
    assert done.stdout == f"enqueued message {first} on {queue!r}\n"
    later = (
        pgqrs(
            "message",
            "enqueue",
            queue,
            '"later"',
            "--delay",
            "3600",
            "--format",
            "json",
            dsn=module_dsn,
        )
        .ok()
        .json()
    )
    assert later == {"queue": queue, "id": first + 1, "delay_seconds": 3600.0}

    listed = pgqrs("message", "list", queue, "--format", "json", dsn=module_dsn).ok().json_lines()
    assert [(m["id"], m["payload"], m["read_ct"]) for m in listed] == [
        (first, {"task": "resize", "id": 1}, 0),
        (first + 1, "later", 0),
    ]
    assert listed[1]["vt"] > listed[1]["enqueued_at"]  # delayed: visible later
    table = pgqrs("message", "list", queue, dsn=module_dsn).ok().stdout
    assert '{"task":"resize","id":1}' in table or '{"id":1,"task":"resize"}' in table
    assert '"later"' in table
    assert "visible at (UTC)" in table
    paged = (
        pgqrs(
            "message",
            "list",
            queue,
            "--limit",
            "1",
            "--offset",
            "1",
            "--format",
            "json",
            dsn=module_dsn,
        )
        .ok()
        .json_lines()
    )
    assert [m["id"] for m in paged] == [first + 1]

    got = pgqrs("message", "get", str(first), "--format", "json", dsn=module_dsn).ok().json()
    assert got == listed[0]
    assert "payload" in pgqrs("message", "get", str(first), dsn=module_dsn).ok().stdout
    pgqrs("message", "get", "999999999", dsn=module_dsn).failed("Message 999999999 not found")
    pgqrs("message", "enqueue", "no-such-queue", "1", dsn=module_dsn).failed(
        "Queue 'no-such-queue' does not exist"
    )


async def test_dequeue_then_acknowledge_as_the_operator_identity(module_dsn: str) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "test", 1) as producer:
        ids = await producer.enqueue_batch([{"n": n} for n in range(4)])

    leased = (
        pgqrs(
            "message",
            "dequeue",
            queue,
            "--count",
            "3",
            "--lock",
            "300",
            "--format",
            "json",
            dsn=module_dsn,
        )
        .ok()
        .json_lines()
    )
    assert [m["id"] for m in leased] == ids[:3]
    assert {m["read_ct"] for m in leased} == {1}
    holder = leased[0]["consumer_worker_id"]
    table = pgqrs("message", "dequeue", queue, dsn=module_dsn).ok()
    assert str(ids[3]) in table.stdout
    assert "leased 1 message(s) as worker" in table.stderr

    # Separate processes, one identity: the leases of the first are the next ones' to settle.
    archived = (
        pgqrs("message", "archive", queue, str(ids[0]), "--format", "json", dsn=module_dsn)
        .ok()
        .json()
    )
    assert archived == {"queue": queue, "action": "archive", "archived": [ids[0]], "refused": []}
    released = pgqrs("message", "release", queue, str(ids[1]), "--delay", "60", dsn=module_dsn)
    assert released.ok().stdout.split()[-2:] == [str(ids[1]), "released"]
    pgqrs("message", "delete", queue, str(ids[2]), str(ids[3]), dsn=module_dsn).ok()
    async with Admin(module_dsn) as admin:
        metrics = await admin.queue_metrics(queue)
        assert (metrics.total_messages, metrics.delayed_messages) == (1, 1)  # ids[1], delayed
        assert metrics.archived_messages == 1
        [left] = await admin.get_messages().list(queue=queue)
        assert (left.id, left.consumer_worker_id) == (ids[1], None)
    assert holder == leased[0]["consumer_worker_id"]


async def test_a_message_leased_by_another_worker_is_refused_with_the_reason(
    module_dsn: str,
) -> None:
    queue = new_queue(module_dsn)
    async with Producer(module_dsn, queue, "test", 1) as producer:
        mine, theirs = await producer.enqueue_batch(["mine", "theirs"])
    async with Consumer(module_dsn, queue, "busy-worker", 4242) as other:
        [leased] = await other.dequeue_many(1, lock_seconds=300)  # holds `mine`, the first
        assert leased.id == mine
        done = pgqrs(
            "message", "archive", queue, str(mine), str(theirs), "--format", "json", dsn=module_dsn
        )
        done.failed("1 of 2 message(s) not archived")
        result = done.json()
        assert result["archived"] == [theirs]  # not leased: anyone may archive it
        [refused] = result["refused"]
        assert refused["id"] == mine
        assert f"leased by worker {other.worker_id} until" in refused["reason"]
        table = pgqrs("message", "release", queue, str(mine), dsn=module_dsn)
        table.failed("1 of 1 message(s) not released")
        assert "not leased by this worker" in table.stdout
        missing = pgqrs("message", "delete", queue, "999999999", dsn=module_dsn)
        assert "not found" in missing.failed("not deleted").stdout
        assert await other.archive(mine)  # the lease holder still may


async def test_enqueue_file_and_stdin(module_dsn: str, tmp_path: Path) -> None:
    queue = new_queue(module_dsn)
    lines = [orjson.dumps({"n": n, "text": "é" * (n % 5)}) for n in range(2500)]
    lines.insert(100, b"")  # blank lines are skipped, but counted as lines
    lines.append(b"   ")
    path = write_lines(tmp_path / "jobs.jsonl", lines)
    done = (
        pgqrs(
            "message",
            "enqueue",
            queue,
            "--file",
            str(path),
            "--batch-size",
            "1000",
            "--format",
            "json",
            dsn=module_dsn,
        )
        .ok()
        .json()
    )
    assert (done["queue"], done["messages"], done["lines"]) == (queue, 2500, 2502)
    assert done["messages_per_second"] > 0
    assert await payloads_of(module_dsn, queue) == [orjson.loads(x) for x in lines if x.strip()]

    piped = pgqrs(
        "message",
        "enqueue",
        queue,
        "--file",
        "-",
        "--delay",
        "60",
        dsn=module_dsn,
        input=b'{"from": "stdin"}\n[1, 2]\n"three"',
    )
    assert piped.ok().stdout.startswith(f"enqueued 3 messages on {queue!r} from stdin (3 lines)")
    assert (await payloads_of(module_dsn, queue))[-3:] == [{"from": "stdin"}, [1, 2], "three"]
    async with Admin(module_dsn) as admin:
        assert (await admin.queue_metrics(queue)).delayed_messages == 3
    assert piped.stderr == ""  # no progress bar into a pipe
    pgqrs(
        "message", "enqueue", queue, "--file", str(tmp_path / "absent.jsonl"), dsn=module_dsn
    ).failed("cannot read", "absent.jsonl")
    pgqrs("message", "enqueue", queue, "1", "--file", str(path), dsn=module_dsn).failed(
        "not both", status=2
    )


async def test_a_bad_line_keeps_the_batches_before_its_own(module_dsn: str, tmp_path: Path) -> None:
    queue = new_queue(module_dsn)
    lines = [orjson.dumps({"n": n}) for n in range(1, 26)]
    lines[16] = b'{"n": 17,'  # line 17, in the second batch of 10
    path = write_lines(tmp_path / "bad.jsonl", lines)
    done = pgqrs(
        "message", "enqueue", queue, "--file", str(path), "--batch-size", "10", dsn=module_dsn
    )
    done.failed(
        "line 17: not valid JSON",
        "10 messages (lines 1-10) were enqueued",
        "nothing from line 11 on",
        "tail -n +11",
    )
    assert done.stdout == ""
    assert await payloads_of(module_dsn, queue) == [{"n": n} for n in range(1, 11)]

    # Resuming from line 11 after the fix loads the rest, without duplicates.
    lines[16] = b'{"n": 17}'
    rest = write_lines(tmp_path / "rest.jsonl", lines[10:])
    pgqrs("message", "enqueue", queue, "--file", str(rest), dsn=module_dsn).ok()
    assert await payloads_of(module_dsn, queue) == [{"n": n} for n in range(1, 26)]

    first = pgqrs("message", "enqueue", queue, "--file", "-", input=b"nope\n", dsn=module_dsn)
    first.failed("line 1: not valid JSON", "nothing was enqueued")


async def test_a_payload_refused_by_the_batch_names_its_line(
    module_dsn: str, tmp_path: Path
) -> None:
    queue = new_queue(module_dsn)
    lines = [orjson.dumps({"n": n}) for n in range(1, 16)]
    lines[11] = b""  # line 12 blank, inside the second batch
    lines[13] = b'{"nul": "a\\u0000b"}'  # line 14: valid JSON that jsonb cannot store
    path = write_lines(tmp_path / "nul.jsonl", lines)
    done = pgqrs(
        "message", "enqueue", queue, "--file", str(path), "--batch-size", "10", dsn=module_dsn
    )
    done.failed("line 14:", "NUL", "10 messages (lines 1-10) were enqueued", "tail -n +11")
    assert len(await payloads_of(module_dsn, queue)) == 10


def peak_rss_kib(argv: list[str]) -> int:
    """Peak resident memory of one command, in KiB (its own, from its parent's rusage)."""
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    return int(done.stdout)


def test_enqueue_file_memory_does_not_grow_with_the_file(module_dsn: str, tmp_path: Path) -> None:
    queue = new_queue(module_dsn)
    filler = "x" * 1000
    small = write_lines(
        tmp_path / "small.jsonl",
        [b'{"n": %d, "s": "%s"}' % (n, filler.encode()) for n in range(5_000)],
    )
    large = write_lines(
        tmp_path / "large.jsonl",
        [b'{"n": %d, "s": "%s"}' % (n, filler.encode()) for n in range(50_000)],
    )
    assert large.stat().st_size > 50_000_000
    command = [str(PGQRS), "--dsn", module_dsn, "message", "enqueue", queue, "--file"]
    small_kib = peak_rss_kib([*command, str(small)])
    large_kib = peak_rss_kib([*command, str(large)])
    # Reading the large file whole would add its 50 MB (and more as Python objects).
    assert large_kib - small_kib < 10_000, (small_kib, large_kib)


def test_progress_bar_only_on_a_terminal(module_dsn: str, tmp_path: Path) -> None:
    queue = new_queue(module_dsn)
    path = write_lines(tmp_path / "p.jsonl", [b"%d" % n for n in range(3000)])
    argv = [str(PGQRS), "--dsn", module_dsn, "message", "enqueue", queue, "--file", str(path)]
    status, screen = run_in_terminal(argv)
    assert status == 0, screen
    assert "enqueued 3,000 messages" in screen  # the bar's own text, drawn on the terminal
    assert "msg/s" in screen
    assert "━" in screen
    piped = pgqrs("message", "enqueue", queue, "--file", str(path), dsn=module_dsn).ok()
    assert piped.stderr == ""
    assert "━" not in piped.stdout
