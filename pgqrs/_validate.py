"""Argument checks shared by every public entry point, raising :class:`ValidationError` before any
I/O happens."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .errors import ValidationError

__all__ = ["check_count", "check_ids", "check_int", "check_name", "check_port", "check_seconds"]


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """A finite, non-negative (or positive) number of seconds, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        bound = "positive" if positive else "zero or more"
        raise ValidationError(f"{name} must be {bound} seconds, got {value!r}")
    return seconds


def check_int(name: str, value: object, *, minimum: int) -> int:
    """An ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_count(name: str, value: object) -> int:
    """A positive batch size."""
    return check_int(name, value, minimum=1)


def check_port(value: object) -> int:
    port = check_int("port", value, minimum=0)
    if port > 65535:
        raise ValidationError(f"port must be at most 65535, got {port}")
    return port


def check_name(what: str, value: object) -> str:
    """A non-empty text identifier (queue name, hostname, schema).  Any characters are allowed:
    names travel as parameters or quoted identifiers, never spliced into SQL."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL characters")
    return value


def check_ids(value: Iterable[Any]) -> list[int]:
    """A list of message ids."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(f"message ids must be a sequence of integers, not {value!r}")
    ids = list(value)
    for item in ids:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValidationError(f"message ids must be integers, got {item!r}")
    return ids
