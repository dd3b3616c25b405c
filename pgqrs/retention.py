"""What the archive keeps and for how long (:class:`Retention`), and what one pruning step did
(:class:`PruneResult`).

The archive is partitioned into ``ARCHIVE_SLOTS`` rotating slots.  New rows go to the current
slot; every ``archive_retention / (ARCHIVE_SLOTS - 1)`` the maintenance step truncates the
oldest slot (moving out the dead letters still within their own window) and makes it current.
An acknowledged message is therefore kept for at least ``archive_retention`` and at most
``ARCHIVE_SLOTS / (ARCHIVE_SLOTS - 1)`` times it (8/7 with 8 slots); see docs/retention.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ._impl import core
from ._rows import RetentionRow

__all__ = ["ARCHIVE_SLOTS", "MaintenanceRun", "PruneResult", "Retention"]

#: Partitions of ``pgqrs_archive`` (``sql/schema.sql``): one takes new rows, the others age.
ARCHIVE_SLOTS = 8


@dataclass(frozen=True, slots=True)
class Retention:
    """The archive's windows and where its rotation stands.

    Attributes:
        archive: how long acknowledged messages are kept (``None``: for ever).
        dead_letters: how long dead letters are kept (``None``: for ever); independent of
            ``archive``, and usually longer.
        current_slot: the archive partition new rows go to.
        rotated_at: when the archive last rotated (or retention was installed).
        next_rotation_at: when the oldest slot is due to be pruned (``None``: never, the
            archive is kept for ever).
    """

    archive: timedelta | None
    dead_letters: timedelta | None
    current_slot: int
    rotated_at: datetime
    next_rotation_at: datetime | None

    @property
    def period(self) -> timedelta | None:
        """The time between two rotations: ``archive / (ARCHIVE_SLOTS - 1)``."""
        return None if self.archive is None else self.archive / (ARCHIVE_SLOTS - 1)

    @classmethod
    def from_row(cls, row: RetentionRow) -> Retention:
        rotated_at = core.decode_timestamptz(row.rotated_at)
        archive = row.archive_retention
        return cls(
            archive=archive,
            dead_letters=row.dead_letter_retention,
            current_slot=core.decode_int8(row.current_slot),
            rotated_at=rotated_at,
            next_rotation_at=None
            if archive is None
            else rotated_at + archive / (ARCHIVE_SLOTS - 1),
        )


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one pruning step did.

    Attributes:
        truncated_slot: the archive partition emptied (it is the current one now), or ``None``
            when no rotation was due (or another process was rotating).
        dead_letters_kept: dead letters moved out of that partition because their own window
            had not passed.
        dead_letters_deleted: dead letters deleted because their window had passed (when dead
            letters are kept for less time than the archive, or the archive for ever).
        blocked: a rotation was due, but a reader of the archive (a listing, an analytics
            query) held the oldest slot past the lock timeout; the next run tries again.
    """

    truncated_slot: int | None = None
    dead_letters_kept: int = 0
    dead_letters_deleted: int = 0
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    """What one maintenance run did (``Admin.maintain()``).

    Attributes:
        ran: ``False`` when another process was running the step (nothing was done).
        prune: what the retention step did.
        rebuilt_indexes: the live table's indexes were rebuilt (after a held vacuum horizon
            bloated them).
    """

    ran: bool
    prune: PruneResult = field(default_factory=PruneResult)
    rebuilt_indexes: bool = False
