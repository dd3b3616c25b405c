"""Producers in web applications: the API document's FastAPI app, unchanged, served by uvicorn in
four worker processes, each with its module-level ``Producer("...", "tasks", "api", 8000)``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pgqrs import Admin

from doc_examples import with_dsn
from test_seed_examples import prepare, seed_examples

WORKERS = 4
REQUESTS = 2000
CONCURRENCY = 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def seed_app_server(fresh_dsn: str, tmp_path: Path) -> Iterator[str]:
    """The seed's FastAPI snippet as ``app.py`` (only its DSN replaced), under
    ``uvicorn --workers 4``; yields the base URL once every worker answers."""
    prepare(fresh_dsn, "tasks")
    (tmp_path / "app.py").write_text(with_dsn(seed_examples()["fastapi"], fresh_dsn))
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"{url}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


async def _post_all(url: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post(n: int) -> httpx.Response:
            async with gate:
                return await client.post("/tasks", json={"order": n})

        return await asyncio.gather(*(post(n) for n in range(REQUESTS)))


def test_seed_fastapi_app_in_four_processes(fresh_dsn: str, seed_app_server: str) -> None:
    responses = asyncio.run(_post_all(seed_app_server))
    assert [r.status_code for r in responses if r.status_code != 200] == []
    ids = [r.json()["message_id"] for r in responses]
    assert len(set(ids)) == REQUESTS

    async def tables() -> tuple[int, list[tuple[str | None, int | None, str]]]:
        async with Admin(fresh_dsn) as admin:
            messages = await admin.get_messages().list(queue="tasks", limit=REQUESTS + 1)
            assert sorted(m.id for m in messages) == sorted(ids)
            orders = sorted(m.payload["order"] for m in messages)
            assert orders == list(range(REQUESTS))  # one message per 2xx, each once
            workers = await admin.worker_health(queue="tasks")
            return len(messages), [
                (h.worker.kind, h.worker.process_id, h.worker.status.value) for h in workers
            ]

    count, workers = asyncio.run(tables())
    assert count == REQUESTS
    # One producer row per process that served requests, under the one identity, all alive.
    assert 1 < len(workers) <= WORKERS
    assert {kind for kind, _, _ in workers} == {"producer"}
    assert len({pid for _, pid, _ in workers}) == len(workers)
    assert {status for _, _, status in workers} == {"ready"}
