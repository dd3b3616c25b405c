"""What producers and consumers share: construction without I/O, registration as a worker
``(hostname, port)`` on first use, automatic heartbeats, suspend/resume, and closing (which
marks the worker stopped).

Identity rules (docs/contract.md, Semantics): registering an identity whose row exists takes it
over when the row is stopped, when its heartbeat is stale (``Config.stale_after``), or when its
owner runs on this machine and is either this very process (an object abandoned by an earlier
``asyncio.run``) or a process that no longer exists.  Otherwise a live process owns it and
registration raises :class:`~pgqrs.WorkerError`.  The check and the takeover run in one
transaction on the locked row, so of two processes racing for one identity only one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import sys
import weakref
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from ._database import Transaction
from ._impl import core
from ._listen import channel_name
from ._maintenance import Maintenance
from ._rows import RegisteredRow
from ._sql import Statement, queries_for
from ._validate import check_name, check_port
from .admin import Admin, worker_database
from .config import Config, ConfigBuilder, Source
from .errors import QueueNotFoundError, WorkerError
from .types import WorkerStatus

__all__ = ["Worker"]

log = logging.getLogger("pgqrs")

#: Recorded as ``process_host``: a takeover by PID check is only meaningful on the same machine.
PROCESS_HOST = socket.gethostname()

#: Every producer and consumer object of this process that still exists.  A row of this process
#: that none of them holds belongs to an object that is gone (dropped with an old event loop),
#: and a shared identity may reuse it.
_LIVE_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


def _held_here(config: Config) -> set[int]:
    """Worker rows of this database and schema held by live objects of this process."""
    where = (config.resolved_dsn(), config.schema)
    return {
        w._worker_id
        for w in _LIVE_WORKERS
        if w._worker_id is not None and (w._config.resolved_dsn(), w._config.schema) == where
    }


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if sys.platform == "win32":  # os.kill would terminate it there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by another user
        return True
    return True


class Worker:
    """Base of :class:`~pgqrs.Producer` and :class:`~pgqrs.Consumer`."""

    #: Recorded in the worker row: ``"producer"`` or ``"consumer"``.
    kind: ClassVar[str]

    def __init__(
        self,
        dsn: Source | Admin,
        queue: str,
        hostname: str,
        port: int,
        *,
        schema: str | None = None,
        config: Config | ConfigBuilder | None = None,
    ) -> None:
        self._queue_name = check_name("queue", queue)
        self._hostname = check_name("hostname", hostname)
        self._port = check_port(port)
        self._config, self._db = worker_database(dsn, schema, config)
        self._sql = queries_for(self._config.schema)
        self._worker_id: int | None = None
        self._queue_id: int | None = None
        # Identifies this registration of the row (see take_over_worker in sql/queries.sql).
        self._started_at: datetime | None = None
        self._status = WorkerStatus.READY
        self._channel: str | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._heartbeat_loop: asyncio.AbstractEventLoop | None = None
        self._maintenance_task: asyncio.Task[None] | None = None
        _LIVE_WORKERS.add(self)

    @property
    def queue_name(self) -> str:
        """Name of the queue this worker uses."""
        return self._queue_name

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def port(self) -> int:
        return self._port

    @property
    def config(self) -> Config:
        return self._config

    @property
    def worker_id(self) -> int | None:
        """This worker's row id, once the first call has registered it (else ``None``)."""
        return self._worker_id

    def _identity(self) -> str:
        return f"({self._hostname!r}, {self._port})"

    async def _ready(self) -> None:
        """What every call of this worker does before its statements: keep the heartbeat on
        the running loop (the one the connection pool uses), and register on first use."""
        if self._heartbeat_loop is not asyncio.get_running_loop():
            self._ensure_heartbeat()
        if self._worker_id is None:
            await self._register()

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` plus what identifies this worker's registration: ``queue_id``,
        ``worker_id``, ``started_at``, and the NOTIFY ``channel``.  Statements take the ones
        they name."""
        params["queue_id"] = self._queue_id
        params["worker_id"] = self._worker_id
        params["started_at"] = self._started_at
        params["channel"] = self._channel
        return params

    async def _run(
        self, statement: Statement[Any], params: dict[str, Any], *, on: Transaction | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement as this worker (see :meth:`_ready` and :meth:`_params`), in
        autocommit or in the transaction ``on``."""
        await self._ready()
        session = self._db if on is None else on
        return await session.fetch(statement, self._params(params), queue=self._queue_name)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        """A transaction as this worker (see :meth:`_ready`); statements in it take their
        parameters through :meth:`_params`."""
        await self._ready()
        async with self._db.transaction(queue=self._queue_name) as tx:
            yield tx

    @property
    def _shared_identity(self) -> bool:
        """Producers hold no leases, so their identity may serve several live processes; a
        consumer's is its own, except on port 0 ("any free identity", as with sockets)."""
        return self.kind == "producer" or self._port == 0

    async def _register(self) -> None:
        """Register the identity, or take its row over if the rules above allow it.

        Raises:
            QueueNotFoundError: the queue does not exist.
            WorkerError: a live process owns the identity.
        """
        params: dict[str, Any] = {
            "hostname": self._hostname,
            "port": self._port,
            "kind": self.kind,
            "queue_name": self._queue_name,
            "process_host": PROCESS_HOST,
            "process_id": os.getpid(),
            "stale_after": self._config.stale_seconds,
            # Producers of one process share their row; each port-0 consumer has its own.
            "join": self.kind == "producer",
        }
        if self._shared_identity:
            params["dead"] = await self._gone_owners(params)
            row = await self._db.one(
                self._sql.register_shared,
                params,
                missing=lambda: QueueNotFoundError(self._queue_name),
                queue=self._queue_name,
            )
        else:
            async with self._db.transaction(queue=self._queue_name) as tx:
                registered = await tx.rows(self._sql.register_worker, params)
                row = registered[0] if registered else await self._take_over(tx, params)
        self._worker_id = core.decode_int8(row.id)
        self._queue_id = core.decode_int8(row.queue_id)
        self._started_at = core.decode_timestamptz(row.started_at)
        self._status = WorkerStatus.READY
        self._channel = (
            channel_name(self._config.schema, self._queue_id) if self._config.notify else None
        )

    async def _gone_owners(self, params: dict[str, Any]) -> list[int]:
        """Live-looking rows of this shared identity on this host whose owner is gone: a
        process that no longer exists, or an object of this process that no longer does."""
        held, pid = _held_here(self._config), os.getpid()
        gone = []
        for owner in await self._db.rows(self._sql.shared_identity_owners, params):
            row_id = core.decode_int8(owner.id)
            owner_pid = None if owner.process_id is None else core.decode_int8(owner.process_id)
            if owner_pid is None:
                continue
            if (owner_pid == pid and row_id not in held) or (
                owner_pid != pid and not _pid_alive(owner_pid)
            ):
                gone.append(row_id)
        return gone

    async def _take_over(self, tx: Transaction, params: dict[str, Any]) -> RegisteredRow:
        """The identity's row exists (or the queue does not): take it over if allowed."""
        found = await tx.one(
            self._sql.lock_worker, params, missing=lambda: QueueNotFoundError(self._queue_name)
        )
        if found.queue_id is None:
            raise QueueNotFoundError(self._queue_name)
        pid = None if found.process_id is None else core.decode_int8(found.process_id)
        if not self._may_take_over(found.status, found.stale, found.process_host, pid):
            raise WorkerError(
                f"Worker {self._identity()} is in use by process {pid} on host "
                f"{found.process_host!r} (last heartbeat {found.heartbeat_age:.1f} s ago, "
                f"status {found.status}); close it, or wait until its heartbeat is stale "
                f"({self._config.stale_seconds:g} s)"
            )
        params |= {
            "worker_id": core.decode_int8(found.id),
            "queue_id": core.decode_int8(found.queue_id),
        }
        # The row is locked by this transaction: the update finds it.
        (row,) = await tx.rows(self._sql.take_over_worker, params)
        return row

    @staticmethod
    def _may_take_over(status: str, stale: bool, host: str | None, pid: int | None) -> bool:
        if status == WorkerStatus.STOPPED or stale:
            return True
        if host != PROCESS_HOST or pid is None:
            return False
        # This process: an object abandoned with its event loop.  Another: only if it is gone.
        return pid == os.getpid() or not _pid_alive(pid)

    def _forget_registration(self) -> None:
        """The row is no longer ours (stopped by an operator, or taken over): the next call
        registers again."""
        self._worker_id = None
        self._started_at = None

    def _queue_gone(self) -> QueueNotFoundError:
        """The queue was deleted while in use: resolve it again on the next call."""
        self._worker_id = None
        return QueueNotFoundError(self._queue_name)

    # ----------------------------------------------------------------------------------------
    # Heartbeats

    def _ensure_heartbeat(self) -> None:
        """Run the heartbeat task on the running loop (the one the connection pool uses)."""
        loop = asyncio.get_running_loop()
        task = self._heartbeat_task
        if task is not None and not task.done():
            if self._heartbeat_loop is loop:
                return
            old = self._heartbeat_loop
            if old is not None and old.is_running() and not old.is_closed():
                old.call_soon_threadsafe(task.cancel)
        self._heartbeat_loop = loop
        self._heartbeat_task = loop.create_task(
            _heartbeat_forever(weakref.ref(self), self._config.heartbeat_interval),
            name=f"pgqrs-heartbeat-{self._hostname}:{self._port}",
        )

    @functools.cached_property
    def _maintenance(self) -> Maintenance:
        return Maintenance(self._db, self._sql)

    def _maintain_soon(self) -> None:
        """After a heartbeat: run the maintenance step in the background (it decides whether
        this process's turn has come), unless this worker's last run is still going, the
        config turned it off, or the role may run none of it."""
        if not self._config.maintenance or self._worker_id is None:
            return
        if self._maintenance_task is not None and not self._maintenance_task.done():
            return
        if {"prune", "rebuild"} <= self._maintenance.refused:
            return
        self._maintenance_task = asyncio.get_running_loop().create_task(
            _maintain(self._maintenance, self._config.heartbeat_interval),
            name=f"pgqrs-maintenance-{self._hostname}:{self._port}",
        )

    async def _stop_heartbeat(self) -> None:
        maintaining, self._maintenance_task = self._maintenance_task, None
        if maintaining is not None and not maintaining.done():
            # On its way out the run gives its election back (before the connections close).
            if self._heartbeat_loop is asyncio.get_running_loop():
                maintaining.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await maintaining
            elif self._heartbeat_loop is not None and self._heartbeat_loop.is_running():
                self._heartbeat_loop.call_soon_threadsafe(maintaining.cancel)
        task, loop = self._heartbeat_task, self._heartbeat_loop
        self._heartbeat_task = self._heartbeat_loop = None
        if task is None or task.done():
            return
        if loop is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        elif loop is not None and loop.is_running() and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    async def _beat(self) -> WorkerStatus | None:
        """One heartbeat: record liveness, read the status back.

        Returns:
            The status, or ``None`` when the row is no longer this registration's (taken over
            by another process, or purged); then the registration is forgotten.
        """
        if self._worker_id is None:
            return None
        rows = await self._db.rows(
            self._sql.heartbeat, {"worker_id": self._worker_id, "started_at": self._started_at}
        )
        if not rows:
            log.warning("pgqrs: worker %s lost its identity to another owner", self._identity())
            self._forget_registration()
            return None
        status = WorkerStatus(rows[0].status)
        if status is WorkerStatus.STOPPED:
            # Reclaimed by an operator while we were unresponsive: register again next call.
            self._forget_registration()
        self._status = status
        return status

    async def heartbeat(self) -> WorkerStatus:
        """Record a heartbeat now (one also runs every ``Config.heartbeat_interval`` seconds in
        the background while the worker is open) and return the worker's status.

        Returns:
            The status stored in the worker row, which an operator may have changed
            (``Admin.suspend_worker``).

        Raises:
            WorkerError: another process took the identity over.
            QueueNotFoundError: the queue does not exist.
        """
        await self._ready()
        status = await self._beat()
        if status is None:
            raise WorkerError(f"Worker {self._identity()} was taken over by another process")
        return status

    async def status(self) -> WorkerStatus:
        """The worker's current status as stored in the database (this also counts as a
        heartbeat).

        Raises:
            WorkerError: another process took the identity over.
        """
        return await self.heartbeat()

    async def suspend(self) -> None:
        """Mark the worker suspended: a suspended consumer's ``dequeue`` calls raise
        :class:`~pgqrs.WorkerError` and its consume loop waits until :meth:`resume`.

        Raises:
            WorkerError: another process took the identity over.
        """
        await self._set_status(WorkerStatus.SUSPENDED)

    async def resume(self) -> None:
        """Mark the worker ready again after :meth:`suspend`.

        Raises:
            WorkerError: another process took the identity over.
        """
        await self._set_status(WorkerStatus.READY)

    async def _set_status(self, status: WorkerStatus) -> None:
        for _ in range(2):
            rows = self._sql.set_worker_status.read(
                await self._run(self._sql.set_worker_status, {"status": status.value})
            )
            if rows and rows[0].status != WorkerStatus.STOPPED:
                self._status = WorkerStatus(rows[0].status)
                return
            self._forget_registration()  # stopped by an operator: register again, once
        raise WorkerError(f"Worker {self._identity()} was taken over by another process")

    # ----------------------------------------------------------------------------------------
    # Closing

    async def _leases_held(self) -> int:
        """Messages this worker holds with a valid lease (consumers override)."""
        return 0

    async def _release_all(self) -> int:
        """Make every message this worker leases visible now (consumers override)."""
        return 0

    async def shutdown(self, *, release: bool = False) -> None:
        """Stop the worker for good: mark it stopped and close its connections.

        A consumer that still holds valid leases refuses, unless ``release=True`` makes those
        messages visible to other consumers first.  (:meth:`close` does not check: it leaves
        the leases to lapse.)

        Args:
            release: release this consumer's leased messages instead of refusing.

        Raises:
            WorkerError: the consumer holds leased messages and ``release`` is false.
        """
        if self._worker_id is not None:
            if release:
                await self._release_all()
            else:
                held = await self._leases_held()
                if held:
                    raise WorkerError(
                        f"Worker {self._identity()} still holds {held} leased message(s): "
                        "archive, delete or release them, or call shutdown(release=True)"
                    )
        await self.close()

    async def close(self) -> None:
        """Mark the worker stopped and close its connections.  Leased messages are not
        touched: their leases lapse.  The object may be used again afterwards: the next call
        reconnects and registers it anew."""
        try:
            await self._stop_heartbeat()
            if self._worker_id is not None:
                await self._db.fetch(
                    self._sql.stop_worker,
                    {"worker_id": self._worker_id, "started_at": self._started_at},
                )
        finally:
            self._forget_registration()
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(queue={self._queue_name!r}, hostname={self._hostname!r}, "
            f"port={self._port}, schema={self._config.schema!r})"
        )


async def _maintain(maintenance: Maintenance, every: float) -> None:
    """One background maintenance run; a failure is logged and the next heartbeat retries."""
    try:
        await maintenance.run(every=every)
    except Exception as exc:
        log.info("pgqrs: maintenance run failed, retried after the next heartbeat: %s", exc)


async def _heartbeat_forever(ref: weakref.ref[Worker], interval: float) -> None:
    """Heartbeat every ``interval`` seconds while the worker exists.  Holds only a weak
    reference, so a dropped worker is not kept alive by its own heartbeat; errors are logged
    and retried at the next beat (a database restart must not end the heartbeats)."""
    while True:
        await asyncio.sleep(interval)
        worker = ref()
        if worker is None:
            return
        try:
            await worker._beat()
        except Exception as exc:
            log.warning("pgqrs: heartbeat of %r failed: %s", worker, exc)
        else:
            worker._maintain_soon()
        del worker
