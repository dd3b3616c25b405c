"""``pgqrs bench churn``: the sustained-churn benchmark; progress on stderr, the Markdown report
on stdout, optionally the JSON of the run.  Like ``pgqrs bench`` it runs on a throwaway server
with PostgreSQL's default durability unless given ``--dsn`` or ``--fast-server``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence

import psycopg

from ..._dsn import Redactor
from ...config import DSN_ENV
from ...embedded import given_or_throwaway
from ...errors import PgqrsError
from ..environment import describe_server, environment
from .report import churn_json, churn_markdown
from .run import run_churn
from .settings import ChurnSettings, storage_parameter

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    defaults = ChurnSettings()
    parser = argparse.ArgumentParser(
        prog="pgqrs bench churn",
        description="Producers and consumers together at a steady offered rate, reported per "
        "interval: throughput in and out, enqueue->archive latency, sizes and dead tuples of "
        "the live table, its indexes and the archive.  The targets are ratios within the run "
        "(docs/contract.md, Performance targets).",
    )
    parser.add_argument(
        "--dsn", help=f"PostgreSQL to measure (default: ${DSN_ENV}, else a throwaway one)"
    )
    parser.add_argument(
        "--fast-server",
        action="store_true",
        help="throwaway server with fsync, synchronous_commit and full_page_writes off",
    )
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument("--interval", type=float, default=defaults.interval, help="seconds")
    parser.add_argument("--rate", type=int, default=defaults.rate, help="msg/s offered in all")
    parser.add_argument("--producers", type=int, default=defaults.producers)
    parser.add_argument("--batch", type=int, default=defaults.batch, help="per enqueue_batch")
    parser.add_argument("--consumers", type=int, default=defaults.consumers)
    parser.add_argument("--consumer-batch", type=int, default=defaults.consumer_batch)
    parser.add_argument(
        "--holder",
        action="store_true",
        help="hold a REPEATABLE READ transaction open in the middle of the run",
    )
    parser.add_argument("--holder-start", type=float, help="minute it opens (default: a third)")
    parser.add_argument("--holder-minutes", type=float, help="how long (default: a third)")
    parser.add_argument(
        "--archive-retention",
        type=float,
        metavar="SECONDS",
        help="archive window: the workers' maintenance prunes it during the run",
    )
    parser.add_argument(
        "--storage",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a storage parameter set on the live table first (repeatable), e.g. "
        "autovacuum_vacuum_scale_factor=0",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the run as JSON")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``pgqrs bench churn`` with ``argv`` (the arguments after ``churn``)."""
    args_list = list(argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if dsn and args.fast_server:
        parser.error("--fast-server chooses the throwaway server: it cannot apply to --dsn")
    try:
        settings = ChurnSettings(
            minutes=args.minutes,
            interval=args.interval,
            rate=args.rate,
            producers=args.producers,
            batch=args.batch,
            consumers=args.consumers,
            consumer_batch=args.consumer_batch,
            holder=args.holder,
            holder_start=args.holder_start,
            holder_minutes=args.holder_minutes,
            archive_retention=args.archive_retention,
            storage=tuple(storage_parameter(p) for p in args.storage),
        )
    except PgqrsError as exc:
        parser.error(str(exc))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    redact = Redactor(dsn).text
    command = redact(shlex.join(["pgqrs", "bench", "churn", *args_list]))
    try:
        server = describe_server(dsn, args.fast_server, progress)
        with given_or_throwaway(dsn, durable=not args.fast_server) as resolved:
            run = asyncio.run(run_churn(resolved, settings, progress))
            run.environment = asyncio.run(environment(resolved, server))
            run.command = command
    except (PgqrsError, psycopg.Error) as exc:
        print(f"pgqrs: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    sys.stdout.write(churn_markdown(run))
    if args.json:
        with open(args.json, "wb") as out:
            out.write(churn_json(run))
        progress(f"results written to {args.json}")
    return 0
