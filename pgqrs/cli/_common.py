"""What the commands share: the parser (usage errors print ``pgqrs: error: ...`` and exit 2),
the global options, argument types, worker identities and the context a command runs in."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import socket
import sys
import textwrap
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .._validate import MAX_SECONDS
from ..admin import Admin
from ..config import DSN_ENV, Config, resolve_config
from ..consumer import Consumer
from ..errors import PgqrsError
from ..producer import Producer
from ._output import Output

__all__ = [
    "OPERATOR_HOSTNAME",
    "OPERATOR_PORT",
    "CommandError",
    "Commands",
    "Context",
    "Handler",
    "HelpFormatter",
    "Parser",
    "UsageError",
    "add_identity",
    "add_paging",
    "add_stale_after",
    "message_id",
    "non_negative_int",
    "on_signals",
    "port_number",
    "positive_int",
    "positive_seconds",
    "seconds",
    "worker_id",
]

#: Identity of the message commands (``message enqueue``, ``dequeue``, ``archive``, ``delete``,
#: ``release``): one consumer per host, reused by every such command.  So the messages leased by
#: ``pgqrs message dequeue`` can be archived, deleted or released by the next command, which is
#: the same worker (only a lease holder may acknowledge a leased message).
OPERATOR_HOSTNAME = f"pgqrs-cli@{socket.gethostname()}"
OPERATOR_PORT = 1


class CommandError(PgqrsError):
    """A command could not do what it was asked (the message says why); exit status 1."""


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2, like argparse's own."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of prose to the terminal; keeps indented lines (the examples) as they
    are written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line
            if not line.strip() or line.startswith(" ")
            else textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent)
            for line in text.splitlines()
        )


class Parser(argparse.ArgumentParser):
    """argparse with pgqrs's error line: the usage, then ``pgqrs: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"pgqrs: error: {message}\n")


@dataclass(frozen=True)
class Context:
    """A parsed command line and where its results go."""

    args: argparse.Namespace
    out: Output
    #: The arguments after the command's name, for a command that parses its own.
    rest: Sequence[str] = ()

    @property
    def dsn(self) -> str | None:
        dsn: str | None = getattr(self.args, "dsn", None)
        return dsn

    @property
    def schema(self) -> str | None:
        schema: str | None = getattr(self.args, "schema", None)
        return schema

    def config(self) -> Config:
        """The client configuration of ``--dsn`` and ``--schema`` (else the defaults), and of
        ``--stale-after`` for the commands that have it."""
        stale_after: float | None = getattr(self.args, "stale_after", None)
        return resolve_config(self.dsn, self.schema, Config(stale_after=stale_after))

    def admin(self) -> Admin:
        return Admin(config=self.config())

    def producer(self, queue: str) -> Producer:
        """A producer on ``queue`` as ``--hostname``/``--port``."""
        return Producer(None, queue, self.args.hostname, self.args.port, config=self.config())

    def consumer(self, queue: str) -> Consumer:
        """A consumer on ``queue`` as ``--hostname``/``--port``."""
        return Consumer(None, queue, self.args.hostname, self.args.port, config=self.config())

    async def health_warnings(self, admin: Admin) -> None:
        """Print ``Admin.health()``'s warnings on stderr, after a table of queues or workers:
        an operator looking at either then sees what predicts trouble (a held vacuum horizon,
        dead tuples piling up) without asking.  JSON output stays one shape; a health query
        that fails leaves the command's own result alone."""
        if self.out.json:
            return
        try:
            found = (await admin.health()).warnings
        except PgqrsError:
            return
        for warning in found:
            sys.stderr.write(f"warning: {warning} (see pgqrs maintenance health)\n")


#: What a command runs: given the context, it prints its results and returns the exit status
#: (``None``: 0).  Coroutine functions run under ``asyncio.run``.
Handler = Callable[[Context], int | Coroutine[Any, Any, int | None] | None]


def global_options(*, defaults: bool) -> Parser:
    """``--dsn``, ``--schema`` and ``--format``, accepted before the command and after it.

    The copy on each command has no defaults (``SUPPRESS``), so a value given before the command
    is not overwritten by the command's own default.
    """
    parser = Parser(add_help=False)
    group = parser.add_argument_group("connection and output")

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    group.add_argument(
        "--dsn",
        default=default(None),
        help=f"PostgreSQL connection string (default: ${DSN_ENV}, then libpq's PG* variables)",
    )
    group.add_argument(
        "--schema", default=default(None), help="schema holding the pgqrs tables (default: public)"
    )
    group.add_argument(
        "--format",
        choices=("table", "json"),
        default=default("table"),
        help="table for people (default), json for scripts: one document, or JSON lines for "
        "listings",
    )
    return parser


