"""The throwaway cluster behind the tests, the demo and ``pgqrs bench`` cleans up after itself,
also when the process that started it is killed outright, and runs durable when asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgqrs.embedded import EmbeddedPostgres

pytestmark = pytest.mark.db  # starts servers of its own: needs PostgreSQL's binaries

STARTER = """
import time
from pgqrs.embedded import EmbeddedPostgres

server = EmbeddedPostgres()
print(server.start(), flush=True)
time.sleep(600)
"""


def _host(dsn: str) -> Path:
    return Path(str(conninfo_to_dict(dsn)["host"]))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # An exited process whose parent does not reap it (a container's init may not) lingers as
    # a zombie: it answers signal 0 but runs nothing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _wait_gone(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_stop_removes_server_and_files() -> None:
    with EmbeddedPostgres() as server:
        base = _host(server.dsn)
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not base.exists()


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def _durability(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(DURABILITY)]
        ).fetchall()
    return {str(name): str(setting) for name, setting in rows}


@pytest.mark.parametrize(("durable", "expected"), [(False, "off"), (True, "on")])
def test_durability_settings(durable: bool, expected: str) -> None:
    # The durable server must run with PostgreSQL's defaults, as a user's server does: a
    # benchmark on it reports what users see.  The default one is the tests' fast server.
    with EmbeddedPostgres(durable=durable) as server:
        assert server.durable is durable
        assert _durability(server.dsn) == dict.fromkeys(DURABILITY, expected)


def test_explicit_settings_win_over_durability() -> None:
    with EmbeddedPostgres({"synchronous_commit": "on"}) as server:
        assert _durability(server.dsn) == {
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
        }


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_starter_leaves_no_server_behind() -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True, cwd="/"
    )
    try:
        assert starter.stdout is not None
        dsn = starter.stdout.readline().strip()
        base = _host(dsn)
        pid = int((base / "data" / "postmaster.pid").read_text().split()[0])
        port = int(str(conninfo_to_dict(dsn)["port"]))
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        starter.send_signal(signal.SIGKILL)  # no finalizers, no atexit
        starter.wait()
    assert _wait_gone(base, 30), "the watchdog did not remove the cluster"
    assert not _running(pid), "the postmaster outlived its cluster directory"
    with pytest.raises(psycopg.OperationalError):  # nothing listens on its TCP port either
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2)
