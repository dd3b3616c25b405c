"""``pgqrs run module:function QUEUE`` as a real process: messages handled and archived, two
processes on one host side by side, SIGTERM mid-batch (the batch finishes, exit 0, nothing lost
or archived twice), a second signal, and the errors before anything runs."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgqrs import Admin, Producer

from pgqrs_command import PGQRS, clean_env, new_queue, pgqrs

HANDLERS = """
    import asyncio
    import os
    import pathlib

    LOG = pathlib.Path(os.environ["HANDLED_LOG"])


    def note(word, message):
        with LOG.open("a") as log:
            log.write(f"{word} {message.id} {os.getpid()}\\n")


    async def handle(message):
        note("start", message)
        await asyncio.sleep(float(os.environ.get("HANDLE_SECONDS", "0")))
        note("done", message)


    def blocking(message):
        pass
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    return tmp_path


def start(dsn: str, app: Path, queue: str, *args: str, seconds: float = 0) -> subprocess.Popen[str]:
    env = clean_env(HANDLED_LOG=str(app / "handled.log"), HANDLE_SECONDS=str(seconds))
    argv = [str(PGQRS), "--dsn", dsn, "run", "handlers:handle", queue, "--app-dir", str(app)]
    return subprocess.Popen(
        [*argv, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def logged(app: Path, word: str) -> list[int]:
    path = app / "handled.log"
    if not path.exists():
        return []
    return [int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith(word)]


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def archived(dsn: str) -> Counter[int]:
    """How many archive rows each original message id has (all queues of the database)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT original_msg_id FROM pgqrs_archive").fetchall()
    return Counter(row[0] for row in rows)


def stopped(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


async def enqueue(dsn: str, queue: str, count: int) -> list[int]:
    async with Producer(dsn, queue, "cli-run-test", 1) as producer:
        return await producer.enqueue_batch([{"n": n} for n in range(count)])


async def test_handles_and_archives_with_two_processes_side_by_side(
    module_dsn: str, app: Path
) -> None:
    queue = new_queue(module_dsn)
    ids = await enqueue(module_dsn, queue, 40)
    first = start(module_dsn, app, queue, "--batch-size", "5", "--concurrency", "2")
    second = start(module_dsn, app, queue, "--batch-size", "5")
    try:
        wait_for(lambda: sum(archived(module_dsn)[i] for i in ids) == len(ids))
        async with Admin(module_dsn) as admin:
            running = await admin.get_workers().list(queue=queue, status="ready")
        consumers = [w for w in running if w.kind == "consumer"]
        # The default identity (host name, port 0) gives each process a worker row of its own.
        assert len({w.process_id for w in consumers}) == 2
        assert {w.port for w in consumers} == {0}
    finally:
        results = [stopped(first), stopped(second)]
    for status, err in results:
        assert status == 0, err
        assert "consuming" in err
        assert "stopped after handling" in err
    counts = archived(module_dsn)
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)  # each exactly once
    assert sorted(logged(app, "done")) == ids


async def test_sigterm_mid_batch_finishes_the_batch_and_loses_nothing(
    module_dsn: str, app: Path
) -> None:
    queue = new_queue(module_dsn)
    ids = await enqueue(module_dsn, queue, 30)
    worker = start(module_dsn, app, queue, "--batch-size", "10", "--concurrency", "10", seconds=1.0)
    wait_for(lambda: len(logged(app, "start")) == 10)  # the first batch is in its handlers
    status, err = stopped(worker)
    assert status == 0, err
    assert "finishing the batch in flight" in err
    started, done = logged(app, "start"), logged(app, "done")
    assert sorted(started) == sorted(done) == ids[:10]  # the batch in flight finished
    counts = archived(module_dsn)
    assert [i for i in ids if counts[i]] == ids[:10]
    async with Admin(module_dsn) as admin:
        metrics = await admin.queue_metrics(queue)
    assert (metrics.pending_messages, metrics.in_flight_messages) == (20, 0)  # not leased

    again = start(module_dsn, app, queue, "--batch-size", "10")
    wait_for(lambda: sum(archived(module_dsn)[i] for i in ids) == len(ids))
    assert stopped(again, signal.SIGINT)[0] == 0
    counts = archived(module_dsn)
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)


async def test_a_second_signal_stops_at_once_and_releases_the_batch(
    module_dsn: str, app: Path
) -> None:
    queue = new_queue(module_dsn)
    ids = await enqueue(module_dsn, queue, 5)
    worker = start(module_dsn, app, queue, "--batch-size", "5", "--concurrency", "5", seconds=600)
    wait_for(lambda: len(logged(app, "start")) == 5)
    worker.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    began = time.monotonic()
    status, err = stopped(worker)
    assert status == 0, err
    assert time.monotonic() - began < 10  # did not wait for the 600 s handlers
    assert "cancelling the handlers" in err
    assert not any(archived(module_dsn)[i] for i in ids)
    async with Admin(module_dsn) as admin:
        metrics = await admin.queue_metrics(queue)
        assert (metrics.pending_messages, metrics.in_flight_messages) == (5, 0)  # released
        assert {m.read_ct for m in await admin.get_messages().list(queue=queue)} == {1}


def test_errors_before_anything_runs(module_dsn: str, app: Path) -> None:
    queue = new_queue(module_dsn)
    env = clean_env(HANDLED_LOG=str(app / "handled.log"))

    def run(handler: str, queue_name: str = queue) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PGQRS), "--dsn", module_dsn, "run", handler, queue_name, "--app-dir", str(app)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for handler, queue_name, message in (
        ("handlers:blocking", queue, "handler must be an async function"),
        ("missing_module:handle", queue, "cannot import module 'missing_module'"),
        ("handlers:nothing", queue, "module 'handlers' has no 'nothing'"),
        ("handlers:handle", "no-such-queue", "Queue 'no-such-queue' does not exist"),
    ):
        done = run(handler, queue_name)
        assert done.returncode == 1, done.stderr
        assert f"pgqrs: error: {message}" in done.stderr
        assert "Traceback" not in done.stderr
    pgqrs("run", "handlers:handle", queue, "--concurrency", "0", dsn=module_dsn).failed(
        "positive integer", status=2
    )
