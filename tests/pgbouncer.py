"""A throwaway PgBouncer in transaction pooling mode in front of the test server.

Started by the test suite like the throwaway PostgreSQL: a config in a temporary directory, a free
port on 127.0.0.1, no unix socket, trust authentication.  PgBouncer refuses to run as root, so
under root it runs as the ``postgres`` OS user.  A missing binary fails the tests that need it
(the bootstrap installs Debian's ``pgbouncer``) unless ``PGQRS_TEST_NO_PGBOUNCER=1`` opts out.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgqrs.embedded import _server_user

#: Set to 1 to skip the PgBouncer tests on a machine without PgBouncer.
OPT_OUT_ENV = "PGQRS_TEST_NO_PGBOUNCER"
#: Path of the pgbouncer binary, when it is neither on PATH nor in /usr/sbin.
BINARY_ENV = "PGQRS_PGBOUNCER"

#: Server connections per (database, user): fewer than the clients the tests run, as in
#: production, so transactions of different clients share server connections.
POOL_SIZE = 3


class PgBouncerMissing(RuntimeError):
    """No pgbouncer binary was found."""


def find_pgbouncer() -> str:
    """The pgbouncer binary: ``$PGQRS_PGBOUNCER``, else on PATH, else Debian's /usr/sbin."""
    candidates = [os.environ.get(BINARY_ENV), shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise PgBouncerMissing(
        "pgbouncer not found: `make build` installs it (Debian: apt-get install pgbouncer); set "
        f"{BINARY_ENV} to its path, or {OPT_OUT_ENV}=1 to skip the PgBouncer tests"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@contextmanager
def transaction_pooler(server_dsn: str) -> Iterator[str]:
    """Run PgBouncer in transaction pooling mode in front of ``server_dsn``; yields the DSN
    that reaches the same server (and user) through it."""
    binary = find_pgbouncer()
    target = conninfo_to_dict(server_dsn)
    user = str(target.get("user") or "postgres")
    port = _free_port()
    run_as = _server_user()
    base = Path(tempfile.mkdtemp(prefix="pgqrs-pgbouncer-"))
    try:
        server = " ".join(
            f"{key}={target[key]}" for key in ("host", "port", "user", "password") if key in target
        )
        (base / "users.txt").write_text(
            f"{_quote(user)} {_quote(str(target.get('password', '')))}\n"
        )
        (base / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = {server}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {base / 'users.txt'}",
                    "pool_mode = transaction",
                    f"admin_users = {user}",  # SHOW STATS: the tests check traffic went through
                    f"default_pool_size = {POOL_SIZE}",
                    "max_client_conn = 500",
                    # psycopg sends neither, but other clients of the same server may.
                    "ignore_startup_parameters = extra_float_digits,options",
                    f"logfile = {base / 'pgbouncer.log'}",
                    f"pidfile = {base / 'pgbouncer.pid'}",
                    "",
                ]
            )
        )
        if run_as is not None:
            for path in (base, *base.iterdir()):
                os.chown(path, run_as.pw_uid, run_as.pw_gid)
        # -q: the log goes to its file only.
        process = subprocess.Popen(
            [binary, "-q", str(base / "pgbouncer.ini")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            user=None if run_as is None else run_as.pw_uid,
            group=None if run_as is None else run_as.pw_gid,
        )
        try:
            _wait_for_port(port, process, base / "pgbouncer.log")
            yield make_conninfo(
                "", host="127.0.0.1", port=port, user=user, dbname=target.get("dbname")
            )
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{tail}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not accept connections within 30 s")
