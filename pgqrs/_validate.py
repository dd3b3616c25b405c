"""Argument checks shared by every public entry point, raising :class:`ValidationError` before any
I/O happens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import ValidationError

__all__ = [
    "MAX_ID",
    "MAX_NAME_CHARS",
    "MAX_SCHEMA_BYTES",
    "MAX_SECONDS",
    "check_count",
    "check_id",
    "check_ids",
    "check_int",
    "check_name",
    "check_port",
    "check_schema",
    "check_seconds",
]

#: Upper bound of every seconds argument (delays, leases, retry delays, ``Config`` times): 100
#: years.  Every place a number of seconds goes holds it with room to spare: PostgreSQL's
#: ``make_interval`` and timestamps (int64 microseconds: ~292,000 years, timestamps to 294276
#: AD), the COPY encoder's int64 microseconds, and the decoded ``vt`` (now + 100 years stays
#: inside ``datetime``'s year 9999).  A longer delay or lease is a unit mistake, not a plan.
MAX_SECONDS = 3_155_760_000  # 100 * 365.25 * 86400
_SECONDS_RANGE = f"{MAX_SECONDS} seconds (100 years)"

#: Ids are PostgreSQL ``bigint`` identity/sequence values: they start at 1.
MAX_ID = 2**63 - 1

#: Queue names and hostnames: long enough for any real name, short enough that the unique index
#: entry stays under PostgreSQL's B-tree limit (2704 bytes) even at 4 UTF-8 bytes a character.
MAX_NAME_CHARS = 512

#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1): two long schema names would
#: silently become the same schema.
MAX_SCHEMA_BYTES = 63


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """A finite number of seconds from 0 (or above 0) to :data:`MAX_SECONDS`, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 <= value <= MAX_SECONDS or (positive and value == 0):  # NaN fails every comparison
        lower = "more than 0 and at most" if positive else "0 to"
        raise ValidationError(f"{name} must be {lower} {_SECONDS_RANGE}, got {value!r}")
    return float(value)


def check_int(name: str, value: object, *, minimum: int, maximum: int = MAX_ID) -> int:
    """An ``int`` (not a ``bool``) from ``minimum`` to ``maximum`` (default: the int8 range's
    top, as every integer travels to PostgreSQL as a ``bigint`` at most)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise ValidationError(f"{name} must be at most {maximum}, got {value}")
    return value


def check_count(name: str, value: object) -> int:
    """A positive batch size."""
    return check_int(name, value, minimum=1)


def check_port(value: object) -> int:
    return check_int("port", value, minimum=0, maximum=65535)


def check_name(what: str, value: object) -> str:
    """A non-empty text identifier (queue name, hostname) of at most :data:`MAX_NAME_CHARS`
    characters.  Any other characters are allowed: names travel as parameters or quoted
    identifiers, never spliced into SQL."""
    if not isinstance(value, str) or not value:
        shown = repr(value) if len(repr(value)) <= 80 else type(value).__name__
        raise ValidationError(f"{what} must be a non-empty string, got {shown}")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL characters")
    if len(value) > MAX_NAME_CHARS:
        raise ValidationError(
            f"{what} must be at most {MAX_NAME_CHARS} characters, got {len(value)}"
        )
    return value


def check_schema(value: object) -> str:
    """A schema name: as :func:`check_name`, and at most 63 bytes of UTF-8."""
    name = check_name("Config.schema", value)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_SCHEMA_BYTES:
        raise ValidationError(
            f"Config.schema must be at most {MAX_SCHEMA_BYTES} bytes of UTF-8 (PostgreSQL's "
            f"identifier limit), got {size}"
        )
    return name


def check_id(name: str, value: object) -> int:
    """An id (message, archive, worker, queue): an ``int``, not a ``bool``, 1 to 2**63-1."""
    if type(value) is int and 0 < value <= MAX_ID:  # the common case, cheaply
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer id, not {type(value).__name__}")
    if not 0 < value <= MAX_ID:
        raise ValidationError(f"{name} must be an id from 1 to {MAX_ID}, got {value}")
    return int(value)


def check_ids(value: Iterable[Any], name: str = "message_ids") -> list[int]:
    """A list of ids, each as :func:`check_id`; errors name the argument and the position."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise ValidationError(f"{name} must be a list of integer ids, not {type(value).__name__}")
    ids = list(value)
    for index, item in enumerate(ids):
        if type(item) is not int or not 0 < item <= MAX_ID:
            ids[index] = check_id(f"{name}[{index}]", item)
    return ids
