"""Every Python example of the seed API document (docs/python-api.md), run as written.

Only the DSN is changed: the literal ``postgresql://localhost/mydb`` becomes the test database.
Each example runs in its own fresh database, in a plain (non-async) test, because the examples
call ``asyncio.run`` themselves.
"""

from __future__ import annotations

import ast
import asyncio
import re
from typing import Any

import pytest

from pgqrs import Admin, Consumer, Producer

from doc_examples import DOCS, EXAMPLE_DSN, python_blocks, queue_counts, with_dsn

SEED = DOCS / "python-api.md"


def seed_examples() -> dict[str, str]:
    """The document's Python blocks, keyed by the name each test knows them by."""
    markers = {
        "setup": "# Create admin for schema/queue management",
        "producing": "async def produce_messages",
        "consuming": "async def consume_messages",
        "async_support": 'create_queue("my-queue")',
        "fastapi": "from fastapi import FastAPI",
        "aiohttp": "from aiohttp import web",
        "error_handling": "async def safe_create_queue",
        "type_hints": "async def process(consumer)",
        "complete": "# Complete example",
    }
    found: dict[str, str] = {}
    for code in python_blocks(SEED):
        names = [name for name, marker in markers.items() if marker in code]
        if not names and 'if __name__ == "__main__":' in code and "# Produce" in code:
            names = ["complete"]
        assert len(names) == 1, f"cannot tell which example this is:\n{code}"
        found[names[0]] = code
    return found


def run_example(name: str, dsn: str, main: bool = False) -> dict[str, Any]:
    """Execute one example with the test DSN; returns its namespace.

    The Quick Reference snippets continue the Setup block (they use its imports, as a reader
    running them in sequence would), so every example starts with Setup's import lines.
    """
    examples = seed_examples()
    code = examples[name]
    assert EXAMPLE_DSN in code or name == "type_hints"
    namespace: dict[str, Any] = {"__name__": "__main__" if main else f"seed_{name}"}
    setup_imports = [
        line for line in examples["setup"].splitlines() if line.startswith(("import ", "from "))
    ]
    exec("\n".join(setup_imports), namespace)
    exec(compile(with_dsn(code, dsn), f"<seed:{name}>", "exec"), namespace)
    return namespace


def prepare(dsn: str, *queues: str) -> None:
    async def go() -> None:
        async with Admin(dsn) as admin:
            await admin.install()
            for queue in queues:
                await admin.create_queue(queue)

    asyncio.run(go())


def test_seed_document_has_exactly_the_known_examples() -> None:
    assert set(seed_examples()) == {
        "setup",
        "producing",
        "consuming",
        "async_support",
        "fastapi",
        "aiohttp",
        "error_handling",
        "type_hints",
        "complete",
    }


