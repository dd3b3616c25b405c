"""How commands print their results: tables (rich) for people, JSON for scripts.

``--format json`` prints one JSON document per result, and JSON lines (one document per row) for
listings.  Tables show timestamps in UTC to the second, durations in seconds and payloads as
compact JSON, cut short in listings; JSON keeps every field at full precision (timestamps in
RFC 3339, durations as seconds).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TextIO

import orjson

if TYPE_CHECKING:  # imported when a table is drawn: JSON output does not pay for rich
    from rich.console import Console
    from rich.table import Table

__all__ = ["Column", "Output", "cell", "table_of", "to_json"]

#: Widest payload shown in a listing's table cell; ``message get`` shows it whole.
PAYLOAD_CHARS = 60

#: Width of tables printed to a pipe or file, where rich cannot ask a terminal: wide enough that
#: listings do not wrap, so ``grep`` and ``awk`` see one row per line.
PIPE_WIDTH = 200


def _json_default(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def to_json(value: object) -> str:
    """``value`` as one line of JSON (datetimes in RFC 3339, durations in seconds)."""
    return orjson.dumps(value, default=_json_default).decode()


class Column(NamedTuple):
    """One column of a table: its heading, the record key it shows, and how.

    ``kind`` is ``"text"`` (the value as text), ``"json"`` (compact JSON, cut at
    :data:`PAYLOAD_CHARS`) or ``"count"`` (a number, right-aligned with thousands separators).
    """

    title: str
    key: str
    kind: Literal["text", "json", "count"] = "text"


def cell(value: object, kind: str = "text") -> str:
    """A value as a table shows it."""
    if kind == "json":
        shown = to_json(value)
        return shown if len(shown) <= PAYLOAD_CHARS else shown[: PAYLOAD_CHARS - 1] + "…"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.1f} s"
    if isinstance(value, Enum):
        return str(value.value)
    if kind == "count" and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, (str, int)):
        return str(value)
    return to_json(value)


class Output:
    """Where a command's results go (stdout), in the format the user chose.

    Args:
        format: ``"table"`` or ``"json"``.
        stream: the output stream (default: ``sys.stdout``).
    """

    def __init__(self, format: str, stream: TextIO | None = None) -> None:
        self.json = format == "json"
        self.stream = stream if stream is not None else sys.stdout
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The rich console on the output stream (``highlight`` off: values are data)."""
        if self._console is None:
            from rich.console import Console

            terminal = self.stream.isatty()
            self._console = Console(
                file=self.stream,
                highlight=False,
                soft_wrap=False,
                width=None if terminal else PIPE_WIDTH,
            )
        return self._console

    def line(self, text: str) -> None:
        """One line of plain text (never read as rich markup)."""
        self.stream.write(text + "\n")
        self.stream.flush()

    def document(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """One result: a JSON document, or in table mode ``text`` (a sentence), else the
        fields as a two-column table."""
        if self.json:
            self.line(to_json(data))
        elif text is not None:
            self.line(text)
        else:
            from rich.text import Text

            table = _table()
            table.add_column("field")
            table.add_column("value", overflow="fold")
            for key, value in data.items():
                table.add_row(key, Text(to_json(value) if _is_json(value) else cell(value)))
            self.console.print(table)

    def listing(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> None:
        """Many results: JSON lines (every field of every row), or a table of ``columns``."""
        if self.json:
            for row in rows:
                self.stream.write(to_json(row) + "\n")
            self.stream.flush()
            return
        self.console.print(table_of(rows, columns))


def _is_json(value: object) -> bool:
    return isinstance(value, (dict, list))


def _table() -> Table:
    from rich import box
    from rich.table import Table

    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def table_of(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], title: str | None = None
) -> Table:
    """A rich table of ``rows`` showing ``columns``."""
    from rich.text import Text

    table = _table()
    if title is not None:
        table.title = Text(title)
    for column in columns:
        table.add_column(
            column.title,
            justify="right" if column.kind == "count" else "left",
            overflow="fold",
        )
    for row in rows:
        # Text, not str: a payload such as {"x": "[red]"} must not be read as markup.
        table.add_row(*(Text(cell(row.get(c.key), c.kind)) for c in columns))
    return table