class Commands:
    """A group of subcommands; each command gets the global options, a help text with an
    example, and its handler."""

    def __init__(self, subparsers: argparse._SubParsersAction[Parser], common: Parser) -> None:
        self._subparsers = subparsers
        self._common = common

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        help: str,
        example: str | Sequence[str],
        description: str | None = None,
        aliases: Sequence[str] = (),
        common: bool = True,
    ) -> Parser:
        """A command ``name`` that runs ``handler``.

        Args:
            help: one line for the group's list of commands.
            example: command lines shown under "example" (``pgqrs ...``).
            description: the longer text of ``--help`` (default: ``help``).
            common: whether it takes the global options.
        """
        examples = [example] if isinstance(example, str) else list(example)
        parser = self._subparsers.add_parser(
            name,
            help=help,
            aliases=list(aliases),
            description=description or help[:1].upper() + help[1:] + ".",
            epilog="example:\n" + "\n".join(f"  {line}" for line in examples),
            formatter_class=HelpFormatter,
            parents=[self._common] if common else [],
        )
        parser.set_defaults(pgqrs_handler=handler)
        return parser

    def passthrough(self, name: str, handler: Handler, *, help: str) -> None:
        """A command that parses its own arguments: ``handler`` finds them in
        :attr:`Context.rest` (its ``--help`` is its own, too)."""
        parser = self._subparsers.add_parser(name, help=help, add_help=False)
        parser.set_defaults(pgqrs_handler=handler, pgqrs_passthrough=True)

    def group(self, name: str, *, help: str) -> Commands:
        """A command with subcommands of its own (``pgqrs queue ...``)."""
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=help[:1].upper() + help[1:] + ".",
            formatter_class=HelpFormatter,
        )
        subparsers = parser.add_subparsers(
            title="commands", metavar="COMMAND", dest=f"{name}_command", required=True
        )
        return Commands(subparsers, self._common)


def add_identity(parser: Parser, *, hostname: str, port: int, what: str) -> None:
    """``--hostname`` and ``--port``: the worker identity a command acts as."""
    parser.add_argument(
        "--hostname",
        default=hostname,
        metavar="H",
        help=f"worker identity, first half (default: {what})",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        metavar="P",
        default=port,
        help=f"worker identity, second half, 0-65535 (default: {port})",
    )


def add_paging(parser: Parser) -> None:
    """``--limit`` and ``--offset`` of a listing (by id)."""
    parser.add_argument(
        "--limit", type=positive_int, default=100, metavar="N", help="at most N (default 100)"
    )
    parser.add_argument(
        "--offset", type=non_negative_int, default=0, metavar="N", help="skip the first N"
    )


@contextlib.contextmanager
def on_signals(received: Callable[[int], None]) -> Iterator[None]:
    """Call ``received(signum)`` on SIGTERM and SIGINT while the block runs (in the event loop;
    on Windows, which has no loop signal handlers, from the signal through the loop)."""
    loop = asyncio.get_running_loop()
    wanted = (signal.SIGTERM, signal.SIGINT)
    try:
        for signum in wanted:
            loop.add_signal_handler(signum, received, signum)
    except NotImplementedError:
        for signum in wanted:
            signal.signal(signum, lambda s, _frame: loop.call_soon_threadsafe(received, s))
        yield
        return
    try:
        yield
    finally:
        for signum in wanted:
            loop.remove_signal_handler(signum)


def add_stale_after(parser: Parser) -> None:
    """``--stale-after``: when a worker counts as stale, for the commands that judge it."""
    parser.add_argument(
        "--stale-after",
        type=positive_seconds,
        metavar="S",
        help="a worker is stale after this many seconds without a heartbeat (default 90: "
        "three heartbeat intervals)",
    )


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    value: int = _number(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value: int = _number(text, int, "an integer, 0 or more")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer, 0 or more, got {text!r}")
    return value


def _an_id(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value: int = _number(text, int, f"a {what} (a positive integer)")
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be a {what} (a positive integer), got {text!r}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return parse


message_id = _an_id("message id")
worker_id = _an_id("worker id")


def port_number(text: str) -> int:
    value: int = _number(text, int, "a port number (0-65535)")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0-65535), got {text!r}")
    return value


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (fractions allowed)."""
    value: float = _number(text, float, "a number of seconds")
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds from 0 to {MAX_SECONDS}, got {text!r}"
        )
    return value


def positive_seconds(text: str) -> float:
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value
