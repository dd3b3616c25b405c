"""Value objects returned by the API.

``QueueMessage`` comes from the core (compiled or pure Python, see ``pgqrs.__impl__``); the
others are built here from raw binary rows with the core's decoders, so every timestamp is an
aware UTC datetime and every payload is decoded by orjson.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ._impl import core
from ._rows import ArchivedRow, MetricsRow, QueueRow, WorkerHealthRow, WorkerRow, WorkerStatsRow

__all__ = [
    "ArchivedMessage",
    "QueueInfo",
    "QueueMessage",
    "QueueMetrics",
    "ReclaimedWorkers",
    "WorkerHealth",
    "WorkerInfo",
    "WorkerStats",
    "WorkerStatus",
]

if TYPE_CHECKING:

    class QueueMessage:
        """A message as stored in the queue, with its delivery state.

        At run time this is the core's class (compiled or pure Python, ``pgqrs.__impl__``);
        the declaration here gives type checkers one public name for both.

        Attributes:
            id: message id, unique across all queues of a schema.
            queue_id: id of the queue holding it.
            payload: the JSON value that was enqueued.
            enqueued_at: when it was enqueued (database clock, UTC).
            vt: visibility time: the message can be dequeued from then on; while leased, the
                end of the lease.
            read_ct: how many times it has been delivered.
            dequeued_at: time of the latest delivery, or ``None``.
            producer_worker_id: worker that enqueued it, if known.
            consumer_worker_id: worker holding (or last holding) its lease, if any.
        """

        id: int
        queue_id: int
        payload: Any
        enqueued_at: datetime
        vt: datetime
        read_ct: int
        dequeued_at: datetime | None
        producer_worker_id: int | None
        consumer_worker_id: int | None

        def __init__(
            self,
            id: int,
            queue_id: int,
            payload: Any,
            enqueued_at: datetime,
            vt: datetime,
            read_ct: int,
            dequeued_at: datetime | None = None,
            producer_worker_id: int | None = None,
            consumer_worker_id: int | None = None,
        ) -> None: ...

        def to_dict(self) -> dict[str, Any]:
            """The message's fields as a dict (for logging or a JSON response)."""
            ...

else:
    QueueMessage = core.QueueMessage

_int8 = core.decode_int8
_ts = core.decode_timestamptz


def _opt_int8(data: bytes | None) -> int | None:
    return None if data is None else _int8(data)


