"""The physical limit: pgqrs against raw *synchronous* psycopg doing the same work on a lean
table (the fewest columns and indexes the work needs), in the same run.

The other scenarios compare pgqrs with its own statements run by hand on its own tables, which
shows what the library adds.  These show what is left to gain at all: no async driver, no
worker columns, no dead-letter handling, an archive without secondary indexes.  Synchronous
calls block the event loop while a side runs, which is what a sync client does anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ..harness import Case, Scenario, Target
from ..schema import BenchSchema, check_drained, make_payloads
from .drain import DrainPgqrs
from .enqueue import PgqrsEnqueue

__all__ = [
    "LeanDrain",
    "LeanEnqueue",
    "limit_drain_scenario",
    "limit_enqueue_batch_scenario",
    "limit_enqueue_scenario",
]

#: Targets against the limit, by scenario key.
LIMIT_TARGETS = {
    "limit.enqueue_batch@100": Target(0.90, "≥ 0.90"),
    "limit.enqueue": Target(0.90, "≥ 0.90"),
    "limit.drain@10": Target(0.90, "≥ 0.90"),
    "limit.drain@1": Target(0.95, "≥ 0.95"),
}

_LEAN_TABLES = (
    "CREATE TABLE {messages} ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queue_id bigint NOT NULL,"
    " payload jsonb NOT NULL, vt timestamptz NOT NULL DEFAULT now(),"
    " read_ct integer NOT NULL DEFAULT 0)",
    "CREATE INDEX ON {messages} (queue_id, vt)",
    "CREATE TABLE {archive} ("
    " id bigint PRIMARY KEY, queue_id bigint NOT NULL, payload jsonb NOT NULL,"
    " archived_at timestamptz NOT NULL DEFAULT now())",
)


class _Lean(Case):
    """A synchronous autocommit connection and the lean tables, in the scenario's schema."""

    def __init__(self, schema: BenchSchema) -> None:
        self.schema = schema

    async def open(self) -> None:
        self._conn = psycopg.connect(self.schema.dsn, autocommit=True)
        self._tables = {
            "messages": self.schema.table("lean_messages"),
            "archive": self.schema.table("lean_archive"),
        }
        for statement in _LEAN_TABLES:
            self._conn.execute(sql.SQL(statement).format(**self._tables))

    def _sql(self, text: str) -> bytes:
        return sql.SQL(text).format(**self._tables).as_bytes()

    def _truncate(self) -> None:
        self._conn.execute(self._sql("TRUNCATE {messages}, {archive}"))

    async def close(self) -> None:
        self._conn.close()


class LeanEnqueue(_Lean):
    """Synchronous writes to the lean table: binary COPY of ``batch`` rows per statement (one
    transaction each), or with ``batch=None`` a prepared INSERT + commit per message."""

    def __init__(self, schema: BenchSchema, *, batch: int | None, messages: int) -> None:
        super().__init__(schema)
        self.label = "sync psycopg, lean table"
        self.batch = batch
        self.repeat = 1 if batch is None else max(1, round(messages / batch))
        self.messages = messages if batch is None else batch * self.repeat
        self._payloads = make_payloads(messages if batch is None else batch)

    async def prepare(self) -> None:
        self._truncate()

    async def run(self) -> None:
        conn, queue_id = self._conn, self.schema.queue_id
        if self.batch is None:
            insert = self._sql(
                "INSERT INTO {messages} (queue_id, payload) VALUES (%s, %s) RETURNING id"
            )
            for payload in self._payloads:
                cur = conn.execute(
                    insert, (queue_id, Jsonb(payload, dumps=orjson.dumps)), prepare=True
                )
                cur.fetchone()
            return
        copy_sql = self._sql("COPY {messages} (queue_id, payload, vt) FROM STDIN (FORMAT BINARY)")
        for _ in range(self.repeat):
            now = datetime.now(UTC)
            with conn.cursor().copy(copy_sql) as copy:
                copy.set_types(["int8", "jsonb", "timestamptz"])
                for payload in self._payloads:
                    copy.write_row((queue_id, Jsonb(payload, dumps=orjson.dumps), now))


