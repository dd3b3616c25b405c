"""What the server says about a churn run, interval by interval: the sizes and dead tuples of
the live table, its indexes and the archive (sampled at each interval's end), and the messages
archived within the interval with their enqueue -> archive latency (read from the archive).

Sizes are summed over a table's partitions when it has any, so every design of the tables
reports the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

__all__ = ["Interval", "Sampler", "Sizes"]


@dataclass
class Sizes:
    """The storage of the pgqrs tables at one moment."""

    at: datetime
    heap_bytes: int
    index_bytes: int
    dead_tuples: int
    archive_bytes: int
    #: The oldest snapshot holding back vacuum, in seconds (``pg_stat_activity``), or 0.
    horizon_age: float


@dataclass
class Interval:
    """One reported interval of a churn run.

    ``enqueued`` and ``handled`` are counted by the client as calls return; ``archived`` and
    the latency percentiles (``archived_at - enqueued_at``, both database time) come from the
    archive.  Sizes are those at the interval's end.
    """

    number: int
    #: Seconds since the run started, at the interval's start, and its length.
    start: float
    seconds: float
    enqueued: int
    handled: int
    archived: int
    p50: float | None
    p99: float | None
    #: Messages enqueued and not yet handled, at the interval's end.
    backlog: int
    #: The horizon holder was open during some of the interval.
    holder: bool
    sizes: Sizes
    #: Producers were offering messages during the interval (not the final drain).
    offering: bool = True

    @property
    def rate_in(self) -> float:
        return self.enqueued / self.seconds

    @property
    def rate_out(self) -> float:
        return self.archived / self.seconds

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["sizes"]["at"] = self.sizes.at.isoformat()
        found["rate_in"], found["rate_out"] = self.rate_in, self.rate_out
        return found


def _leaves(table: sql.Composable) -> sql.Composed:
    """The relations holding a table's rows: its leaf partitions, or the table itself
    (``pg_partition_tree`` returns nothing for a table that is not partitioned)."""
    return sql.SQL(
        "SELECT relid FROM pg_partition_tree({t}::regclass) WHERE isleaf"
        " UNION ALL SELECT {t}::regclass WHERE NOT EXISTS"
        " (SELECT FROM pg_partition_tree({t}::regclass))"
    ).format(t=table)


class Sampler:
    """The sampling statements for one schema and queue, on a connection of their own."""

    def __init__(self, dsn: str, schema: str, queue_id: int) -> None:
        self._dsn, self._queue_id = dsn, queue_id
        messages = sql.Literal(sql.Identifier(schema, "pgqrs_messages").as_string())
        archive = sql.Literal(sql.Identifier(schema, "pgqrs_archive").as_string())
        self._sizes = sql.SQL(
            """
            WITH live AS ({leaves_of_messages}), kept AS ({leaves_of_archive})
            SELECT now(),
                   (SELECT coalesce(sum(pg_relation_size(relid)), 0)::int8 FROM live),
                   (SELECT coalesce(sum(pg_indexes_size(relid)), 0)::int8 FROM live),
                   (SELECT coalesce(sum(n_dead_tup), 0)::int8 FROM pg_stat_all_tables
                    WHERE relid IN (SELECT relid FROM live)),
                   (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::int8 FROM kept),
                   coalesce((SELECT extract(epoch FROM max(now() - xact_start))::float8
                             FROM pg_stat_activity
                             WHERE backend_xmin IS NOT NULL AND backend_type = 'client backend'
                               AND pid <> pg_backend_pid()), 0)
            """
        ).format(leaves_of_messages=_leaves(messages), leaves_of_archive=_leaves(archive))
        self._archived = sql.SQL(
            """
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)
            FROM (SELECT extract(epoch FROM archived_at - enqueued_at)::float8 AS lag
                  FROM {archive} WHERE queue_id = %s AND archived_at >= %s AND archived_at < %s
                    AND dead_lettered_at IS NULL) a
            """
        ).format(archive=sql.Identifier(schema, "pgqrs_archive"))
        self._conn: AsyncConnection[Any] | None = None

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(self._dsn, autocommit=True)
        return self._conn

    async def sizes(self) -> Sizes:
        conn = await self._connection()
        row = await (await conn.execute(self._sizes)).fetchone()
        assert row is not None
        return Sizes(*row)

    async def archived(
        self, since: datetime, until: datetime
    ) -> tuple[int, float | None, float | None]:
        """Messages archived in ``[since, until)`` (database time) and their p50 and p99
        enqueue -> archive latency in seconds.  Read one interval late: an archive whose
        statement started before ``until`` may commit after it."""
        conn = await self._connection()
        cur = await conn.execute(self._archived, (self._queue_id, since, until))
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), row[1], row[2]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
