"""The result columns of every statement in ``sql/queries.sql``, one ``NamedTuple`` per shape.

Each statement of :class:`pgqrs._sql.Queries` names its row type here, and
``tests/test_sql.py`` prepares every statement on a real server and checks that the columns it
returns are exactly these fields, in this order.  Code reads rows by field name
(``row.created_at``); the hot paths that hand rows to the core (``MessageRow``) or read one id
column (``IdRow``) rely on the same declared order.

Values are PostgreSQL's binary representations where the core decodes them (``bytes`` for
int8, int4, timestamptz and jsonb; see ``pgqrs._database``), Python values otherwise (text,
booleans, float8, intervals as ``timedelta``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

__all__ = [
    "AdminStatusRow",
    "ArchivedRow",
    "CountRow",
    "DeletedWorkerRow",
    "ExistsRow",
    "HorizonRow",
    "IdRow",
    "LiveTableRow",
    "LockedWorkerRow",
    "MaintenanceRow",
    "MessageRow",
    "MetricsRow",
    "NameRow",
    "OwnerRow",
    "QueueRow",
    "ReclaimedRow",
    "RegisteredRow",
    "ReplayRow",
    "ReservedRow",
    "RetentionRow",
    "StatusRow",
    "TableHealthRow",
    "VersionRow",
    "WorkerHealthRow",
    "WorkerRow",
    "WorkerStatsRow",
]

Raw = bytes  # a binary value the core decodes
OptRaw = bytes | None


class IdRow(NamedTuple):
    id: Raw


class CountRow(NamedTuple):
    total: Raw


class ExistsRow(NamedTuple):
    exists: bool


class NameRow(NamedTuple):
    name: str


class VersionRow(NamedTuple):
    version: OptRaw


class QueueRow(NamedTuple):
    id: Raw
    queue_name: str
    created_at: Raw
    keep_archive: bool


class MetricsRow(NamedTuple):
    queue_id: Raw
    queue_name: str
    measured_at: Raw
    total: Raw
    pending: Raw
    in_flight: Raw
    delayed: Raw
    archived: Raw
    oldest_pending: OptRaw
    newest: OptRaw
    dead_lettered: Raw


class RegisteredRow(NamedTuple):
    id: Raw
    queue_id: Raw
    started_at: Raw


class LockedWorkerRow(NamedTuple):
    id: Raw
    status: str
    stale: bool
    process_host: str | None
    process_id: OptRaw
    heartbeat_age: float
    queue_id: OptRaw  # the queue asked for, looked up by name; NULL if it does not exist


class OwnerRow(NamedTuple):
    id: Raw
    process_id: OptRaw


class StatusRow(NamedTuple):
    status: str


class AdminStatusRow(NamedTuple):
    status: str
    changed: bool


class WorkerRow(NamedTuple):
    id: Raw
    hostname: str
    port: Raw
    queue_id: OptRaw
    started_at: Raw
    heartbeat_at: Raw
    shutdown_at: OptRaw
    status: str
    process_host: str | None
    process_id: OptRaw
    kind: str | None


class DeletedWorkerRow(NamedTuple):
    status: str
    live: bool
    heartbeat_age: float
    leased_messages: Raw
    deleted: bool


class WorkerHealthRow(NamedTuple):
    id: Raw
    hostname: str
    port: Raw
    queue_id: OptRaw
    started_at: Raw
    heartbeat_at: Raw
    shutdown_at: OptRaw
    status: str
    process_host: str | None
    process_id: OptRaw
    kind: str | None
    heartbeat_age: float
    is_stale: bool
    leased_messages: Raw

    def worker(self) -> WorkerRow:
        """The worker's own columns."""
        return WorkerRow._make(self[: len(WorkerRow._fields)])


class WorkerStatsRow(NamedTuple):
    total: Raw
    ready: Raw
    suspended: Raw
    stopped: Raw
    stale: Raw


class ReclaimedRow(NamedTuple):
    worker_ids: Raw
    released: Raw


class ReservedRow(NamedTuple):
    now: Raw  # timestamptz: microseconds since 2000-01-01 UTC, decoded as int8
    ids: Raw


class MessageRow(NamedTuple):
    """The columns the core's ``decode_messages`` reads (``core.MESSAGE_COLUMNS``)."""

    id: Raw
    queue_id: Raw
    payload: Raw
    enqueued_at: Raw
    vt: Raw
    read_ct: Raw
    dequeued_at: OptRaw
    producer_worker_id: OptRaw
    consumer_worker_id: OptRaw


class ArchivedRow(NamedTuple):
    id: Raw
    original_msg_id: Raw
    queue_id: Raw
    payload: Raw
    enqueued_at: Raw
    vt: Raw
    read_ct: Raw
    dequeued_at: OptRaw
    producer_worker_id: OptRaw
    consumer_worker_id: OptRaw
    archived_at: Raw
    dead_lettered_at: OptRaw
    dead_letter_reason: str | None


class ReplayRow(NamedTuple):
    archive_id: Raw
    new_id: Raw


class RetentionRow(NamedTuple):
    archive_retention: timedelta | None
    dead_letter_retention: timedelta | None
    current_slot: Raw
    rotated_at: Raw
    now: Raw


class MaintenanceRow(NamedTuple):
    steady_index_bytes: OptRaw
    held_since: OptRaw
    cleared_at: OptRaw


class LiveTableRow(NamedTuple):
    index_bytes: Raw
    live_tuples: Raw
    vacuumed_at: OptRaw
    now: Raw


class TableHealthRow(NamedTuple):
    name: str
    heap_bytes: Raw
    index_bytes: Raw
    total_bytes: Raw
    live_tuples: Raw
    dead_tuples: Raw
    last_autovacuum: OptRaw
    last_vacuum: OptRaw
    last_autoanalyze: OptRaw


class HorizonRow(NamedTuple):
    kind: str
    pid: OptRaw
    name: str | None
    state: str | None
    seconds: float | None
    xid_age: OptRaw
