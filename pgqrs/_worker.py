"""What producers and consumers share: construction without I/O, registration as a worker
``(hostname, port)`` on first use, and closing (which marks the worker stopped)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from ._impl import core
from ._pool import Database
from ._sql import queries_for
from ._validate import check_name, check_port
from .config import Config, resolve_config
from .errors import QueueNotFoundError

__all__ = ["Worker"]


class Worker:
    """Base of :class:`~pgqrs.Producer` and :class:`~pgqrs.Consumer`."""

    def __init__(
        self,
        dsn: str | None,
        queue: str,
        hostname: str,
        port: int,
        *,
        schema: str | None = None,
        config: Config | None = None,
    ) -> None:
        self._queue_name = check_name("queue", queue)
        self._hostname = check_name("hostname", hostname)
        self._port = check_port(port)
        self._config = resolve_config(dsn, schema, config)
        self._db = Database(self._config)
        self._sql = queries_for(self._config.schema)
        self._worker_id: int | None = None
        self._queue_id: int | None = None

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

    async def _register(self) -> None:
        """Register (or take over) the worker row and resolve the queue, in one statement."""
        rows = await self._db.fetch(
            self._sql.register_worker,
            {"hostname": self._hostname, "port": self._port, "queue_name": self._queue_name},
            queue=self._queue_name,
        )
        if not rows:
            raise QueueNotFoundError(self._queue_name)
        self._worker_id = core.decode_int8(rows[0][0])
        self._queue_id = core.decode_int8(rows[0][1])

    async def _fetch(self, query: bytes, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a hot statement (prepared unless configured off) for this worker's queue."""
        return await self._db.fetch(query, params, queue=self._queue_name, prepare=self._db.prepare)

    def _queue_gone(self) -> QueueNotFoundError:
        """The queue was deleted while in use: resolve it again on the next call."""
        self._worker_id = None
        return QueueNotFoundError(self._queue_name)

    async def close(self) -> None:
        """Mark the worker stopped and close its connections.  The object may be used again
        afterwards: the next call reconnects and registers it anew."""
        try:
            if self._worker_id is not None:
                await self._db.fetch(self._sql.stop_worker, {"worker_id": self._worker_id})
        finally:
            self._worker_id = None
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
