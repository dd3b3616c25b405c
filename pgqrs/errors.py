"""The pgqrs exception hierarchy.

Every error pgqrs raises is a :class:`PgqrsError`, which is a ``RuntimeError`` as the seed API
documents.  Some also inherit a builtin so that idiomatic ``except`` clauses keep working: a payload
that cannot be serialised is a ``TypeError``, a bad argument is a ``ValueError``.

psycopg exceptions never reach callers; ``pgqrs._translate`` maps them onto these classes and keeps
the original as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DecodeError",
    "MessageNotFoundError",
    "PayloadTooLargeError",
    "PgqrsConnectionError",
    "PgqrsError",
    "QueueAlreadyExistsError",
    "QueueNotFoundError",
    "SchemaError",
    "SerializationError",
    "ValidationError",
    "WorkerError",
    "WorkerNotFoundError",
]


class PgqrsError(RuntimeError):
    """Root of every error raised by pgqrs."""


class QueueAlreadyExistsError(PgqrsError):
    """``create_queue`` was given the name of an existing queue."""

    def __init__(self, queue_name: str) -> None:
        super().__init__(f"Queue {queue_name!r} already exists")
        self.queue_name = queue_name


class QueueNotFoundError(PgqrsError):
    """The named queue does not exist (or was deleted while in use)."""

    def __init__(self, queue_name: str) -> None:
        super().__init__(f"Queue {queue_name!r} does not exist")
        self.queue_name = queue_name


class WorkerError(PgqrsError):
    """A worker identity conflict or a worker in the wrong state for the call."""


class WorkerNotFoundError(WorkerError):
    """No worker has the given id."""

    def __init__(self, worker_id: int) -> None:
        super().__init__(f"Worker {worker_id} does not exist")
        self.worker_id = worker_id


class MessageNotFoundError(PgqrsError):
    """No message (or archived message) has the given id."""

    def __init__(self, message_id: int, *, table: str = "queue") -> None:
        super().__init__(f"Message {message_id} not found in the {table}")
        self.message_id = message_id


class SerializationError(PgqrsError, TypeError):
    """A payload cannot be encoded as JSON (also a ``TypeError``)."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        #: Position of the offending payload in its batch (``None`` for a single message).
        self.index = index


class ValidationError(PgqrsError, ValueError):
    """An argument is out of range or of the wrong kind (also a ``ValueError``)."""


class DecodeError(PgqrsError, ValueError):
    """A raw value from the server does not have the binary format its column type promises
    (also a ``ValueError``).

    The core decodes PostgreSQL's binary results itself; a wrong length, a non-``bytes`` value,
    a NULL where the column is ``NOT NULL`` or a row with the wrong number of columns raises
    this instead of being misread.  Seeing it means pgqrs and its schema disagree (for example
    a hand-altered table), never bad user input.
    """


class PayloadTooLargeError(ValidationError):
    """A payload's JSON encoding exceeds ``Config.max_payload_bytes``."""

    def __init__(self, size: int, limit: int, *, index: int | None = None) -> None:
        where = "payload" if index is None else f"payload at index {index}"
        super().__init__(
            f"{where} is {size} bytes of JSON, over the limit of {limit} bytes "
            "(Config.max_payload_bytes)"
        )
        self.size = size
        self.limit = limit
        self.index = index


class PgqrsConnectionError(PgqrsError):
    """The database could not be reached or the connection broke."""


class ConfigurationError(PgqrsError):
    """pgqrs and its database do not fit together: prepared statements through a
    transaction-pooling PgBouncer, or a role without the privileges a call needs.  Retrying
    does not help; the message says what to change."""


class SchemaError(PgqrsError):
    """The pgqrs schema is not installed, incomplete, or of another version."""
