"""What predicts trouble for a queue that runs for months (``Admin.health()``): the size, dead
tuples and vacuum history of the pgqrs tables, what holds back vacuum, and the warnings those
add up to.  docs/operations.md ("When health warns") says what to do about each warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ._impl import core
from ._rows import HorizonRow, TableHealthRow
from .retention import Retention

__all__ = [
    "ARCHIVE_WARN_BYTES",
    "DEAD_TUPLES_WARN",
    "HORIZON_WARN_SECONDS",
    "REPLICA_WARN_XIDS",
    "VACUUM_WARN_AFTER",
    "Health",
    "HorizonHolder",
    "TableHealth",
]

#: A transaction open this long (seconds) holds back vacuum enough to warn: under constant
#: churn every second of it leaves dead rows that nothing can remove (docs/retention.md).
HORIZON_WARN_SECONDS = 60.0
#: A replica's feedback this many transactions behind warns (its WAL sender shows no start time).
REPLICA_WARN_XIDS = 1_000_000
#: The live table holding this many dead tuples ...
DEAD_TUPLES_WARN = 100_000
#: ... without a vacuum for this long warns: autovacuum is not keeping up, or cannot.
VACUUM_WARN_AFTER = timedelta(minutes=10)
#: An archive kept for ever that has grown past this warns.
ARCHIVE_WARN_BYTES = 1 << 30


def _opt_ts(data: bytes | None) -> datetime | None:
    return None if data is None else core.decode_timestamptz(data)


@dataclass(frozen=True, slots=True)
class TableHealth:
    """One pgqrs table (partitions summed into it): sizes in bytes, tuple estimates from the
    statistics collector, and when (auto)vacuum and autoanalyze last ran (``None``: never)."""

    name: str
    heap_bytes: int
    index_bytes: int
    total_bytes: int
    live_tuples: int
    dead_tuples: int
    last_autovacuum: datetime | None
    last_vacuum: datetime | None
    last_autoanalyze: datetime | None

    @property
    def vacuumed_at(self) -> datetime | None:
        """The latest vacuum of either kind."""
        times = [t for t in (self.last_autovacuum, self.last_vacuum) if t is not None]
        return max(times, default=None)

    @classmethod
    def from_row(cls, row: TableHealthRow) -> TableHealth:
        return cls(
            name=row.name,
            heap_bytes=core.decode_int8(row.heap_bytes),
            index_bytes=core.decode_int8(row.index_bytes),
            total_bytes=core.decode_int8(row.total_bytes),
            live_tuples=core.decode_int8(row.live_tuples),
            dead_tuples=core.decode_int8(row.dead_tuples),
            last_autovacuum=_opt_ts(row.last_autovacuum),
            last_vacuum=_opt_ts(row.last_vacuum),
            last_autoanalyze=_opt_ts(row.last_autoanalyze),
        )


@dataclass(frozen=True, slots=True)
class HorizonHolder:
    """Something that keeps vacuum from removing dead rows, anywhere in the cluster.

    Attributes:
        kind: ``"transaction"`` (a session's snapshot or transaction id), ``"replica"`` (a
            standby's ``hot_standby_feedback`` through its WAL sender), ``"replication slot"``
            or ``"prepared transaction"``.
        pid: the backend's process id (sessions and WAL senders).
        name: its ``application_name``, the slot's name or the prepared transaction's gid.
        state: the session's state (``"idle in transaction"`` ...), ``"active"`` or
            ``"inactive"`` for a slot, ``"prepared"``.
        seconds: how long the transaction has been open (``None`` for slots and replicas).
        xid_age: how many transactions ago its horizon is.
    """

    kind: str
    pid: int | None
    name: str | None
    state: str | None
    seconds: float | None
    xid_age: int | None

    @classmethod
    def from_row(cls, row: HorizonRow) -> HorizonHolder:
        return cls(
            kind=row.kind,
            pid=None if row.pid is None else core.decode_int8(row.pid),
            name=row.name,
            state=row.state,
            seconds=row.seconds,
            xid_age=None if row.xid_age is None else core.decode_int8(row.xid_age),
        )

    def warning(self) -> str | None:
        """Why this holder is worth a warning, or ``None``."""
        who = f"{self.kind} {self.name or ''}".strip()
        if self.pid is not None:
            who += f" (pid {self.pid}, {self.state or 'state unknown'})"
        if self.kind == "replication slot":
            if self.state == "inactive":
                return f"inactive {who} holds back vacuum ({self.xid_age:,} transactions)"
            return None
        if self.kind == "replica":
            if (self.xid_age or 0) >= REPLICA_WARN_XIDS:
                return f"{who} holds back vacuum by {self.xid_age:,} transactions"
            return None
        if self.seconds is not None and self.seconds >= HORIZON_WARN_SECONDS:
            return f"{who} has held back vacuum for {self.seconds:,.0f} s"
        return None


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of what predicts trouble (``Admin.health()``).

    Attributes:
        measured_at: database time of the snapshot.
        tables: each pgqrs table by name (``pgqrs_messages`` is the live table).
        horizon: what holds back vacuum, oldest first (empty: nothing does).
        retention: the archive's windows and rotation.
        warnings: the conditions to act on, in words (docs/operations.md, "When health warns").
    """

    measured_at: datetime
    tables: dict[str, TableHealth]
    horizon: list[HorizonHolder]
    retention: Retention
    warnings: list[str] = field(default_factory=list)

    @property
    def live(self) -> TableHealth:
        """The live table, ``pgqrs_messages``."""
        return self.tables["pgqrs_messages"]

    @property
    def horizon_seconds(self) -> float:
        """How long the oldest open transaction has held back vacuum (0: none)."""
        return max((h.seconds or 0.0 for h in self.horizon), default=0.0)

    @classmethod
    def build(
        cls,
        measured_at: datetime,
        tables: list[TableHealth],
        horizon: list[HorizonHolder],
        retention: Retention,
    ) -> Health:
        by_name = {t.name: t for t in tables}
        warnings = [w for w in (h.warning() for h in horizon) if w is not None]
        live = by_name.get("pgqrs_messages")
        if live is not None and live.dead_tuples >= DEAD_TUPLES_WARN:
            vacuumed = live.vacuumed_at
            if vacuumed is None or measured_at - vacuumed >= VACUUM_WARN_AFTER:
                since = "never vacuumed" if vacuumed is None else f"last vacuumed {vacuumed:%c}"
                warnings.append(
                    f"pgqrs_messages holds {live.dead_tuples:,} dead tuples and was {since}"
                )
        archive = by_name.get("pgqrs_archive")
        kept_forever = retention.archive is None and archive is not None
        if kept_forever and archive is not None and archive.total_bytes >= ARCHIVE_WARN_BYTES:
            warnings.append(
                f"the archive is kept for ever and holds {archive.total_bytes / 2**30:,.1f} GiB: "
                "set a retention (Admin.set_retention)"
            )
        return cls(measured_at, by_name, horizon, retention, warnings)
