"""``pgqrs bench`` (also ``python -m pgqrs.bench``): progress on stderr, the Markdown report on
stdout, optionally the JSON of the run.

Without ``--dsn`` (or ``$PGQRS_DSN``) it measures on a throwaway local server with PostgreSQL's
default durability, as users run it; ``--fast-server`` turns fsync, synchronous_commit and
full_page_writes off instead, which shows the client's own costs without the disk's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence

import psycopg

from .._dsn import Redactor
from ..config import DSN_ENV
from ..embedded import given_or_throwaway
from ..errors import PgqrsError
from .catalog import Entry, SelectionError, catalog, group_of, select
from .environment import describe_server
from .report import format_markdown
from .run import run_all
from .sizes import sizes_for

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgqrs bench",
        description="Measure pgqrs against raw psycopg doing the same work in the same run, as "
        "ratios (the targets are in docs/contract.md, Performance targets).",
        epilog="pgqrs bench churn --help: the sustained-churn benchmark (producers and "
        "consumers together for minutes, optionally with a transaction holding back vacuum).",
    )
    parser.add_argument(
        "--dsn", help=f"PostgreSQL to measure (default: ${DSN_ENV}, else a throwaway one)"
    )
    parser.add_argument(
        "--fast-server",
        action="store_true",
        help="throwaway server with fsync, synchronous_commit and full_page_writes off "
        "(default: PostgreSQL's durable defaults)",
    )
    parser.add_argument("--rounds", type=int, help="measured rounds per side (default 15; 3 quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--depth-million", action="store_true", help="depth scenario at 1,000,000 (slow fill)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY[,KEY...]",
        help="run only these measurements: keys or groups from --list (repeatable)",
    )
    parser.add_argument(
        "--all", action="store_true", help="every measurement, not only the standard set"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the measurements' keys and groups, then exit"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser


def _list(entries: Sequence[Entry]) -> str:
    rows = [("key", "group", "standard", "measures")]
    rows += [(e.key, group_of(e.key), "yes" if e.standard else "no", e.title) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + f"  {row[3]}\n"
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pgqrs bench`` with ``argv`` (default: the process's arguments)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["churn"]:
        from .churn.cli import main as churn

        return churn(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    only = [name for value in args.only for name in value.split(",")]
    if only and args.all:
        parser.error("--only and --all exclude each other")
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if dsn and args.fast_server:
        parser.error("--fast-server chooses the throwaway server: it cannot apply to --dsn")
    sizes = sizes_for(quick=args.quick, rounds=args.rounds, depth_million=args.depth_million)
    if args.list:
        sys.stdout.write(_list(catalog("", sizes)))
        return 0
    try:
        select(catalog("", sizes), only, everything=args.all)
    except SelectionError as exc:
        parser.error(str(exc))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # The report quotes the command; a --dsn in it may carry a password.
    redact = Redactor(dsn).text
    command = redact(shlex.join(["pgqrs", "bench", *args_list]))
    try:
        server = describe_server(dsn, args.fast_server, progress)
        with given_or_throwaway(dsn, durable=not args.fast_server) as resolved:
            report = asyncio.run(
                run_all(
                    resolved,
                    sizes,
                    only=only,
                    everything=args.all,
                    progress=progress,
                    server=server,
                    command=command,
                )
            )
    except (PgqrsError, psycopg.Error) as exc:
        # pgqrs's own errors come masked already; the raw baselines' psycopg ones do not.
        print(f"pgqrs: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    sys.stdout.write(format_markdown(report))
    if args.json:
        with open(args.json, "wb") as out:
            out.write(report.to_json())
        progress(f"results written to {args.json}")
    return 0
