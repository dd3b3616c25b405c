"""Schema and queue management."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from types import EllipsisType, TracebackType
from typing import Any, Self

from ._database import Database, Transaction
from ._impl import core
from ._maintenance import Maintenance
from ._sql import SCHEMA_VERSION, queries_for, script
from ._validate import check_id, check_ids, check_name, check_seconds
from .config import Config, ConfigBuilder, Source, resolve_config
from .errors import (
    MessageNotFoundError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    SchemaError,
    ValidationError,
    WorkerError,
    WorkerNotFoundError,
)
from .health import Health, HorizonHolder, TableHealth
from .retention import ARCHIVE_SLOTS, MaintenanceRun, PruneResult, Retention
from .tables import Archive, Messages, Queues, Workers, find_queue
from .types import (
    QueueInfo,
    QueueMetrics,
    ReclaimedWorkers,
    WorkerHealth,
    WorkerStats,
    WorkerStatus,
)

__all__ = ["Admin", "worker_database"]

#: Objects ``install()`` creates; ``verify()`` checks each of them.
SCHEMA_OBJECTS = (
    "pgqrs_schema_version",
    "pgqrs_queues",
    "pgqrs_workers",
    "pgqrs_workers_identity_idx",
    "pgqrs_workers_process_idx",
    "pgqrs_messages",
    "pgqrs_messages_id_seq",
    "pgqrs_messages_queue_vt_idx",
    "pgqrs_archive",
    *(f"pgqrs_archive_{slot}" for slot in range(ARCHIVE_SLOTS)),
    "pgqrs_archive_queue_archived_idx",
    "pgqrs_archive_dead_letters_idx",
    "pgqrs_retention",
    "pgqrs_maintenance",
    "worker_status",
)


class Admin:
    """Installs the pgqrs schema and manages queues.

    The constructor does no I/O; the first call connects.  Producers and consumers built from
    an ``Admin`` (``Producer(admin, queue, hostname, port)``) share its settings and its
    connections (see :meth:`close`).

    Args:
        dsn: connection string (``None``: ``$PGQRS_DSN``, else libpq's ``PG*`` variables), or
            the settings themselves: a :class:`~pgqrs.Config` (or the
            :class:`~pgqrs.config.ConfigBuilder` of ``Config.from_dsn``) in place of
            ``config``.
        schema: schema for the pgqrs tables (default: ``config.schema``, ``"public"``).
        config: further settings, see :class:`~pgqrs.Config`.

    Raises:
        ValidationError: an argument of the wrong kind, or settings given twice.
    """

    def __init__(
        self,
        dsn: Source = None,
        *,
        schema: str | None = None,
        config: Config | ConfigBuilder | None = None,
    ) -> None:
        self._config = resolve_config(dsn, schema, config)
        self._db = Database(self._config)
        self._sql = queries_for(self._config.schema)

    @property
    def config(self) -> Config:
        return self._config

    async def install(self) -> None:
        """Create the schema, tables, indexes and types, or upgrade an earlier pgqrs schema in
        place to this version; harmless if already installed.

        Runs in one transaction under an advisory lock, so concurrent installs are safe and an
        upgrade that fails leaves the database as it was.  An upgrade keeps every queue,
        message, lease, worker and archive row.

        Raises:
            SchemaError: the database holds a newer pgqrs schema than this library knows.
        """
        schema = self._config.schema
        async with self._db.transaction() as tx:
            await tx.execute(self._sql.install_lock)
            found = await self._installed_version(tx)
            if found is not None and found > SCHEMA_VERSION:
                raise SchemaError(
                    f"schema {schema!r} holds pgqrs schema version {found}; this "
                    f"pgqrs knows version {SCHEMA_VERSION}: upgrade pgqrs"
                )
            if found is not None:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    await tx.execute(script(f"migrate_v{version}.sql", schema))
            # Idempotent: creates everything on a fresh database, changes nothing on a current one.
            await tx.execute(script("schema.sql", schema))

    def install_sql(self) -> str:
        """The SQL that :meth:`install` runs on a database without pgqrs, for this schema: for
        a DBA who applies it by hand (in one transaction, ``psql -1``).  No I/O.

        It creates the current schema version; upgrading a database that holds an older one
        takes :meth:`install`, which applies the migrations first.
        """
        return script("schema.sql", self._config.schema).sql.decode()

    async def verify(self) -> None:
        """Check that the schema version is the one this pgqrs expects and every pgqrs object
        exists.

        Raises:
            SchemaError: naming the version found and the version expected (and what to do),
                or what is missing.
        """
        schema = self._config.schema
        async with self._db.transaction() as tx:
            found = await self._installed_version(tx)
        if found is not None and found != SCHEMA_VERSION:
            older = found < SCHEMA_VERSION
            advice = "run Admin.install() to upgrade it in place" if older else "upgrade pgqrs"
            raise SchemaError(
                f"pgqrs schema in {schema!r} is version {found}, expected {SCHEMA_VERSION}: "
                f"{advice}"
            )
        rows = await self._db.rows(
            self._sql.installed_objects, {"schema": schema, "names": list(SCHEMA_OBJECTS)}
        )
        missing = sorted(set(SCHEMA_OBJECTS) - {row.name for row in rows})
        if missing:
            raise SchemaError(
                f"pgqrs schema in {schema!r} is incomplete; missing: {', '.join(missing)}. "
                "Run Admin.install()."
            )

    async def uninstall(self) -> None:
        """Drop every pgqrs table and type, with all queues and messages.  The schema itself
        is kept (it may hold other objects)."""
        async with self._db.transaction() as tx:
            await tx.execute(self._sql.install_lock)
            await tx.execute(script("uninstall.sql", self._config.schema))

    async def _installed_version(self, tx: Transaction) -> int | None:
        """The schema version recorded in the database (``None``: not installed)."""
        (table,) = await tx.rows(self._sql.has_version_table, {"schema": self._config.schema})
        if not table.exists:
            return None
        (row,) = await tx.rows(self._sql.schema_version)
        return None if row.version is None else core.decode_int8(row.version)

    async def create_queue(self, name: str, *, keep_archive: bool = True) -> QueueInfo:
        """Create a queue.

        Args:
            name: the queue's name.
            keep_archive: ``False`` for a queue that needs no archive: ``Consumer.archive``
                then deletes the message (as ``delete`` does) and still returns ``True``.
                Dead letters are kept either way.

        Raises:
            QueueAlreadyExistsError: a queue of that name exists ("Queue 'x' already exists").
            ValidationError: the name is empty or not a string, or ``keep_archive`` not a bool.
        """
        name = check_name("queue name", name)
        row = await self._db.one(
            self._sql.create_queue,
            {"queue_name": name, "keep_archive": _flag("keep_archive", keep_archive)},
            missing=lambda: QueueAlreadyExistsError(name),
            queue=name,
        )
        return QueueInfo.from_row(row)

    async def set_keep_archive(self, name: str, keep_archive: bool) -> QueueInfo:
        """Whether the queue keeps an archive from now on (see :meth:`create_queue`); what its
        archive holds already stays until retention prunes it.

        Raises:
            QueueNotFoundError: no such queue.
            ValidationError: ``keep_archive`` is not a bool.
        """
        name = check_name("queue name", name)
        row = await self._db.one(
            self._sql.set_keep_archive,
            {"queue_name": name, "keep_archive": _flag("keep_archive", keep_archive)},
            missing=lambda: QueueNotFoundError(name),
            queue=name,
        )
        return QueueInfo.from_row(row)

    async def get_queue(self, name: str) -> QueueInfo:
        """The queue of this name.

        Raises:
            QueueNotFoundError: no such queue.
        """
        return await find_queue(self._db, self._sql, name)

    async def delete_queue(self, name: str) -> None:
        """Delete a queue with all its messages and archive.  Its workers stay, detached.

        Raises:
            QueueNotFoundError: no such queue.
        """
        name = check_name("queue name", name)
        async with self._db.transaction(queue=name) as tx:
            row = await tx.one(
                self._sql.delete_queue,
                {"queue_name": name},
                missing=lambda: QueueNotFoundError(name),
            )
            await tx.execute(self._sql.lock_messages)
            queue = {"queue_id": core.decode_int8(row.id)}
            await tx.execute(self._sql.delete_queue_messages, queue)
            await tx.execute(self._sql.delete_queue_archive, queue)

    async def purge_queue(self, name: str) -> int:
        """Delete every message of a queue (pending, leased and delayed); the archive stays.

        Returns:
            The number of messages deleted.

        Raises:
            QueueNotFoundError: no such queue.
        """
        name = check_name("queue name", name)
        row = await self._db.one(
            self._sql.purge_queue,
            {"queue_name": name},
            missing=lambda: QueueNotFoundError(name),
            queue=name,
        )
        return core.decode_int8(row.total)

    async def queue_metrics(self, name: str) -> QueueMetrics:
        """Counts and ages for one queue (see :class:`~pgqrs.QueueMetrics`).

        Raises:
            QueueNotFoundError: no such queue.
        """
        name = check_name("queue name", name)
        row = await self._db.one(
            self._sql.queue_metrics,
            {"queue_name": name},
            missing=lambda: QueueNotFoundError(name),
            queue=name,
        )
        return QueueMetrics.from_row(row)

    async def all_queues_metrics(self) -> list[QueueMetrics]:
        """:meth:`queue_metrics` for every queue, ordered by queue id."""
        rows = await self._db.rows(self._sql.queue_metrics, {"queue_name": None})
        return [QueueMetrics.from_row(row) for row in rows]

    async def _queue_id(self, queue: str | None) -> int | None:
        if queue is None:
            return None
        return (await find_queue(self._db, self._sql, queue)).id

    # ----------------------------------------------------------------------------------------
    # Workers

    async def worker_health(self, queue: str | None = None) -> list[WorkerHealth]:
        """Every worker (of one queue, or all) with its heartbeat age, whether it is stale
        (not stopped, no heartbeat within ``Config.stale_after``) and how many messages it
        holds leased.  Ordered by worker id.

        Raises:
            QueueNotFoundError: ``queue`` does not exist.
        """
        rows = await self._db.rows(
            self._sql.worker_health,
            {"queue_id": await self._queue_id(queue), "stale_after": self._config.stale_seconds},
        )
        return [WorkerHealth.from_row(row) for row in rows]

    async def worker_stats(self, queue: str | None = None) -> WorkerStats:
        """Worker counts per status, and how many are stale, for one queue or all workers.

        Raises:
            QueueNotFoundError: ``queue`` does not exist.
        """
        (row,) = await self._db.rows(
            self._sql.worker_stats,
            {"queue_id": await self._queue_id(queue), "stale_after": self._config.stale_seconds},
        )
        return WorkerStats.from_row(row)

    async def release_worker_messages(self, worker_id: int) -> int:
        """Make the messages a (dead) worker holds leased visible again now, without waiting
        for the leases to lapse.  Their ``read_ct`` is kept.

        Returns:
            The number of messages released.

        Raises:
            WorkerNotFoundError: no such worker.
        """
        worker_id = check_id("worker_id", worker_id)
        row = await self._db.one(
            self._sql.release_worker_messages,
            {"worker_id": worker_id},
            missing=lambda: WorkerNotFoundError(worker_id),
        )
        return core.decode_int8(row.total)

    async def reclaim_stale_workers(
        self, queue: str, *, older_than_seconds: float | None = None
    ) -> ReclaimedWorkers:
        """Mark every stale worker of a queue stopped and release its leased messages, in one
        statement.  A reclaimed worker that turns out to be alive notices at its next heartbeat and
        registers again (its acknowledgements of released messages may fail: at-least-once).

        Args:
            queue: the queue's name.
            older_than_seconds: a worker is stale when its last heartbeat is older than this
                (``None``: ``Config.stale_after``, by default three heartbeat intervals).

        Raises:
            QueueNotFoundError: no such queue.
            ValidationError: a negative age.
        """
        name = check_name("queue name", queue)
        stale_after = (
            self._config.stale_seconds
            if older_than_seconds is None
            else check_seconds("older_than_seconds", older_than_seconds)
        )
        row = await self._db.one(
            self._sql.reclaim_stale_workers,
            {"queue_name": name, "stale_after": stale_after},
            missing=lambda: QueueNotFoundError(name),
            queue=name,
        )
        return ReclaimedWorkers(
            core.decode_int8_array(row.worker_ids), core.decode_int8(row.released)
        )

    async def reclaim_messages(
        self, queue_name: str, older_than_seconds: float | None = None
    ) -> int:
        """Compatibility name (the original pgqrs) for :meth:`reclaim_stale_workers`: the same
        call, returning only how many messages it made visible again.

        ``older_than_seconds=None`` means ``Config.stale_after`` (the original used one
        heartbeat interval).
        """
        reclaimed = await self.reclaim_stale_workers(
            queue_name, older_than_seconds=older_than_seconds
        )
        return reclaimed.released_messages

    async def purge_stopped_workers(self, older_than_seconds: float) -> int:
        """Delete the rows of workers stopped more than ``older_than_seconds`` ago.

        Returns:
            The number of worker rows deleted.

        Raises:
            ValidationError: a negative age.
        """
        older = check_seconds("older_than_seconds", older_than_seconds)
        (row,) = await self._db.rows(self._sql.purge_stopped_workers, {"older_than": older})
        return core.decode_int8(row.total)

    async def delete_worker(self, worker_id: int) -> None:
        """Delete a worker's row.  Refused while the worker is live (ready or suspended, with a
        heartbeat within ``Config.stale_after``) or holds valid leases: stop it first (its
        ``close()``, or :meth:`reclaim_stale_workers` once it is stale) and let its leases lapse
        or release them (:meth:`release_worker_messages`).  Messages and archive rows keep the
        worker's id in ``producer_worker_id``/``consumer_worker_id``.

        The check and the delete are one statement on the locked row, so a worker cannot
        register again in between.

        Raises:
            WorkerNotFoundError: no such worker.
            WorkerError: the worker is live or holds leases (the text says which).
        """
        worker_id = check_id("worker_id", worker_id)
        row = await self._db.one(
            self._sql.delete_worker,
            {"worker_id": worker_id, "stale_after": self._config.stale_seconds},
            missing=lambda: WorkerNotFoundError(worker_id),
        )
        if row.deleted:
            return
        if row.live:
            raise WorkerError(
                f"Worker {worker_id} is live (status {row.status}, last heartbeat "
                f"{row.heartbeat_age:.1f} s ago): stop it first; it is stale after "
                f"{self._config.stale_seconds:g} s without a heartbeat"
            )
        leased = core.decode_int8(row.leased_messages)
        raise WorkerError(
            f"Worker {worker_id} holds {leased} leased message(s): release them "
            "(Admin.release_worker_messages) or wait until the leases lapse"
        )

    async def suspend_worker(self, worker_id: int) -> None:
        """Suspend a worker remotely; it notices at its next heartbeat (a consumer then stops
        dequeuing until resumed).

        Raises:
            WorkerNotFoundError: no such worker.
            WorkerError: the worker is stopped.
        """
        await self._set_worker_status(worker_id, WorkerStatus.SUSPENDED)

    async def resume_worker(self, worker_id: int) -> None:
        """Resume a suspended worker remotely (noticed at its next heartbeat).

        Raises:
            WorkerNotFoundError: no such worker.
            WorkerError: the worker is stopped.
        """
        await self._set_worker_status(worker_id, WorkerStatus.READY)

    async def _set_worker_status(self, worker_id: int, status: WorkerStatus) -> None:
        worker_id = check_id("worker_id", worker_id)
        row = await self._db.one(
            self._sql.admin_set_worker_status,
            {"worker_id": worker_id, "status": status.value},
            missing=lambda: WorkerNotFoundError(worker_id),
        )
        if not row.changed:
            raise WorkerError(f"Worker {worker_id} is stopped")

    # ----------------------------------------------------------------------------------------
    # Retention, maintenance, health

    @property
    def _maintenance(self) -> Maintenance:
        return Maintenance(self._db, self._sql)

    async def retention(self) -> Retention:
        """How long the archive keeps acknowledged messages and dead letters, and where its
        rotation stands."""
        return await self._maintenance.retention()

    async def set_retention(
        self,
        *,
        archive: float | timedelta | EllipsisType | None = ...,
        dead_letters: float | timedelta | EllipsisType | None = ...,
    ) -> Retention:
        """Set how long the archive keeps what it holds; a window left out stays as it is.

        The maintenance step (run by producers and consumers, or :meth:`prune`) prunes the
        archive in ``ARCHIVE_SLOTS - 1`` (7) steps per window, so an acknowledged message is
        kept between ``archive`` and 8/7 of it.  A shorter window takes effect over the next
        rotations; nothing is deleted at once.

        Args:
            archive: seconds (or a ``timedelta``) to keep acknowledged messages; ``None``:
                for ever.  Fresh installs keep them 1 day.
            dead_letters: the same for dead letters (fresh installs: 14 days); longer than
                ``archive`` is usual and costs one copy of each dead letter per rotation.

        Raises:
            ValidationError: a window that is not a positive number of seconds up to 100
                years (or ``None``).
        """
        params: dict[str, Any] = {"set_archive": archive is not ..., "set_dead": False}
        params["archive"] = _window("archive", archive)
        params["set_dead"] = dead_letters is not ...
        params["dead"] = _window("dead_letters", dead_letters)
        (row,) = await self._db.rows(self._sql.set_retention, params)
        return Retention.from_row(row)

    async def prune(self) -> PruneResult:
        """Run the retention step now (cron users; producers and consumers also run it in the
        background, see ``Config.maintenance``): if the archive's period is due, truncate its
        oldest slot, keeping the dead letters still within their window; delete dead letters
        past their window when they are kept for less time than the archive.

        It never blocks enqueue, dequeue or acknowledgements, which do not touch the slot it
        truncates; a reader of that slot makes it give up after half a second
        (``PruneResult.blocked``), to try again at the next run.

        Raises:
            ConfigurationError: the role may not truncate the archive's slots (run it as the
                owner of the schema).
        """
        return await self._maintenance.prune()

    async def maintain(self) -> MaintenanceRun:
        """Run the whole maintenance step now, unless another process is running it: the
        retention step (:meth:`prune`) and, once a held vacuum horizon that bloated the live
        table's indexes is gone, their rebuild (``REINDEX CONCURRENTLY``).  Steps the role may
        not run are skipped with a warning (docs/operations.md).

        Returns:
            What it did (``ran`` is ``False`` when another process was running it).
        """
        return await self._maintenance.run(every=None)

    async def rebuild_indexes(self) -> None:
        """Rebuild the live table's indexes with ``REINDEX TABLE CONCURRENTLY`` (writes go on
        meanwhile).  The maintenance step does this by itself after a held vacuum horizon;
        this is for the operator who saw the bloat first.

        Raises:
            ConfigurationError: the role does not own the table.
        """
        await self._maintenance.rebuild_indexes()

    async def health(self) -> Health:
        """What predicts trouble for a long-running queue, in one snapshot: size, dead tuples
        and vacuum history of each pgqrs table, what holds back vacuum in the cluster (other
        roles' sessions show only to members of ``pg_read_all_stats``), the retention, and
        the warnings they add up to (docs/operations.md, "When health warns")."""
        schema = self._config.schema
        async with self._db.transaction() as tx:
            tables = await tx.rows(self._sql.table_health, {"schema": schema})
            horizon = await tx.rows(self._sql.vacuum_horizon, {"limit": 10})
            (retention,) = await tx.rows(self._sql.get_retention)
        return Health.build(
            core.decode_timestamptz(retention.now),
            [TableHealth.from_row(row) for row in tables],
            [HorizonHolder.from_row(row) for row in horizon],
            Retention.from_row(retention),
        )

    # ----------------------------------------------------------------------------------------
    # Dead letters

    async def replay(self, ids: Sequence[int]) -> list[int]:
        """Put dead-lettered messages back on their queues as fresh messages: new ids,
        ``read_ct`` 0, visible now; their archive rows are removed.  All or nothing.

        Args:
            ids: archive ids (``ArchivedMessage.id``) of dead letters.

        Returns:
            The new message ids, in the order of ``ids``.

        Raises:
            MessageNotFoundError: an id is not a dead letter in the archive; nothing is
                replayed.
        """
        wanted = check_ids(ids, "ids")
        if not wanted:
            return []
        async with self._db.transaction() as tx:
            rows = await tx.rows(self._sql.replay_dead_letters, {"ids": wanted})
            new_ids = {
                core.decode_int8(row.archive_id): core.decode_int8(row.new_id) for row in rows
            }
            for archive_id in wanted:
                if archive_id not in new_ids:
                    # Raising inside the transaction rolls the replay back.
                    raise MessageNotFoundError(archive_id, table="dead letters")
        return [new_ids[archive_id] for archive_id in wanted]

    async def replay_queue(self, queue: str) -> int:
        """:meth:`replay` every dead letter of one queue, in one statement.

        Returns:
            The number of messages put back on the queue.

        Raises:
            QueueNotFoundError: no such queue.
        """
        queue_id = await self._queue_id(check_name("queue name", queue))
        (row,) = await self._db.rows(
            self._sql.replay_queue_dead_letters, {"queue_id": queue_id}, queue=queue
        )
        return core.decode_int8(row.total)

    # The getters do no I/O.  The original pgqrs's were coroutines: the tables are awaitable
    # (to themselves), so ``await admin.get_queues()`` works too.

    def get_queues(self) -> Queues:
        """The queues table (also ``await admin.get_queues()``)."""
        return Queues(self._db, self._sql)

    def get_workers(self) -> Workers:
        """The workers table (also ``await admin.get_workers()``)."""
        return Workers(self._db, self._sql)

    def get_messages(self) -> Messages:
        """The messages table (also ``await admin.get_messages()``)."""
        return Messages(self._db, self._sql)

    def get_archive(self) -> Archive:
        """The archive table (also ``await admin.get_archive()``)."""
        return Archive(self._db, self._sql)

    async def close(self) -> None:
        """Close the connections (the object may be used again afterwards).

        Producers and consumers built from this ``Admin`` share its connections.  One that made
        a call and is not closed yet keeps them open; the last of these to close closes them.
        Closing a worker never breaks the ``Admin`` or the other workers, nor does closing the
        ``Admin`` break them.
        """
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
        return f"Admin(schema={self._config.schema!r})"


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, not {value!r}")
    return value


def _window(name: str, value: object) -> float | None:
    """A retention window in seconds (``None``: for ever; ``...``: unchanged, sent as NULL)."""
    if value is None or value is ...:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return check_seconds(name, value, positive=True)


def worker_database(
    source: Source | Admin, schema: str | None, config: Config | ConfigBuilder | None
) -> tuple[Config, Database]:
    """The settings and database of a producer or consumer constructed with ``source``: an
    ``Admin``'s own (its connections shared, see :meth:`Admin.close`), or new ones.

    Raises:
        ValidationError: an ``Admin`` together with ``schema`` or ``config``, or arguments of
            the wrong kind.
    """
    if isinstance(source, Admin):
        if schema is not None or config is not None:
            raise ValidationError(
                "a Producer or Consumer built from an Admin takes its schema and config from "
                "it: give them to the Admin"
            )
        return source.config, source._db.shared()
    settings = resolve_config(source, schema, config)
    return settings, Database(settings)
