"""The parser of every command, and the one place where errors become exit statuses: 0 done,
1 an error (``pgqrs: error: ...`` on stderr, never a traceback, never a password), 2 a usage
error."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Sequence

import psycopg

from .. import __impl__, __version__
from .._dsn import Redactor
from ..config import DSN_ENV
from ..errors import PgqrsError
from . import bench, demo, dlq, maintenance, messages, queues, run, schema, top, workers
from ._common import Commands, Context, HelpFormatter, Parser, UsageError, global_options
from ._output import Output

__all__ = ["build_parser", "main"]

DESCRIPTION = (
    "Operate pgqrs queues in PostgreSQL: install the schema, create and watch queues, enqueue "
    "(one message or a JSON-lines file), look at and acknowledge messages, manage workers and "
    "dead letters, keep the archive pruned and the tables healthy, and run workers around an "
    "async handler.\n\n"
    "Every command takes --dsn (default: $PGQRS_DSN, then libpq's PG* variables), --schema and "
    "--format table|json, before or after the command's name; `pgqrs COMMAND --help` shows "
    "its options and an example. Exit status: 0 done, 1 an error, 2 a usage error."
)

EXAMPLES = """\
example:
  export PGQRS_DSN=postgresql://app@db/app
  pgqrs install
  pgqrs queue create tasks
  pgqrs message enqueue tasks --file jobs.jsonl
  pgqrs run myapp.tasks:handle tasks --concurrency 8
  pgqrs top
"""


def build_parser() -> Parser:
    parser = Parser(
        prog="pgqrs",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        parents=[global_options(defaults=True)],
    )
    parser.add_argument(
        "--version", action="version", version=f"pgqrs {__version__} (core: {__impl__})"
    )
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True
    )
    commands = Commands(subparsers, global_options(defaults=False))
    for module in (schema, queues, messages, workers, dlq, maintenance, run, top, demo, bench):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if rest and not getattr(args, "pgqrs_passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    ctx = Context(args, Output(args.format), rest)
    try:
        status = args.pgqrs_handler(ctx)
        if inspect.iscoroutine(status):
            status = asyncio.run(status)
        return int(status or 0)
    except UsageError as exc:
        parser.exit(2, f"pgqrs: error: {exc}\n")
    except (PgqrsError, psycopg.Error) as exc:  # bench drives psycopg directly for its baselines
        # pgqrs's own errors come masked already; the baselines' raw psycopg ones do not.
        message = Redactor(getattr(args, "dsn", None) or os.environ.get(DSN_ENV)).text(str(exc))
        print(f"pgqrs: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pgqrs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`pgqrs message list q | head`): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
