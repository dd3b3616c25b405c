"""Configuration shared by :class:`~pgqrs.Admin`, :class:`~pgqrs.Producer` and
:class:`~pgqrs.Consumer`."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, TypeVar, overload

from ._dsn import mask_dsn
from ._validate import check_int as _check_int
from ._validate import check_schema
from ._validate import check_seconds as _check_seconds
from .errors import ValidationError

__all__ = ["Config", "ConfigBuilder"]

#: Environment variable consulted when no DSN is passed.
DSN_ENV = "PGQRS_DSN"

#: A worker is stale after this many missed heartbeats (unless ``Config.stale_after`` is set):
#: one late beat under load is normal, three in a row mean the process is gone or wedged.
STALE_HEARTBEATS = 3

#: Default of ``Config.notify``: off.  A NOTIFY takes a database-wide lock at commit, and
#: ``pgqrs.bench.notify_scenario`` (interleaved rounds, NOTIFY on / off) measured single enqueue
#: at 0.912, 1.051, 0.946, 1.004 and 0.945 in five runs: a median cost of 5.4%, over the 5%
#: the default allows (enqueue_batch at 1,000: 0.955 and 1.003).  With many producers the lock
#: serialises their commits, which only adds to it.  Consume loops therefore poll unless the
#: producers opt in.
NOTIFY_DEFAULT = False


@dataclass(frozen=True)
class Config:
    """Settings for one pgqrs client object.

    Attributes:
        dsn: libpq connection string or URL.  ``None`` means ``$PGQRS_DSN``, else libpq's own
            ``PG*`` environment variables.
        schema: PostgreSQL schema holding the pgqrs tables.  Every statement is qualified with it;
            nothing sets ``search_path``, so PgBouncer transaction pooling works.
        pool_min_size: connections kept open per client object.
        pool_max_size: upper bound of connections per client object.
        connect_timeout: seconds to wait for a connection before raising
            :class:`~pgqrs.PgqrsConnectionError`.
        lock_seconds: default lease (visibility timeout) of a dequeued message.
        dequeue_batch_size: how many messages :meth:`Consumer.dequeue` asks for.
        max_read_ct: deliveries after which a message is dead-lettered (docs/contract.md,
            Semantics).
        heartbeat_interval: seconds between the automatic heartbeats of an open producer or
            consumer (a background task; it also picks up an operator's suspend).
        stale_after: a worker whose last heartbeat is older than this is stale: its identity
            may be taken over and ``Admin.reclaim_stale_workers`` releases its leases.
            ``None`` means three heartbeat intervals.
        notify: producers send a PostgreSQL NOTIFY on every enqueue call, so idle consume loops
            wake within milliseconds instead of at their next poll.  Off by default: it costs
            about 5% of single-enqueue throughput (see NOTIFY_DEFAULT).
        listen: consume loops LISTEN for those notifications on a dedicated connection.  Turn
            off behind a transaction-pooling PgBouncer (notifications do not cross it); loops
            then poll.
        poll_interval: longest wait between two polls of an idle queue in a consume loop
            (polls back off from 10 ms up to this).
        max_payload_bytes: largest JSON encoding accepted for one payload; ``None`` removes the
            limit (PostgreSQL's own jsonb limit of 255 MiB still applies, and the core refuses
            JSON over 2 GiB, the most a COPY field can carry).
        prepare: use server-side prepared statements for the hot statements.  Turn off behind
            PgBouncer in transaction pooling mode before 1.21.
        maintenance: producers and consumers take turns running the maintenance step
            (archive retention, rebuilding the live table's indexes after a held vacuum
            horizon) in the background after a heartbeat, one process at a time and at most
            once per ``heartbeat_interval``.  Off: run ``Admin.maintain()`` (or ``prune()``)
            from cron instead (docs/operations.md).
    """

    dsn: str | None = None
    schema: str = "public"
    pool_min_size: int = 0
    pool_max_size: int = 10
    connect_timeout: float = 10.0
    lock_seconds: float = 30.0
    dequeue_batch_size: int = 10
    max_read_ct: int = 5
    heartbeat_interval: float = 30.0
    stale_after: float | None = None
    notify: bool = NOTIFY_DEFAULT
    listen: bool = True
    poll_interval: float = 1.0
    # 8 MiB: generous for a message, small enough that a runaway payload fails fast and clearly.
    max_payload_bytes: int | None = 8 * 1024 * 1024
    prepare: bool = True
    maintenance: bool = True

    def __post_init__(self) -> None:
        check_schema(self.schema)
        _check_int("pool_min_size", self.pool_min_size, minimum=0)
        _check_int("pool_max_size", self.pool_max_size, minimum=1)
        if self.pool_min_size > self.pool_max_size:
            raise ValidationError("Config.pool_min_size must not exceed pool_max_size")
        _check_seconds("connect_timeout", self.connect_timeout, positive=True)
        _check_seconds("lock_seconds", self.lock_seconds)
        _check_int("dequeue_batch_size", self.dequeue_batch_size, minimum=1)
        _check_int("max_read_ct", self.max_read_ct, minimum=1)
        _check_seconds("heartbeat_interval", self.heartbeat_interval, positive=True)
        if self.stale_after is not None:
            _check_seconds("stale_after", self.stale_after, positive=True)
        _check_seconds("poll_interval", self.poll_interval, positive=True)
        if self.max_payload_bytes is not None:
            _check_int("max_payload_bytes", self.max_payload_bytes, minimum=1)

    def __repr__(self) -> str:
        # The generated repr would print the DSN's password; ``str()`` falls back to this too.
        shown = []
        for item in fields(self):
            if item.repr:
                value = getattr(self, item.name)
                if item.name == "dsn" and value is not None:
                    value = mask_dsn(value)
                shown.append(f"{item.name}={value!r}")
        return f"{type(self).__qualname__}({', '.join(shown)})"

    @classmethod
    def from_dsn(cls, dsn: str) -> ConfigBuilder:
        """Compatibility name (the original pgqrs): default settings for ``dsn``, as a
        :class:`ConfigBuilder` whose settings may be assigned one by one before it is handed to
        a client.  Our own spelling is ``Config(dsn=dsn, ...)``.

        Raises:
            ValidationError: ``dsn`` is not a string.
        """
        if not isinstance(dsn, str):
            raise ValidationError(f"dsn must be a string, not {type(dsn).__name__}")
        return ConfigBuilder(cls(dsn=dsn))

    @property
    def stale_seconds(self) -> float:
        """``stale_after``, or three heartbeat intervals when it is ``None``."""
        if self.stale_after is not None:
            return self.stale_after
        return STALE_HEARTBEATS * self.heartbeat_interval

    def resolved_dsn(self) -> str:
        """The connection string to use: ``dsn``, else ``$PGQRS_DSN``, else ``""`` (libpq
        defaults and ``PG*`` variables)."""
        if self.dsn is not None:
            return self.dsn
        return os.environ.get(DSN_ENV, "")


T = TypeVar("T")


class _Setting(Generic[T]):
    """One of the original pgqrs's setting names on :class:`ConfigBuilder`: reads and writes
    the :class:`Config` field it stands for.  A write builds a new ``Config`` at once, so a bad
    value raises there, naming the setting."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.name = field

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, builder: None, owner: type) -> _Setting[T]: ...
    @overload
    def __get__(self, builder: ConfigBuilder, owner: type) -> T: ...
    def __get__(self, builder: ConfigBuilder | None, owner: type) -> _Setting[T] | T:
        if builder is None:
            return self
        value: T = getattr(builder.build(), self.field)
        return value

    def __set__(self, builder: ConfigBuilder, value: T) -> None:
        try:
            change: dict[str, Any] = {self.field: value}
            builder._config = replace(builder.build(), **change)
        except ValidationError as exc:
            shown = self.name if self.name == self.field else f"{self.name} (Config.{self.field})"
            raise ValidationError(f"{shown}: {exc}") from None


