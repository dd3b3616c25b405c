"""No password in anything pgqrs prints, logs, raises or reprs, in every form a DSN carries one.

The failing connections are real: a second throwaway server demands scram-sha-256 over TCP, so a
wrong password is refused by PostgreSQL itself.  Every secret below contains ``S3c``, which no
other text does, so a partly masked secret is caught too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from pgqrs import Admin, Config, Consumer, PgqrsConnectionError, PgqrsError, Producer
from pgqrs.embedded import EmbeddedPostgres

MARK = "S3c"
ROLE = "pgqrs_secret_role"
RIGHT = "R1ght-S3c-9b2e"
WRONG = "Wr0ng-S3c-4f9a"
# Needs percent-encoding in a URL and quoting with a backslash escape in key=value form.
FANCY = "p@ss w/rd'%S3c"
LOGGERS = ("pgqrs", "psycopg", "psycopg.pool")


@dataclass
class PasswordServer:
    admin_dsn: str  # unix socket, trust: for setting up
    port: int  # TCP on 127.0.0.1 demands a password


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    """A throwaway server (always embedded) whose TCP connections need a scram-sha-256
    password, with a role that has the password RIGHT (and, renamed, FANCY)."""
    folder = Path(tempfile.mkdtemp(prefix="pgqrs-hba-"))
    try:
        folder.chmod(0o755)  # the server may run as another OS user
        hba = folder / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        hba.chmod(0o644)
        settings = {"hba_file": f"'{hba}'", "password_encryption": "'scram-sha-256'"}
        with EmbeddedPostgres(settings=settings) as server:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                for role, password in ((ROLE, RIGHT), (f"{ROLE}_fancy", FANCY)):
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                            sql.Identifier(role), sql.Literal(password)
                        )
                    )
            yield PasswordServer(server.dsn, server.port)
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


@dataclass
class Form:
    """One way of passing a password: the DSN pgqrs gets and the environment around it."""

    dsn: str | None
    env: dict[str, str]
    secret: str
    parses: bool = True


def forms(server: PasswordServer) -> dict[str, Form]:
    host = f"127.0.0.1:{server.port}"
    keywords = f"host=127.0.0.1 port={server.port} dbname=postgres"
    fancy_quoted = FANCY.replace("\\", "\\\\").replace("'", "\\'")
    return {
        "url": Form(f"postgresql://{ROLE}:{WRONG}@{host}/postgres", {}, WRONG),
        "url-percent-encoded": Form(
            f"postgresql://{ROLE}_fancy:{quote(FANCY + 'x', safe='')}@{host}/postgres",
            {},
            FANCY + "x",
        ),
        "url-query-parameter": Form(
            f"postgresql://{ROLE}@{host}/postgres?sslmode=disable&password={WRONG}", {}, WRONG
        ),
        "keyword": Form(f"{keywords} user={ROLE} password={WRONG}", {}, WRONG),
        "keyword-quoted": Form(
            f"{keywords} user={ROLE}_fancy password = '{fancy_quoted}x'", {}, FANCY + "x"
        ),
        "PGPASSWORD": Form(f"{keywords} user={ROLE}", {"PGPASSWORD": WRONG}, WRONG),
        "PGQRS_DSN": Form(
            None, {"PGQRS_DSN": f"postgresql://{ROLE}:{WRONG}@{host}/postgres"}, WRONG
        ),
        "unparsable-keyword": Form(f"{keywords} user={ROLE} {WRONG}", {}, WRONG, parses=False),
        "unparsable-url": Form(
            f"postgresql://{ROLE}:{WRONG}@[::1/postgres", {}, WRONG, parses=False
        ),
    }


FORM_NAMES = list(forms(PasswordServer("", 0)))


def spellings(secret: str) -> set[str]:
    """The ways a secret can appear in text: as is, percent-encoded, escaped, and its mark."""
    return {secret, quote(secret, safe=""), secret.replace("'", "\\'"), MARK}


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for spelling in spellings(secret):
            assert spelling not in text, f"{spelling!r} shown in:\n{text}"


def chain_texts(error: BaseException) -> list[str]:
    """The traceback of ``error`` and str/repr of every exception it chains to."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *getattr(current, "__notes__", [])]
        todo += (current.__cause__, current.__context__)
    assert len(seen) >= 2, "the psycopg cause should stay attached"
    return texts


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The captured records of LOGGERS, formatted with their tracebacks."""
    records = [r for r in caplog.records if r.name.split(".")[0] in ("pgqrs", "psycopg")]
    return [caplog.handler.format(r) for r in records]


@pytest.mark.parametrize("name", FORM_NAMES)
async def test_failing_connection_shows_no_password(
    name: str,
    password_server: PasswordServer,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    form = forms(password_server)[name]
    for key, value in form.env.items():
        monkeypatch.setenv(key, value)
    config = Config(dsn=form.dsn, connect_timeout=2)
    producer = Producer(form.dsn, "jobs", "secret-host", 1, config=config)
    shown = [repr(config), str(config), repr(producer), str(producer.config), f"{config!r}"]
    errors: list[PgqrsError] = []
    for call in (Admin(form.dsn, config=config).install, lambda: producer.enqueue({"n": 1})):
        with pytest.raises(PgqrsError) as info:
            await call()
        errors.append(info.value)
    await producer.close()
    for error in errors:
        if form.parses:  # PostgreSQL itself refused the password
            assert isinstance(error, PgqrsConnectionError)
            assert "password authentication failed" in str(error)
        else:
            assert "connection info string" in str(error) or "URI" in str(error)
        shown += chain_texts(error)
    logs = logged(debug_logs)
    # psycopg logs each connection attempt; a string that does not parse is never tried.
    assert logs or not form.parses, "nothing logged: the DEBUG capture does not work"
    assert_hidden("\n".join(shown + logs), form.secret)


@pytest.mark.parametrize("command", [["demo", "--messages", "10"], ["bench", "--quick"]])
@pytest.mark.parametrize("name", FORM_NAMES)
def test_cli_shows_no_password(
    name: str, command: list[str], password_server: PasswordServer
) -> None:
    form = forms(password_server)[name]
    argv = [sys.executable, "-m", "pgqrs", *command]
    if form.dsn is not None:
        argv += ["--dsn", form.dsn]
    done = subprocess.run(
        argv,
        env=dict(os.environ, **form.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "pgqrs: error:" in done.stderr
    if form.parses:
        assert "password authentication failed" in done.stderr
    assert_hidden(done.stdout + done.stderr, form.secret)


async def test_working_password_stays_hidden_also_when_reconnecting_fails(
    password_server: PasswordServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A full flow with the right password, then the pool's own reconnections refused."""
    schema = f"pgqrs_s_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://{ROLE}:{RIGHT}@127.0.0.1:{password_server.port}/postgres"
    config = Config(dsn=dsn, schema=schema, connect_timeout=1)
    admin = Admin(config=config)
    producer = Producer(None, "jobs", "secret-host", 2, config=config)
    consumer = Consumer(None, "jobs", "secret-host", 3, config=config)
    shown = [repr(obj) for obj in (admin, producer, consumer, config)]
    shown += [str(obj.config) for obj in (admin, producer, consumer)]
    try:
        await admin.install()
        await admin.create_queue("jobs")
        await producer.enqueue_batch([{"n": n} for n in range(100)])
        [message] = await consumer.dequeue_many(1)
        assert await consumer.archive(message.id)
        # The role's password changes and its sessions end: the pool must reconnect, and
        # PostgreSQL refuses the old password (psycopg.pool logs each refusal).
        with psycopg.connect(password_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'changed'").format(sql.Identifier(ROLE)))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [ROLE],
            )
        await asyncio.sleep(1.2)  # past the idle check: the dead connection is noticed
        with pytest.raises(PgqrsConnectionError) as info:
            await producer.enqueue({"n": "again"})
        shown += chain_texts(info.value)
    finally:
        with psycopg.connect(password_server.admin_dsn, autocommit=True) as conn:
            restore = sql.SQL("ALTER ROLE {} PASSWORD {}")
            conn.execute(restore.format(sql.Identifier(ROLE), sql.Literal(RIGHT)))
        for obj in (consumer, admin):
            await obj.close()
        # Its pool may still be waiting to retry with the refused password: the last
        # "stopped" update may fail, the pool closes all the same.
        with contextlib.suppress(PgqrsConnectionError):
            await producer.close()
        with psycopg.connect(password_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    logs = "\n".join(logged(debug_logs))
    assert "error connecting in" in logs  # psycopg.pool's refused reconnection was captured
    assert_hidden("\n".join([*shown, logs]), RIGHT)


def test_repr_masks_the_client_key_passphrase_and_keeps_the_rest() -> None:
    config = Config(dsn=f"host=db.example sslkey=/k.pem sslpassword={WRONG} password={RIGHT}")
    for text in (repr(config), str(config)):
        assert_hidden(text, WRONG, RIGHT)
        assert "host=db.example" in text
        assert "sslkey=/k.pem" in text
    assert repr(Config(dsn="host=h user=u")).startswith("Config(dsn='host=h user=u', ")