class LeanDrain(_Lean):
    """Synchronous dequeue (SKIP LOCKED lease) + archive of ``batch`` messages at a time from
    the lean table until it is empty; ``prepare`` fills it with ``messages`` rows by COPY."""

    def __init__(self, schema: BenchSchema, batch: int, messages: int) -> None:
        super().__init__(schema)
        self.label = "sync psycopg, lean table"
        self.batch, self.messages = batch, messages

    async def open(self) -> None:
        await super().open()
        self._dequeue = self._sql(
            "WITH picked AS (SELECT id FROM {messages} WHERE queue_id = %(q)s AND vt <= now()"
            " ORDER BY vt LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
            " UPDATE {messages} m SET vt = now() + interval '30 seconds', read_ct = read_ct + 1"
            " FROM picked WHERE m.id = picked.id RETURNING m.id, m.payload"
        )
        self._archive = self._sql(
            "WITH moved AS (DELETE FROM {messages} WHERE id = ANY(%s)"
            " RETURNING id, queue_id, payload)"
            " INSERT INTO {archive} (id, queue_id, payload) SELECT * FROM moved"
        )

    async def prepare(self) -> None:
        self._truncate()
        copy_sql = self._sql("COPY {messages} (queue_id, payload) FROM STDIN (FORMAT BINARY)")
        with self._conn.cursor().copy(copy_sql) as copy:
            copy.set_types(["int8", "jsonb"])
            for payload in make_payloads(self.messages):
                copy.write_row((self.schema.queue_id, Jsonb(payload, dumps=orjson.dumps)))
        for table in ("messages", "archive"):
            self._conn.execute(self._sql(f"VACUUM ANALYZE {{{table}}}"))

    async def run(self) -> None:
        conn, done = self._conn, 0
        lease: dict[str, Any] = {"q": self.schema.queue_id, "n": self.batch}
        while True:
            rows = conn.execute(self._dequeue, lease, prepare=True).fetchall()
            if not rows:
                break
            conn.execute(self._archive, ([row[0] for row in rows],), prepare=True)
            done += len(rows)
        check_drained(done, self.messages)


def _limit(key: str, title: str, pgqrs: Case, baseline: Case, schema: BenchSchema) -> Scenario:
    return Scenario(
        key=key,
        title=title,
        pgqrs=pgqrs,
        baseline=baseline,
        target=LIMIT_TARGETS.get(key),
        schemas=[schema],
        note="Baseline: raw synchronous psycopg on a lean table (the physical limit).",
    )


def limit_enqueue_batch_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """``enqueue_batch`` of ``batch`` vs a synchronous binary COPY of ``batch`` rows per
    transaction into the lean table."""
    schema = BenchSchema(dsn, f"limitbatch{batch}")
    return _limit(
        f"limit.enqueue_batch@{batch}",
        f"enqueue_batch, {batch:,}/batch vs the limit (sync COPY, lean table)",
        PgqrsEnqueue(schema, batch=batch, messages=messages),
        LeanEnqueue(schema, batch=batch, messages=messages),
        schema,
    )


def limit_enqueue_scenario(dsn: str, messages: int) -> Scenario:
    """Single ``enqueue`` vs a synchronous prepared INSERT + commit loop on the lean table."""
    schema = BenchSchema(dsn, "limitenqueue")
    return _limit(
        "limit.enqueue",
        "enqueue (one message) vs the limit (sync INSERT + commit, lean table)",
        PgqrsEnqueue(schema, batch=None, messages=messages),
        LeanEnqueue(schema, batch=None, messages=messages),
        schema,
    )


def limit_drain_scenario(dsn: str, batch: int, messages: int) -> Scenario:
    """``dequeue_many(batch)`` + ``archive_many`` (1 consumer) vs the synchronous lean loop."""
    schema = BenchSchema(dsn, f"limitdrain{batch}")
    return _limit(
        f"limit.drain@{batch}",
        f"dequeue+archive, {batch}/batch, 1 consumer vs the limit (sync, lean table)",
        DrainPgqrs(schema, batch, 1, messages),
        LeanDrain(schema, batch, messages),
        schema,
    )
