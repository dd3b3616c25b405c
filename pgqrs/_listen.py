"""LISTEN/NOTIFY wake-ups for consume loops.

Producers send ``NOTIFY`` on the queue's channel with every enqueue call (``Config.notify``); a
consume loop waiting on an idle queue LISTENs on a dedicated connection, outside the pool: a
LISTEN is session state, and a pooled connection goes back to other users (and, behind a
transaction-pooling PgBouncer, to other clients) between statements.  When the connection cannot
be made or breaks, the loop simply polls, and tries to LISTEN again after ``RELISTEN_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from .config import Config

__all__ = ["Listener", "channel_name"]

log = logging.getLogger("pgqrs")

#: After a failed LISTEN connection, polling only for this long before trying again.
RELISTEN_SECONDS = 30.0


def channel_name(schema: str, queue_id: int) -> str:
    """The NOTIFY channel of one queue: ``pgqrs_<hash of the schema>_<queue id>``.

    Schema names may hold any character and be 63 bytes long, so they are hashed: the channel
    stays a plain lowercase identifier of at most 42 bytes (PostgreSQL allows 63).
    """
    digest = hashlib.blake2s(schema.encode("utf-8"), digest_size=8).hexdigest()
    return f"pgqrs_{digest}_{queue_id}"


class Listener:
    """A dedicated connection that LISTENs on one channel and sets an event on every
    notification.  Waiters clear the event *before* they look at the queue, so a message
    enqueued between that look and the wait still wakes them."""

    def __init__(self, config: Config, channel: str) -> None:
        self._config = config
        self._channel = channel
        self.event = asyncio.Event()
        self._conn: AsyncConnection[Any] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._failed_at: float | None = None

    @property
    def active(self) -> bool:
        """Whether notifications are being received right now."""
        return self._reader is not None and not self._reader.done()

    async def ensure(self) -> bool:
        """Start listening if not yet (or again, ``RELISTEN_SECONDS`` after a failure).

        Returns:
            Whether notifications are being received.  Never raises: on any error the caller
            polls instead.
        """
        if self.active:
            return True
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < RELISTEN_SECONDS:
            return False
        await self._drop()
        try:
            conn = await AsyncConnection.connect(
                self._config.resolved_dsn(),
                autocommit=True,
                connect_timeout=max(1, round(self._config.connect_timeout)),
            )
        except (psycopg.Error, OSError) as exc:
            self._fail(exc)
            return False
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            await conn.close()
            self._fail(exc)
            return False
        self._conn = conn
        self._failed_at = None
        self._reader = asyncio.get_running_loop().create_task(
            self._read(conn), name=f"pgqrs-listen-{self._channel}"
        )
        # Anything enqueued while we were connecting was missed: look once more.
        self.event.set()
        return True

    async def _read(self, conn: AsyncConnection[Any]) -> None:
        try:
            async for _ in conn.notifies():
                self.event.set()
        except psycopg.Error as exc:
            self._fail(exc)
        # Wake the waiter so it notices the listener is gone and polls.
        self.event.set()

    def _fail(self, exc: BaseException) -> None:
        self._failed_at = time.monotonic()
        log.warning("pgqrs: LISTEN on %s unavailable (%s); polling instead", self._channel, exc)

    async def _drop(self) -> None:
        reader, conn = self._reader, self._conn
        self._reader = self._conn = None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                await reader
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        await self._drop()
