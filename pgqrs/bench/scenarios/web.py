"""Producers under concurrency: many tasks enqueueing one message each on one producer (group
commit) against as many raw INSERT + commit tasks, and a FastAPI endpoint under uvicorn loaded by
``ab`` with the enqueue against the same endpoint without it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import orjson
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ...config import Config
from ..harness import Case, Scenario, Target
from ..schema import BenchSchema, make_payloads

__all__ = [
    "CONCURRENT_TARGET",
    "WEB_TARGET",
    "ConcurrentEnqueue",
    "ConcurrentRawInsert",
    "WebEndpoint",
    "concurrent_enqueue_scenario",
    "web_scenario",
]

CONCURRENT_TARGET = Target(5.0, "≥ 5.0")
WEB_TARGET = Target(0.70, "≥ 0.70")


class ConcurrentEnqueue(Case):
    """``tasks`` tasks share one producer, each enqueueing its share of ``messages`` one
    ``enqueue`` at a time, as request handlers of one web process do."""

    def __init__(self, schema: BenchSchema, tasks: int, messages: int) -> None:
        self.label = "pgqrs"
        self.schema, self.tasks = schema, tasks
        self.messages = messages - messages % tasks
        self._payloads = make_payloads(self.messages)

    async def open(self) -> None:
        self._producer = self.schema.producer("bench-concurrent")
        await self._producer.enqueue({"register": True})

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        enqueue, share = self._producer.enqueue, self.messages // self.tasks

        async def task(start: int) -> None:
            for payload in self._payloads[start : start + share]:
                await enqueue(payload)

        await asyncio.gather(*(task(t * share) for t in range(self.tasks)))


class ConcurrentRawInsert(Case):
    """The same tasks with raw psycopg: each message a prepared INSERT + commit on a connection
    of a pool as large as the producer's (``Config.pool_max_size``)."""

    def __init__(self, schema: BenchSchema, tasks: int, messages: int) -> None:
        self.label = "raw INSERT"
        self.schema, self.tasks = schema, tasks
        self.messages = messages - messages % tasks
        self._payloads = make_payloads(self.messages)

    async def open(self) -> None:
        self._worker_id = await self.schema.registered_producer_id("bench-raw")
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            self.schema.dsn,
            min_size=Config().pool_max_size,
            max_size=Config().pool_max_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await self._pool.open(wait=True)
        self._insert = (
            sql.SQL(
                "INSERT INTO {} (queue_id, payload, vt, producer_worker_id) "
                "VALUES (%s, %s, now(), %s) RETURNING id"
            )
            .format(self.schema.table("pgqrs_messages"))
            .as_bytes()
        )

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        share, queue_id, worker_id = (
            self.messages // self.tasks,
            self.schema.queue_id,
            self._worker_id,
        )

        async def task(start: int) -> None:
            for payload in self._payloads[start : start + share]:
                async with self._pool.connection() as conn:
                    row = (queue_id, Jsonb(payload, dumps=orjson.dumps), worker_id)
                    cur = await conn.execute(self._insert, row, prepare=True)
                    await cur.fetchone()

        await asyncio.gather(*(task(t * share) for t in range(self.tasks)))

    async def close(self) -> None:
        await self._pool.close()


def concurrent_enqueue_scenario(dsn: str, tasks: int, messages: int) -> Scenario:
    """``tasks`` concurrent single enqueues on one producer (group commit) vs as many tasks
    doing INSERT + commit each on a pool of the producer's size."""
    schema = BenchSchema(dsn, f"concurrent{tasks}")
    return Scenario(
        key=f"concurrent_enqueue@{tasks}",
        title=f"enqueue, {tasks} concurrent tasks on one producer vs raw INSERT + commit each",
        pgqrs=ConcurrentEnqueue(schema, tasks, messages),
        baseline=ConcurrentRawInsert(schema, tasks, messages),
        target=CONCURRENT_TARGET,
        schemas=[schema],
    )