class ConfigBuilder:
    """A :class:`Config` assembled setting by setting, under the original pgqrs's names:
    what :meth:`Config.from_dsn` returns, for code written against that library.

    Every assignment is checked at once and raises :class:`~pgqrs.ValidationError` naming the
    setting, so no client ever starts with a bad value.  Clients (``Admin(builder)``,
    ``Producer(..., config=builder)``) take a snapshot: later assignments do not reach a client
    already built.  ``repr`` shows the connection string with ``password=***``, like ``Config``.

    Attributes:
        schema: ``Config.schema``.
        max_connections: ``Config.pool_max_size``.
        connection_timeout_seconds: ``Config.connect_timeout``.
        default_lock_time_seconds: ``Config.lock_seconds``.
        default_max_batch_size: ``Config.dequeue_batch_size`` (messages per ``dequeue()``).
        max_read_ct: ``Config.max_read_ct``.
        heartbeat_interval_seconds: ``Config.heartbeat_interval``.
    """

    __slots__ = ("_config",)

    schema = _Setting[str]("schema")
    max_connections = _Setting[int]("pool_max_size")
    connection_timeout_seconds = _Setting[float]("connect_timeout")
    default_lock_time_seconds = _Setting[float]("lock_seconds")
    default_max_batch_size = _Setting[int]("dequeue_batch_size")
    max_read_ct = _Setting[int]("max_read_ct")
    heartbeat_interval_seconds = _Setting[float]("heartbeat_interval")

    def __init__(self, config: Config | None = None) -> None:
        self._config = Config() if config is None else config

    def build(self) -> Config:
        """The settings as they stand, as a (frozen) :class:`Config`."""
        return self._config

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({self._config!r})"


#: What a client constructor accepts as its first argument (besides an ``Admin`` for workers).
Source = str | Config | ConfigBuilder | None


def resolve_config(
    dsn: Source, schema: str | None, config: Config | ConfigBuilder | None
) -> Config:
    """Merge the positional/keyword arguments of a client constructor into one ``Config``.

    The first argument may be the settings themselves (``Admin(config)``, as the original pgqrs
    allows); explicit ``dsn``/``schema`` arguments win over the ``config`` object's values.
    """
    if isinstance(dsn, (Config, ConfigBuilder)):
        if config is not None:
            raise ValidationError("settings given twice: pass a Config first or as config=")
        dsn, config = None, dsn
    if dsn is not None and not isinstance(dsn, str):
        raise ValidationError(
            f"dsn must be a connection string or a pgqrs.Config (Producer and Consumer also "
            f"take a pgqrs.Admin), not {type(dsn).__name__}"
        )
    if isinstance(config, ConfigBuilder):
        config = config.build()
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        raise ValidationError(f"config must be a pgqrs.Config, not {type(config).__name__}")
    if dsn is not None:
        config = replace(config, dsn=dsn)
    if schema is not None:
        config = replace(config, schema=schema)
    return config