def test_seed_setup_installs_and_creates_queue(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("setup", fresh_dsn)
    assert "Created queue: tasks" in capsys.readouterr().out
    assert queue_counts(fresh_dsn, "tasks") == (0, 0)


def test_seed_producing_enqueues_one_message(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare(fresh_dsn, "tasks")
    namespace = run_example("producing", fresh_dsn)
    asyncio.run(namespace["produce_messages"]())
    assert re.search(r"Sent message: \d+", capsys.readouterr().out)
    assert queue_counts(fresh_dsn, "tasks") == (1, 0)


def test_seed_consuming_archives_what_it_processes(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare(fresh_dsn, "tasks")
    produced = run_example("producing", fresh_dsn)
    asyncio.run(produced["produce_messages"]())
    consumed = run_example("consuming", fresh_dsn)
    asyncio.run(consumed["consume_messages"]())
    processed = re.findall(r"^Processing: (.*)$", capsys.readouterr().out, re.MULTILINE)
    # jsonb keeps no key order, so compare values, not printed text.
    assert [ast.literal_eval(p) for p in processed] == [{"task": "process", "data": 123}]
    assert queue_counts(fresh_dsn, "tasks") == (0, 1)


def test_seed_async_support_creates_queue(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("async_support", fresh_dsn)
    assert "Created: my-queue" in capsys.readouterr().out


def test_seed_fastapi_app_enqueues_across_event_loops(fresh_dsn: str) -> None:
    from fastapi.testclient import TestClient

    prepare(fresh_dsn, "tasks")
    namespace = run_example("fastapi", fresh_dsn)
    ids = []
    # Each TestClient block runs the app on its own event loop: the module-level Producer must
    # follow (docs/contract.md, API surface: constructors do no I/O).
    for round_ in range(2):
        with TestClient(namespace["app"]) as client:
            for i in range(3):
                response = client.post("/tasks", json={"round": round_, "i": i})
                assert response.status_code == 200, response.text
                ids.append(response.json()["message_id"])
    assert len(set(ids)) == 6
    assert all(isinstance(i, int) for i in ids)
    assert queue_counts(fresh_dsn, "tasks") == (6, 0)


def test_seed_aiohttp_handler_enqueues(fresh_dsn: str) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    prepare(fresh_dsn, "tasks")
    namespace = run_example("aiohttp", fresh_dsn)

    async def go() -> list[int]:
        app = web.Application()
        app.router.add_post("/tasks", namespace["create_task"])
        ids = []
        async with TestClient(TestServer(app)) as client:
            for i in range(3):
                response = await client.post("/tasks", json={"i": i})
                assert response.status == 200
                ids.append((await response.json())["message_id"])
        await namespace["producer"].close()
        return ids

    # Twice, on two event loops, with the same module-level producer.
    ids = asyncio.run(go()) + asyncio.run(go())
    assert len(set(ids)) == 6
    assert queue_counts(fresh_dsn, "tasks") == (6, 0)


def test_seed_error_handling_reports_existing_queue(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare(fresh_dsn)
    namespace = run_example("error_handling", fresh_dsn)
    asyncio.run(namespace["safe_create_queue"]())
    asyncio.run(namespace["safe_create_queue"]())
    out = capsys.readouterr().out
    assert "Created: tasks" in out
    assert "Queue already exists" in out


def test_seed_type_hints_process_archives(fresh_dsn: str) -> None:
    prepare(fresh_dsn, "tasks")
    namespace = run_example("type_hints", fresh_dsn)

    async def go() -> None:
        async with Producer(fresh_dsn, "tasks", "localhost", 3000) as producer:
            await producer.enqueue({"k": 1})
            await producer.enqueue({"k": 2})
        async with Consumer(fresh_dsn, "tasks", "localhost", 3001) as consumer:
            await namespace["process"](consumer)

    asyncio.run(go())
    assert queue_counts(fresh_dsn, "tasks") == (0, 2)


def test_seed_complete_example_then_same_identities_again(
    fresh_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("complete", fresh_dsn, main=True)
    first = capsys.readouterr().out
    assert first.count("Sent task") == 5
    assert first.count("Processing:") == 5
    assert first.rstrip().endswith("Done!")
    assert queue_counts(fresh_dsn, "demo") == (0, 5)
    # Its workers were never closed.  New runs (new event loops) with the same identities,
    # localhost:3000 and :3001, now on another queue, take them over and work.
    prepare(fresh_dsn, "tasks")
    for _ in range(2):
        asyncio.run(run_example("producing", fresh_dsn)["produce_messages"]())
        asyncio.run(run_example("consuming", fresh_dsn)["consume_messages"]())
    assert queue_counts(fresh_dsn, "tasks") == (0, 2)

    async def workers() -> list[tuple[str, int]]:
        async with Admin(fresh_dsn) as admin:
            return [(w.hostname, w.port) for w in await admin.get_workers().list()]

    assert sorted(asyncio.run(workers())) == [("localhost", 3000), ("localhost", 3001)]
    # The example itself is not re-runnable as is: its create_queue("demo") now fails.
    with pytest.raises(RuntimeError, match="already exists"):
        run_example("complete", fresh_dsn, main=True)
