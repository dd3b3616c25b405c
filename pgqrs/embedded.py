"""A throwaway local PostgreSQL cluster, for tests, the demo and ``pgqrs bench``.

``initdb`` into a temporary directory, start on a free port with a unix socket in that directory,
and remove everything on :meth:`EmbeddedPostgres.stop` (or at interpreter exit).  ``initdb``
refuses to run as root, so when the process is root the server runs as the ``postgres`` OS user.

A process killed outright (SIGKILL, a crash) runs no exit handlers, so on POSIX a small
watchdog process does the cleanup then: it stops the server and removes its files once the
process that started it is gone.

By default durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
cluster is disposable, and the tests run faster without waiting for the disk.  ``durable=True``
keeps PostgreSQL's defaults (all three on), as a user's server runs: ``pgqrs bench`` measures on
that one unless told otherwise, because commit-bound figures differ by about 2.5x between the two.
``initdb --no-sync`` is used either way: it only skips flushing the files initdb itself writes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from .errors import PgqrsError

if TYPE_CHECKING:
    import pwd

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "find_bindir", "given_or_throwaway"]

BINDIR_ENV = "PGQRS_PG_BINDIR"
# How often the watchdog looks for its parent (seconds).
WATCH_INTERVAL = 0.5

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "log_min_messages": "warning",
}
# What a non-durable server turns off; a durable one leaves PostgreSQL's defaults (all on).
_NON_DURABLE = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class EmbeddedPostgresError(PgqrsError):
    """The local cluster could not be created or started."""


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looked up in ``$PGQRS_PG_BINDIR``, then ``pg_config --bindir``, then Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest first), then ``PATH``.

    Raises:
        EmbeddedPostgresError: no PostgreSQL server binaries were found.
    """
    candidates: list[Path] = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(Path(os.environ[BINDIR_ENV]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates.extend(Path(p) for p in debian)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install them "
        "(Debian: apt-get install postgresql) or set PGQRS_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    """A disposable PostgreSQL server.

    Use as a context manager (or call :meth:`start` and :meth:`stop`)::

        with EmbeddedPostgres() as pg:
            admin = Admin(pg.dsn)

    Args:
        settings: extra ``postgresql.conf`` settings (values are written verbatim; they win
            over the ones ``durable`` chooses).
        durable: keep PostgreSQL's default durability (``fsync``, ``synchronous_commit`` and
            ``full_page_writes`` on) instead of turning it off.
    """

    def __init__(self, settings: Mapping[str, str] | None = None, *, durable: bool = False) -> None:
        self._durable = durable
        self._settings = dict(_SETTINGS, **({} if durable else _NON_DURABLE))
        self._settings.update(settings or {})
        self._base: Path | None = None
        self._port: int | None = None
        self._finalizer: weakref.finalize[..., EmbeddedPostgres] | None = None

    @property
    def durable(self) -> bool:
        """Whether the server keeps PostgreSQL's default durability settings."""
        return self._durable

    @property
    def dsn(self) -> str:
        """libpq connection string (unix socket, user ``postgres``, database ``postgres``)."""
        if self._base is None or self._port is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL is not running")
        return f"host={self._base} port={self._port} user=postgres dbname=postgres"

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 (also names the unix socket)."""
        if self._port is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL is not running")
        return self._port

    def start(self) -> str:
        """Create and start the cluster; returns its DSN."""
        if self._base is not None:
            return self.dsn
        bindir = find_bindir()
        run_as = _server_user()
        base = Path(tempfile.mkdtemp(prefix="pgqrs-pg-"))
        # Registered before anything can fail, so a half-made cluster is still removed.
        watchdogs: list[subprocess.Popen[bytes]] = []
        self._finalizer = weakref.finalize(self, _cleanup, bindir, base, run_as, watchdogs)
        if os.name == "posix":  # Windows never re-parents, which is what the watchdog watches
            watchdogs.append(_start_watchdog(bindir, base))
        if run_as is not None:
            os.chown(base, run_as.pw_uid, run_as.pw_gid)
        data = base / "data"
        wrap = _runner(run_as)
        _run(
            wrap(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            ),
            "initdb",
        )
        port = _free_port()
        settings = dict(self._settings, port=str(port), unix_socket_directories=f"'{base}'")
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# pgqrs embedded cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        log = base / "server.log"
        try:
            _run(
                wrap(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(log),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                ),
                "pg_ctl start",
            )
        except EmbeddedPostgresError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            self._finalizer()
            raise EmbeddedPostgresError(f"{exc}\nserver log:\n{tail}") from None
        self._base, self._port = base, port
        return self.dsn

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self._finalizer is not None:
            self._finalizer()
        self._base = self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def given_or_throwaway(dsn: str | None, *, durable: bool = False) -> Iterator[str]:
    """``dsn`` when one is given; otherwise the DSN of a throwaway cluster that lives as long
    as the ``with`` block (what the tests, the demo and ``pgqrs bench`` run against), durable
    or not as :class:`EmbeddedPostgres` explains."""
    if dsn:
        yield dsn
        return
    with EmbeddedPostgres(durable=durable) as server:
        yield server.dsn


def _server_user() -> pwd.struct_passwd | None:
    # Only POSIX has root and pwd; on Windows the server simply runs as the current user.
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise EmbeddedPostgresError(
            "running as root, and initdb refuses root: create a 'postgres' OS user "
            "(Debian's postgresql package does) or run as another user"
        ) from None


def _runner(user: pwd.struct_passwd | None) -> Callable[[list[str]], list[str]]:
    if user is None:
        return lambda argv: argv
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return lambda argv: [runuser, "-u", user.pw_name, "--", *argv]


def _run(argv: list[str], what: str) -> None:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd="/")
    if done.returncode != 0:
        raise EmbeddedPostgresError(
            f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}"
        )


def _start_watchdog(bindir: Path, base: Path) -> subprocess.Popen[bytes]:
    # Its own session: a Ctrl-C meant for the parent must not take the watchdog down first.
    # PYTHONPATH: this very package, also when it runs from a source tree without an install.
    package_root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pgqrs.embedded import _watch; _watch(*sys.argv[1:])",
            str(os.getpid()),
            str(bindir),
            str(base),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=path),
        start_new_session=True,
    )


def _watch(parent: str, bindir: str, base: str) -> None:
    """The watchdog's body: wait until the process that started the cluster is gone, then
    stop the server and remove its files (unless that process's own cleanup already did)."""
    # Its parent's pid is the starter's until the starter dies and it is re-parented; that
    # test cannot be fooled by a recycled pid, as polling the starter's pid could.
    while os.getppid() == int(parent) and os.path.isdir(base):
        time.sleep(WATCH_INTERVAL)
    if os.path.isdir(base):
        # Same user and environment as the starter, so the same server user.
        _cleanup(Path(bindir), Path(base), _server_user(), [])


def _cleanup(
    bindir: Path,
    base: Path,
    run_as: pwd.struct_passwd | None,
    watchdogs: list[subprocess.Popen[bytes]],
) -> None:
    for watchdog in watchdogs:  # a normal stop: the watchdog has nothing left to do
        watchdog.kill()
        watchdog.wait()
    data = base / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _runner(run_as)(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
            check=False,
            cwd="/",
        )
    shutil.rmtree(base, ignore_errors=True)
