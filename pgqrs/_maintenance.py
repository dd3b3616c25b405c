"""The maintenance step that keeps a pgqrs schema bounded for months, without an operator.

Producers and consumers run it in the background after a heartbeat (``Config.maintenance``);
the ``pgqrs_maintenance`` row elects one runner at a time and spaces runs by the heartbeat
interval, so a hundred workers cost one run per interval.  ``Admin.prune()`` and
``Admin.maintain()`` run it at once, for cron.  A run does two things:

- **Retention** (:meth:`Maintenance.prune`): when the archive's period is due, truncate its
  oldest slot (after moving the dead letters still within their own window to the current
  slot) and make it current; delete dead letters past their window when they are kept for less
  time than the archive.  The rotation locks the retention row with ``SKIP LOCKED`` and gives
  up on a lock timeout (a reader of the archive holds the slot), so it never makes enqueue,
  dequeue or an acknowledgement wait: those never touch the slot it truncates.
- **Index rebuild** (:meth:`Maintenance.watch_indexes`): a held vacuum horizon bloats the live
  table's indexes, and a B-tree never shrinks by itself.  The step remembers their size in
  steady state; once a horizon held for ``HOLD_SECONDS`` is gone and vacuum has run since, it
  rebuilds them with ``REINDEX CONCURRENTLY`` (no lock that blocks writes) if they are still
  more than ``REBUILD_FACTOR`` times that size.

A role without the privileges a step needs (``TRUNCATE`` on the archive's slots, the table's
ownership for ``REINDEX``) gets a warning once, and the step is left to a role that has them
(docs/operations.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._database import Database
from ._impl import core
from ._rows import MaintenanceRow
from ._sql import Queries, Statement, on_object
from ._translate import lock_not_available
from .errors import ConfigurationError, PgqrsError
from .health import HorizonHolder
from .retention import ARCHIVE_SLOTS, MaintenanceRun, PruneResult, Retention

__all__ = [
    "DEAD_LETTER_BATCH",
    "HOLD_SECONDS",
    "LEASE_SECONDS",
    "REBUILD_FACTOR",
    "REBUILD_MIN_BYTES",
    "Maintenance",
]

log = logging.getLogger("pgqrs")

#: A horizon held this long (seconds) counts as an event that may bloat the live table.
HOLD_SECONDS = 60.0
#: Rebuild when the live table's indexes are more than this many times their steady size ...
REBUILD_FACTOR = 1.5
#: ... and larger than this (small indexes are not worth a rebuild).
REBUILD_MIN_BYTES = 8 << 20
#: How long a run may hold the election before another may start (a crashed runner's lease).
LEASE_SECONDS = 600.0
#: Dead letters deleted per statement.
DEAD_LETTER_BATCH = 10_000

#: (schema, step) pairs this process already warned about: one warning each, not one per beat.
_WARNED: set[tuple[str, str]] = set()


@dataclass
class _IndexWatch:
    steady_index_bytes: int | None
    held_since: datetime | None
    cleared_at: datetime | None

    @classmethod
    def from_row(cls, row: MaintenanceRow) -> _IndexWatch:
        return cls(
            None if row.steady_index_bytes is None else core.decode_int8(row.steady_index_bytes),
            None if row.held_since is None else core.decode_timestamptz(row.held_since),
            None if row.cleared_at is None else core.decode_timestamptz(row.cleared_at),
        )


class Maintenance:
    """The maintenance steps for one schema, on one client object's connections."""

    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._sql = queries
        self._schema = queries.schema
        #: Steps this client may not run (a privilege it lacks).
        self.refused: set[str] = set()

    async def run(self, *, every: float | None) -> MaintenanceRun:
        """Run both steps if this process wins the election: at most once per ``every``
        seconds across all processes (``None``: whenever no other run is going on)."""
        claim = {"every": every, "lease": LEASE_SECONDS}
        rows = await self._step(
            "elect", lambda: self._db.rows(self._sql.claim_maintenance, claim), []
        )
        if "elect" in self.refused:
            self.refused |= {"prune", "rebuild"}
        if not rows:
            return MaintenanceRun(ran=False)
        watch = _IndexWatch.from_row(rows[0])
        pruned, rebuilt = PruneResult(), False
        try:
            if "prune" not in self.refused:
                pruned = await self._step("prune", self.prune, pruned)
            if "rebuild" not in self.refused:
                rebuilt = await self._step("rebuild", lambda: self.watch_indexes(watch), False)
        finally:
            await self._db.execute(
                self._sql.release_maintenance,
                {
                    "steady_index_bytes": watch.steady_index_bytes,
                    "held_since": watch.held_since,
                    "cleared_at": watch.cleared_at,
                },
            )
        return MaintenanceRun(ran=True, prune=pruned, rebuilt_indexes=rebuilt)

    async def _step(self, name: str, step: Any, default: Any) -> Any:
        try:
            return await step()
        except ConfigurationError as exc:  # a privilege this role lacks
            self.refused.add(name)
            if (self._schema, name) not in _WARNED:
                _WARNED.add((self._schema, name))
                log.warning(
                    "pgqrs: maintenance step %r cannot run as this role in schema %r, leaving it "
                    "to another (docs/operations.md): %s",
                    name,
                    self._schema,
                    exc,
                )
            return default

    async def retention(self) -> Retention:
        (row,) = await self._db.rows(self._sql.get_retention)
        return Retention.from_row(row)

    async def prune(self) -> PruneResult:
        """The retention step: rotate the archive if its period is due; delete dead letters
        past their window if they are kept for less time than the archive.

        Raises:
            ConfigurationError: the role may not truncate the archive's slots.
        """
        q = self._sql
        rotated: int | None = None
        kept = 0
        blocked = False
        try:
            async with self._db.transaction() as tx:
                await tx.execute(q.rotation_lock_timeout)
                locked = await tx.rows(q.lock_retention)
                if not locked:
                    return PruneResult()  # another process is rotating right now
                retention = Retention.from_row(locked[0])
                now = core.decode_timestamptz(locked[0].now)
                due = retention.next_rotation_at
                if due is not None and due <= now:
                    current = retention.current_slot
                    oldest = (current + 1) % ARCHIVE_SLOTS
                    (moved,) = await tx.rows(
                        q.rehome_dead_letters,
                        {"from": oldest, "into": current, "dead": retention.dead_letters},
                    )
                    kept = core.decode_int8(moved.total)
                    await tx.execute(self._truncate(oldest))
                    await tx.execute(q.advance_slot, {"slot": oldest})
                    rotated = oldest
        except PgqrsError as exc:
            if not lock_not_available(exc):
                raise
            blocked = True  # a reader of the archive holds the oldest slot: next run
            retention = await self.retention()
        deleted = 0
        dead, archive = retention.dead_letters, retention.archive
        if dead is not None and (archive is None or dead < archive):
            while True:
                (row,) = await self._db.rows(
                    q.delete_old_dead_letters, {"dead": dead, "limit": DEAD_LETTER_BATCH}
                )
                batch = core.decode_int8(row.total)
                deleted += batch
                if batch < DEAD_LETTER_BATCH:
                    break
        return PruneResult(rotated, kept, deleted, blocked)

    def _truncate(self, slot: int) -> Statement[Any]:
        return on_object("TRUNCATE {}", self._schema, f"pgqrs_archive_{slot}")

    async def horizon(self, limit: int = 10) -> list[HorizonHolder]:
        rows = await self._db.rows(self._sql.vacuum_horizon, {"limit": limit})
        return [HorizonHolder.from_row(row) for row in rows]

    async def watch_indexes(self, watch: _IndexWatch) -> bool:
        """The index-rebuild step; updates ``watch`` in place.

        Returns:
            Whether the live table's indexes were rebuilt.

        Raises:
            ConfigurationError: a rebuild was due and the role does not own the table.
        """
        holders = await self.horizon(limit=10)
        held = any(h.seconds is not None and h.seconds >= HOLD_SECONDS for h in holders)
        (state,) = await self._db.rows(self._sql.live_table_state)
        size, now = core.decode_int8(state.index_bytes), core.decode_timestamptz(state.now)
        vacuumed = None if state.vacuumed_at is None else core.decode_timestamptz(state.vacuumed_at)
        if held:
            if watch.held_since is None:
                watch.held_since = now
            watch.cleared_at = None
            return False
        if watch.held_since is None:
            watch.steady_index_bytes = size  # steady state: follow the queue as it changes
            return False
        if watch.cleared_at is None:
            watch.cleared_at = now
        if vacuumed is None or vacuumed <= watch.cleared_at:
            return False  # wait for vacuum to clear what the horizon kept
        steady = watch.steady_index_bytes
        rebuilt = False
        if steady is not None and size > max(REBUILD_MIN_BYTES, REBUILD_FACTOR * steady):
            await self.rebuild_indexes()
            rebuilt = True
        watch.held_since = watch.cleared_at = None
        return rebuilt

    async def rebuild_indexes(self) -> None:
        """``REINDEX TABLE CONCURRENTLY`` the live table, after dropping what an interrupted
        rebuild left (its invalid ``_ccnew`` indexes).

        Raises:
            ConfigurationError: the role does not own the table.
        """
        for row in await self._db.rows(self._sql.invalid_live_indexes):
            drop = on_object("DROP INDEX CONCURRENTLY IF EXISTS {}", self._schema, row.name)
            await self._db.execute(drop)
        await self._db.execute(self._sql.rebuild_live_indexes)
