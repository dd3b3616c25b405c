"""The one place where psycopg errors become pgqrs errors.

The database layer (``pgqrs._database``) routes every ``psycopg.Error`` here and raises the
result ``from`` the original, so the cause stays inspectable.
"""

from __future__ import annotations

import re

import psycopg

from .errors import (
    ConfigurationError,
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
_PROTOCOL_VIOLATION = "08P01"
_INSUFFICIENT_PRIVILEGE = "42501"
# duplicate_prepared_statement, invalid_sql_statement_name, and the protocol violation of a
# Bind to a statement of the same name but other parameters.
_PREPARED_CLASH = {"42P05", "26000", _PROTOCOL_VIOLATION}
# The names of server-side prepared statements, psycopg's (_pg3_<n>) and pgqrs._lane's
# (pgqrs_<statement>_<oids>).  The name is matched, not the message, which the server may send
# in another language.
_PREPARED_NAME = re.compile(r"\b(_pg3_\d+|pgqrs_\w+_[\d_]+)\b")

#: What to do when prepared statements meet a transaction-pooling proxy.
PGBOUNCER_ADVICE = (
    "this happens behind PgBouncer in transaction pooling mode, which runs each transaction "
    "on whichever server connection is free, so a statement prepared on one is missing or "
    "taken on another (and LISTEN does not survive either). Use "
    "Config(prepare=False, listen=False) for a transaction-pooling PgBouncer"
)


def lock_not_available(exc: PgqrsError) -> bool:
    """Whether ``exc`` came from a lock that ``lock_timeout`` gave up on (SQLSTATE 55P03)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.Error) and cause.sqlstate == "55P03"


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
    if isinstance(exc, psycopg.OperationalError) and state is None:
        return PgqrsConnectionError(f"cannot use the PostgreSQL connection: {detail}")
    if state is None:
        return PgqrsError(f"psycopg error: {detail}")
    if state in _PREPARED_CLASH and _PREPARED_NAME.search(detail):
        return ConfigurationError(
            f"server-side prepared statements do not work on this connection ({detail} "
            f"[{state}]): {PGBOUNCER_ADVICE}"
        )
    if state == _PROTOCOL_VIOLATION:
        # The server (or a proxy) refused a message: a fault in what was sent, not a lost link.
        return PgqrsError(f"protocol error [{state}]: {detail}")
    if state.startswith(("08", "57P")):
        return PgqrsConnectionError(f"cannot use the PostgreSQL connection: {detail}")
    if state == _INSUFFICIENT_PRIVILEGE:
        return ConfigurationError(
            f"{detail} [{state}]: the role lacks a privilege. Admin.install() must run as the "
            f"owner of schema {schema!r}, or with CREATE on the database to create it; "
            "producers and consumers need only USAGE on the schema and the DML grants on the "
            "pgqrs tables (README, Least privilege)"
        )
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
