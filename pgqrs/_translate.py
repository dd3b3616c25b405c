"""The one place where psycopg errors become pgqrs errors.

Callers wrap database work in ``Database.connection()``, which routes every ``psycopg.Error``
here and raises the result ``from`` the original, so the cause stays inspectable.
"""

from __future__ import annotations

import psycopg

from .errors import (
    PgqrsConnectionError,
    PgqrsError,
    QueueNotFoundError,
    SchemaError,
    SerializationError,
    ValidationError,
)

__all__ = ["translate"]

# SQLSTATEs (PostgreSQL "Appendix A. Error Codes").
_SCHEMA_MISSING = {"42P01", "42704", "3F000", "42883"}  # table, object, schema, function
_BAD_JSON = {"22P02", "22P05", "22025"}  # invalid text, untranslatable char, bad escape
_FOREIGN_KEY = "23503"
_TOO_LARGE = {"54000"}  # program_limit_exceeded: jsonb over 255 MiB


def translate(exc: psycopg.Error, *, schema: str, queue: str | None = None) -> PgqrsError:
    """Map a psycopg error onto the pgqrs hierarchy.

    Args:
        exc: the error psycopg raised.
        schema: schema the statement ran against, named in schema errors.
        queue: queue the statement concerned, if any, named in queue errors.
    """
    state = exc.sqlstate
    detail = (exc.diag.message_primary or str(exc)).strip()
    # psycopg reports a failed or lost connection as OperationalError, usually without SQLSTATE;
    # other SQLSTATE-less errors are client-side misuse, not connectivity.
    lost = isinstance(exc, psycopg.OperationalError) and state is None
    if lost or (state is not None and state.startswith(("08", "57P"))):
        return PgqrsConnectionError(f"cannot use the PostgreSQL connection: {detail}")
    if state is None:
        return PgqrsError(f"psycopg error: {detail}")
    if state in _SCHEMA_MISSING:
        return SchemaError(
            f"pgqrs is not installed in schema {schema!r} ({detail}); run Admin.install()"
        )
    if state == _FOREIGN_KEY and queue is not None:
        return QueueNotFoundError(queue)
    if state in _BAD_JSON:
        return SerializationError(f"PostgreSQL rejected a payload: {detail}")
    if state in _TOO_LARGE:
        return ValidationError(f"PostgreSQL rejected a value as too large: {detail}")
    return PgqrsError(f"database error [{state}]: {detail}")