def _opt_ts(data: bytes | None) -> datetime | None:
    return None if data is None else _ts(data)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue: ``id``, ``queue_name``, ``created_at`` (UTC), and ``keep_archive``: whether
    ``Consumer.archive`` keeps a copy in the archive (``False``: it deletes; dead letters are
    kept either way)."""

    id: int
    queue_name: str
    created_at: datetime
    keep_archive: bool = True

    @classmethod
    def from_row(cls, row: QueueRow) -> QueueInfo:
        return cls(_int8(row.id), row.queue_name, _ts(row.created_at), bool(row.keep_archive))


class WorkerStatus(StrEnum):
    """Lifecycle state of a worker row (the ``worker_status`` enum).

    ``Ready``, ``Suspended`` and ``Stopped`` are compatibility names (the original pgqrs) of
    the same three members.
    """

    READY = "ready"
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    if TYPE_CHECKING:  # type checkers take same-valued names for members of their own
        Ready: ClassVar[WorkerStatus]
        Suspended: ClassVar[WorkerStatus]
        Stopped: ClassVar[WorkerStatus]
    else:  # same values: enum aliases, so WorkerStatus.Ready is WorkerStatus.READY
        Ready = "ready"
        Suspended = "suspended"
        Stopped = "stopped"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A producer or consumer registered as ``(hostname, port)``."""

    id: int
    hostname: str
    port: int
    queue_id: int | None
    started_at: datetime
    heartbeat_at: datetime
    shutdown_at: datetime | None
    status: WorkerStatus
    #: ``socket.gethostname()`` of the process that registered the identity.
    process_host: str | None = None
    #: ``os.getpid()`` of that process.
    process_id: int | None = None
    #: ``"producer"`` or ``"consumer"`` (``None`` for rows registered before schema version 2).
    kind: str | None = None

    @property
    def updated_at(self) -> datetime:
        """Compatibility name (the original pgqrs) of ``heartbeat_at``."""
        return self.heartbeat_at

    @classmethod
    def from_row(cls, row: WorkerRow) -> WorkerInfo:
        return cls(
            id=_int8(row.id),
            hostname=row.hostname,
            port=_int8(row.port),
            queue_id=_opt_int8(row.queue_id),
            started_at=_ts(row.started_at),
            heartbeat_at=_ts(row.heartbeat_at),
            shutdown_at=_opt_ts(row.shutdown_at),
            status=WorkerStatus(row.status),
            process_host=row.process_host,
            process_id=_opt_int8(row.process_id),
            kind=row.kind,
        )


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """A worker and how alive it looks (``Admin.worker_health``).

    Attributes:
        worker: the worker row.
        heartbeat_age: time since its last heartbeat (database clock).
        is_stale: not stopped, and no heartbeat within ``Config.stale_after``: its process is
            probably gone.  A stopped worker is never stale.
        leased_messages: messages it holds with a valid lease.
    """

    worker: WorkerInfo
    heartbeat_age: timedelta
    is_stale: bool
    leased_messages: int

    @classmethod
    def from_row(cls, row: WorkerHealthRow) -> WorkerHealth:
        return cls(
            worker=WorkerInfo.from_row(row.worker()),
            heartbeat_age=timedelta(seconds=row.heartbeat_age),
            is_stale=bool(row.is_stale),
            leased_messages=_int8(row.leased_messages),
        )


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Worker counts, of one queue or of all (``Admin.worker_stats``); ``stale`` counts the
    ready or suspended workers whose heartbeat is older than ``Config.stale_after``."""

    total: int
    ready: int
    suspended: int
    stopped: int
    stale: int

    @classmethod
    def from_row(cls, row: WorkerStatsRow) -> WorkerStats:
        return cls(
            total=_int8(row.total),
            ready=_int8(row.ready),
            suspended=_int8(row.suspended),
            stopped=_int8(row.stopped),
            stale=_int8(row.stale),
        )


@dataclass(frozen=True, slots=True)
class ReclaimedWorkers:
    """What ``Admin.reclaim_stale_workers`` did: the stale workers it marked stopped and how
    many of their leased messages it made visible again."""

    worker_ids: list[int]
    released_messages: int


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """A message moved to the archive by ``Consumer.archive``.

    ``id`` is the archive row's own id; ``original_msg_id`` is the id the message had in the queue.
    A message moved here by dequeue after ``Config.max_read_ct`` deliveries without an
    acknowledgement is a dead letter: ``dead_lettered_at`` and ``dead_letter_reason`` are set
    (both ``None`` otherwise), and ``Admin.replay`` can put it back on its queue.
    """

    id: int
    original_msg_id: int
    queue_id: int
    payload: Any
    enqueued_at: datetime
    vt: datetime
    read_ct: int
    dequeued_at: datetime | None
    producer_worker_id: int | None
    consumer_worker_id: int | None
    archived_at: datetime
    dead_lettered_at: datetime | None = None
    dead_letter_reason: str | None = None

    @property
    def is_dead_letter(self) -> bool:
        return self.dead_lettered_at is not None

    @classmethod
    def from_row(cls, row: ArchivedRow) -> ArchivedMessage:
        return cls(
            id=_int8(row.id),
            original_msg_id=_int8(row.original_msg_id),
            queue_id=_int8(row.queue_id),
            payload=core.decode_jsonb(row.payload),
            enqueued_at=_ts(row.enqueued_at),
            vt=_ts(row.vt),
            read_ct=_int8(row.read_ct),
            dequeued_at=_opt_ts(row.dequeued_at),
            producer_worker_id=_opt_int8(row.producer_worker_id),
            consumer_worker_id=_opt_int8(row.consumer_worker_id),
            archived_at=_ts(row.archived_at),
            dead_lettered_at=_opt_ts(row.dead_lettered_at),
            dead_letter_reason=row.dead_letter_reason,
        )


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """A snapshot of one queue, taken in one statement at ``measured_at`` (database clock).

    Attributes:
        total_messages: messages in the queue table (pending + in flight + delayed).
        pending_messages: visible now: would be returned by a dequeue.
        in_flight_messages: leased by a consumer, lease still valid.
        delayed_messages: not visible yet and not leased: enqueued with a delay
            (``enqueue_delayed``), or released with a retry delay (``Consumer.release``).
        archived_messages: messages acknowledged with ``archive`` (dead letters excluded).
        dead_lettered_messages: messages moved to the archive after ``Config.max_read_ct``
            deliveries; ``archived + dead_lettered`` is the queue's ``Archive.count``.
        oldest_pending_age: how long the oldest pending message has waited since it was
            enqueued, or ``None`` when nothing is pending.
        newest_message_at: ``enqueued_at`` of the newest message in the queue, or ``None``.
    """

    queue_id: int
    queue_name: str
    measured_at: datetime
    total_messages: int
    pending_messages: int
    in_flight_messages: int
    delayed_messages: int
    archived_messages: int
    oldest_pending_age: timedelta | None
    newest_message_at: datetime | None
    dead_lettered_messages: int = 0

    @classmethod
    def from_row(cls, row: MetricsRow) -> QueueMetrics:
        measured_at = _ts(row.measured_at)
        oldest = _opt_ts(row.oldest_pending)
        return cls(
            queue_id=_int8(row.queue_id),
            queue_name=row.queue_name,
            measured_at=measured_at,
            total_messages=_int8(row.total),
            pending_messages=_int8(row.pending),
            in_flight_messages=_int8(row.in_flight),
            delayed_messages=_int8(row.delayed),
            archived_messages=_int8(row.archived),
            oldest_pending_age=None if oldest is None else measured_at - oldest,
            newest_message_at=_opt_ts(row.newest),
            dead_lettered_messages=_int8(row.dead_lettered),
        )