# The API document's FastAPI example with its DSN and queue from the environment; the baseline
# app is the same endpoint without the enqueue.
_APP = """
import os
from fastapi import FastAPI
from pgqrs import Producer

app = FastAPI()
producer = Producer(
    os.environ["PGQRS_BENCH_DSN"], "bench", "api", 8000, schema=os.environ["PGQRS_BENCH_SCHEMA"]
)


@app.post("/tasks")
async def create_task(payload: dict):
    msg_id = {enqueue}
    return {{"message_id": msg_id}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebEndpoint(Case):
    """``POST /tasks`` on a FastAPI app under uvicorn (``workers`` processes), ``requests``
    requests at ``concurrency`` from ``ab`` (Apache Bench); with the enqueue or without it."""

    def __init__(
        self,
        schema: BenchSchema,
        *,
        enqueue: bool,
        requests: int,
        concurrency: int,
        workers: int,
    ) -> None:
        self.label = "with enqueue" if enqueue else "without"
        self.schema, self.enqueue = schema, enqueue
        self.messages, self.concurrency, self.workers = requests, concurrency, workers
        self.p50: list[float] = []
        self.p99: list[float] = []

    async def open(self) -> None:
        ab = shutil.which("ab")
        if ab is None:
            raise RuntimeError(
                "the web benchmark needs `ab` (Debian: apt-get install apache2-utils)"
            )
        self._ab = ab
        self._dir = Path(tempfile.mkdtemp(prefix="pgqrs-web-"))
        code = "await producer.enqueue(payload)" if self.enqueue else "0"
        (self._dir / "app.py").write_text(textwrap.dedent(_APP.format(enqueue=code)))
        (self._dir / "body.json").write_bytes(orjson.dumps(make_payloads(1)[0]))
        self._port = _free_port()
        env = dict(os.environ, PGQRS_BENCH_DSN=self.schema.dsn, PGQRS_BENCH_SCHEMA=self.schema.name)
        self._server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            str(self._dir),
            "--port",
            str(self._port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                await self._ab_run(1, 1)
                return
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise RuntimeError("uvicorn did not start")

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def _ab_run(self, requests: int, concurrency: int) -> str:
        ab = await asyncio.create_subprocess_exec(
            self._ab,
            "-q",
            "-l",  # response bodies differ in length (the ids): not failures
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            "-p",
            str(self._dir / "body.json"),
            "-T",
            "application/json",
            f"http://127.0.0.1:{self._port}/tasks",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await ab.communicate()
        text = out.decode()
        failed = re.search(r"Failed requests:\s+(\d+)", text)
        if ab.returncode != 0 or failed is None or int(failed.group(1)) or "Non-2xx" in text:
            raise RuntimeError(f"ab failed: {(err or out).decode()[-500:]}")
        return text

    async def run(self) -> None:
        text = await self._ab_run(self.messages, self.concurrency)
        for fraction, into in (("50%", self.p50), ("99%", self.p99)):
            found = re.search(rf"^\s*{fraction}\s+(\d+)", text, re.MULTILINE)
            if found:
                into.append(float(found.group(1)))

    def summary(self) -> str:
        if not self.p50:
            return ""
        p50 = sorted(self.p50)[len(self.p50) // 2]
        p99 = sorted(self.p99)[len(self.p99) // 2]
        return f"{self.label}: p50 {p50:g} ms, p99 {p99:g} ms (medians over rounds)."

    async def close(self) -> None:
        self._server.terminate()
        await self._server.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def web_scenario(dsn: str, requests: int, concurrency: int = 200, workers: int = 1) -> Scenario:
    """The seed's FastAPI endpoint with ``await producer.enqueue(payload)`` vs the same
    endpoint without it, ``requests`` requests at ``concurrency`` per round."""
    schema = BenchSchema(dsn, "web")
    sides = {"requests": requests, "concurrency": concurrency, "workers": workers}
    return Scenario(
        key=f"web@{concurrency}",
        title=(
            f"FastAPI POST under uvicorn ({workers} worker), {concurrency} concurrent (ab): "
            "with enqueue vs without"
        ),
        pgqrs=WebEndpoint(schema, enqueue=True, **sides),
        baseline=WebEndpoint(schema, enqueue=False, **sides),
        target=WEB_TARGET,
        schemas=[schema],
        note="Rates are requests/s.",
    )
