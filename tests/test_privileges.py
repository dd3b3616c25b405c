"""The README's "Least privilege" grants, run as they stand there, are enough for each role's
work; without them ``install()`` says what it needs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgqrs import Admin, Config, ConfigurationError, Consumer, Producer

README = Path(__file__).resolve().parent.parent / "README.md"
ROLES = ("pgqrs_installer", "pgqrs_producer", "pgqrs_consumer")
SCHEMA = "pgqrs"
# No heartbeat during the test: each role's statements run when the test says so.
QUIET = Config(schema=SCHEMA, heartbeat_interval=3600)


def readme_blocks() -> list[str]:
    """The two SQL blocks of the README's "Least privilege" section: before and after install."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Least privilege\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, blocks
    return blocks


@dataclass
class Roles:
    """DSNs of the README's roles (and of one without any grant) in a fresh database."""

    installer: str
    producer: str
    consumer: str
    nobody: str
    grants: str  # the README's second block, for the installer to run after install()


@pytest.fixture
def roles(dsn: str, fresh_dsn: str) -> Iterator[Roles]:
    """The README's roles, named uniquely (roles are cluster-wide), created by the README's
    first block in a fresh database, and dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"{role}_{suffix}" for role in (*ROLES, "pgqrs_nobody")}
    database = str(conninfo_to_dict(fresh_dsn)["dbname"])

    def adapt(block: str) -> str:
        for role, name in names.items():
            block = re.sub(rf"\b{role}\b", name, block)
        return re.sub(r"\bmydb\b", database, block)

    first, second = (adapt(block) for block in readme_blocks())
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(first)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(names["pgqrs_nobody"])))
    as_role = {role: make_conninfo(fresh_dsn, user=name) for role, name in names.items()}
    yield Roles(
        installer=as_role["pgqrs_installer"],
        producer=as_role["pgqrs_producer"],
        consumer=as_role["pgqrs_consumer"],
        nobody=as_role["pgqrs_nobody"],
        grants=second,
    )
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        for name in names.values():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


async def test_readme_grants_run_each_role(roles: Roles) -> None:
    async with Admin(roles.installer, config=QUIET) as admin:
        await admin.install()
        with psycopg.connect(roles.installer, autocommit=True) as conn:
            conn.execute(roles.grants)
        await admin.create_queue("jobs")

        async with Producer(roles.producer, "jobs", "p", 1, config=QUIET) as producer:
            ids = [await producer.enqueue({"n": 0})]
            ids.append(await producer.enqueue_delayed({"n": 1}, 0))
            ids += await producer.enqueue_batch([{"n": n} for n in range(2, 12)])  # one INSERT
            ids += await producer.enqueue_batch([{"n": n} for n in range(12, 212)])  # COPY
            await producer.heartbeat()
        # Nothing more: the producer role cannot lease.
        async with Consumer(roles.producer, "jobs", "p", 2, config=QUIET) as intruder:
            with pytest.raises(ConfigurationError, match="permission denied"):
                await intruder.dequeue_many(1)

        dead = Config(schema=SCHEMA, heartbeat_interval=3600, max_read_ct=1)
        async with Consumer(roles.consumer, "jobs", "c", 3, config=dead) as consumer:
            batch = await consumer.dequeue_many(10, lock_seconds=30)
            assert len(batch) == 10
            assert await consumer.archive(batch[0].id)
            assert await consumer.archive_many([m.id for m in batch[1:4]]) == [True] * 3
            assert await consumer.delete(batch[4].id)
            assert await consumer.extend_visibility(batch[5].id, 60)
            await consumer.release_many([m.id for m in batch[6:]])
            await consumer.heartbeat()
            # Delivered once already: the next dequeue moves them to the archive as dead letters.
            rest = await consumer.dequeue_many(500)
            assert {m.id for m in rest} == set(ids) - {m.id for m in batch}
            assert await consumer.archive_many([m.id for m in rest]) == [True] * len(rest)

        metrics = await admin.queue_metrics("jobs")
        assert metrics.archived_messages == 4 + len(rest)
        assert metrics.dead_lettered_messages == 4
        assert metrics.in_flight_messages == 1  # the extended lease


@pytest.mark.parametrize("who", ["nobody", "producer"])
async def test_install_without_privileges_says_what_it_needs(roles: Roles, who: str) -> None:
    async with Admin(roles.installer, config=QUIET) as admin:
        await admin.install()
    with psycopg.connect(roles.installer, autocommit=True) as conn:
        conn.execute(roles.grants)
    # "nobody" installs into a new schema (CREATE on the database); the producer role into the
    # existing one (ownership of the schema).
    schema = "pgqrs_elsewhere" if who == "nobody" else SCHEMA
    async with Admin(getattr(roles, who), schema=schema) as admin:
        with pytest.raises(ConfigurationError) as info:
            await admin.install()
    message = str(info.value)
    assert "permission denied for" in message
    assert "[42501]" in message
    assert f"Admin.install() must run as the owner of schema {schema!r}" in message
    assert "CREATE on the database" in message
    assert "producers and consumers need only USAGE on the schema and the DML grants" in message
