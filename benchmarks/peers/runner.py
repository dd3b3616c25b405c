"""pgqrs side by side with the peer Python queues, each against the same-run raw baseline.

    .venv/bin/python benchmarks/peers/runner.py [--json PATH] [--peers KEY,...] [--rounds N]
                                                [--quick] [--dsn DSN] [--install-only]

(``make bench-peers``.)  One durable throwaway PostgreSQL (``pgqrs.embedded``, PostgreSQL's
default fsync, synchronous_commit and full_page_writes) serves everything, unless ``--dsn``
names a server; each peer gets a database of its own on it, and the raw baseline another.  The
peers run one after the other, each in a process under its own virtualenv (``venvs.py``),
driven through ``protocol.py``.

Every operation of every peer is a :class:`~pgqrs.bench.harness.Scenario` of ``pgqrs bench``:
the peer's side and the bench's physical limit for that operation (raw synchronous psycopg on a
lean table, ``pgqrs.bench.scenarios.limit``: binary COPY, prepared INSERT + commit, the SKIP
LOCKED dequeue + archive loop) alternate round by round on the same server, and the result is
the ratio of their medians.  Progress goes to stderr; the
JSON of the run goes to ``--json`` (``scripts/peers_readme.py`` turns it into the README table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from pgqrs.bench.environment import DURABLE_SERVER, environment
from pgqrs.bench.harness import Case, Scenario, compare
from pgqrs.bench.scenarios.limit import LeanDrain, LeanEnqueue
from pgqrs.bench.schema import BenchSchema, check_drained, connect, make_payloads
from pgqrs.embedded import given_or_throwaway

from protocol import LINE_LIMIT
from registry import PEERS, PeerSpec
from venvs import interpreter

__all__ = ["OPERATIONS", "Operation", "PeerError", "PeerSizes", "main", "run_peers"]

HERE = Path(__file__).resolve().parent
Say = Callable[[str], None]
# Seconds a peer gets to answer one command: far more than the slowest peer's run takes (a few
# seconds), but a hung peer must not hang the run.
REPLY_TIMEOUT = 600.0


@dataclass(frozen=True)
class PeerSizes:
    """Rounds, and messages per run of each operation (a peer's ``scale`` may shrink them)."""

    rounds: int = 7
    warmup: int = 1
    batch: int = 1_000
    batch_messages: int = 10_000
    single_messages: int = 500
    drain_batch: int = 100
    drain_messages: int = 5_000
    consume_messages: int = 5_000


QUICK_SIZES = PeerSizes(
    rounds=1, batch_messages=2_000, single_messages=50, drain_messages=500, consume_messages=500
)


@dataclass(frozen=True)
class Operation:
    """One measured operation: what the peer does (``op`` of the protocol) and the physical
    limit of ``pgqrs bench`` (raw synchronous psycopg on a lean table) it is compared with."""

    key: str
    op: str
    title: str
    baseline_title: str
    #: The peer's queue is filled before each round (the operation drains it).
    drains: bool

    def batch(self, sizes: PeerSizes) -> int:
        return {"enqueue_batch": sizes.batch, "enqueue": 1}.get(self.op, sizes.drain_batch)

    def messages(self, sizes: PeerSizes, spec: PeerSpec) -> int:
        standard = {
            "enqueue_batch": sizes.batch_messages,
            "enqueue": sizes.single_messages,
            "dequeue_ack": sizes.drain_messages,
            "consume": sizes.consume_messages,
        }[self.op]
        batch = self.batch(sizes)
        wanted = standard * spec.scale.get(self.key, 1.0)
        return max(batch, round(wanted / batch) * batch)

    def baseline(self, schema: BenchSchema, sizes: PeerSizes, messages: int) -> Case:
        if self.op == "enqueue_batch":
            return LeanEnqueue(schema, batch=sizes.batch, messages=messages)
        if self.op == "enqueue":
            return LeanEnqueue(schema, batch=None, messages=messages)
        return LeanDrain(schema, sizes.drain_batch, messages)


OPERATIONS = (
    Operation(
        "enqueue_batch@1000",
        "enqueue_batch",
        "batch enqueue, 1,000 per batch",
        "sync binary COPY of 1,000 rows per transaction",
        drains=False,
    ),
    Operation(
        "enqueue",
        "enqueue",
        "single enqueue, sequential",
        "sync prepared INSERT + commit per message",
        drains=False,
    ),
    Operation(
        "dequeue+ack@100",
        "dequeue_ack",
        "dequeue + ack, batch 100, 1 consumer",
        "sync SKIP LOCKED dequeue + archive loop, batch 100",
        drains=True,
    ),
    Operation(
        "consume@100",
        "consume",
        "consume loop (worker), batch 100",
        "sync SKIP LOCKED dequeue + archive loop, batch 100",
        drains=True,
    ),
)


class PeerError(RuntimeError):
    """A peer process failed a command, or went away."""


class PeerProcess:
    """One peer's process and a maintenance connection to its database."""

    def __init__(self, spec: PeerSpec, proc: asyncio.subprocess.Process, dsn: str) -> None:
        self.spec, self.proc, self.dsn = spec, proc, dsn
        self.tables: list[str] = []

    @classmethod
    async def start(cls, spec: PeerSpec, python: Path, dsn: str) -> PeerProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        proc = await asyncio.create_subprocess_exec(
            str(python),
            str(HERE / spec.script),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
            env=env,
        )
        return cls(spec, proc, dsn)

    async def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command and return the peer's reply."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), REPLY_TIMEOUT)
        if not line:
            code = await self.proc.wait()
            raise PeerError(f"{self.spec.key}: the peer process exited (code {code}) on {cmd!r}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.pop("ok"):
            raise PeerError(f"{self.spec.key}: {cmd} failed: {reply['error']}")
        return reply

    async def open(self) -> dict[str, Any]:
        fields = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(self.dsn).items()}
        opened = await self.call("open", conn=fields)
        self.tables = list(opened["tables"])
        return opened

    async def empty(self) -> None:
        """Empty the peer's tables.  ``CASCADE`` also empties the tables that reference them
        (procrastinate's periodic defers, the Rust pgqrs's workflow runs), which the benchmark
        never fills."""
        await self._maintain(sql.SQL("TRUNCATE {} CASCADE"))

    async def settle(self) -> None:
        """``VACUUM ANALYZE`` the peer's tables, as ``pgqrs bench`` settles its own."""
        await self._maintain(sql.SQL("VACUUM ANALYZE {}"))

    async def _maintain(self, statement: sql.SQL) -> None:
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in self.tables)
        async with await connect(self.dsn) as conn:
            await conn.execute(statement.format(tables))

    async def close(self) -> None:
        try:
            if self.proc.returncode is None:
                await self.call("close")
        finally:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class PeerCase(Case):
    """A peer's side of one operation: each round starts from emptied tables (filled again
    for the draining operations, then ``VACUUM ANALYZE``d); ``run`` is the operation."""

    def __init__(self, peer: PeerProcess, operation: Operation, batch: int, messages: int) -> None:
        self.label = peer.spec.key
        self.peer, self.operation, self.batch, self.messages = peer, operation, batch, messages

    async def open(self) -> None:
        await self.peer.call("load", payloads=make_payloads(self.messages))

    async def prepare(self) -> None:
        await self.peer.empty()
        if self.operation.drains:
            await self.peer.call("fill")
        await self.peer.settle()

    async def run(self) -> None:
        reply = await self.peer.call("run", op=self.operation.op, batch=self.batch)
        check_drained(reply["handled"], self.messages)


async def _create_database(dsn: str, name: str) -> str:
    async with await connect(dsn) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(dsn, dbname=name)


async def _drop_database(dsn: str, name: str) -> None:
    async with await connect(dsn) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        await conn.execute(drop)


async def _measure_peer(
    spec: PeerSpec, dsn: str, raw_dsn: str, sizes: PeerSizes, say: Say
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every operation of one peer, in a database of its own."""
    database = f"peers_{spec.key.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    peer_dsn = await _create_database(dsn, database)
    results: list[dict[str, Any]] = []
    try:
        peer = await PeerProcess.start(spec, interpreter(spec, say), peer_dsn)
        try:
            opened = await peer.open()
            info = {
                "key": spec.key,
                "label": spec.label,
                "library": opened["library"],
                "versions": opened["versions"],
                "calls": opened["calls"],
            }
            for operation in OPERATIONS:
                results.append(await _measure(peer, operation, opened, raw_dsn, sizes, say))
        finally:
            await peer.close()
    finally:
        await _drop_database(dsn, database)
    return info, results


async def _measure(
    peer: PeerProcess,
    operation: Operation,
    opened: dict[str, Any],
    raw_dsn: str,
    sizes: PeerSizes,
    say: Say,
) -> dict[str, Any]:
    spec = peer.spec
    entry: dict[str, Any] = {
        "peer": spec.key,
        "operation": operation.key,
        "op": operation.op,
        "title": operation.title,
        "baseline": operation.baseline_title,
    }
    why = opened["unsupported"].get(operation.op)
    if why is not None:
        say(f"{spec.key}: {operation.title}: n/a ({why})")
        return {**entry, "status": "n/a", "reason": why}
    batch, messages = operation.batch(sizes), operation.messages(sizes, spec)
    schema = BenchSchema(raw_dsn, f"{operation.op}_{spec.key.replace('-', '_')}")
    scenario = Scenario(
        key=f"{spec.key}:{operation.key}",
        title=f"{spec.label}: {operation.title} vs {operation.baseline_title}",
        pgqrs=PeerCase(peer, operation, batch, messages),
        baseline=operation.baseline(schema, sizes, messages),
        schemas=[schema],
    )
    say(f"{spec.key}: {operation.title}, {messages:,} messages per run")
    try:
        result = await compare(scenario, sizes.rounds, warmup=sizes.warmup, progress=say)
    except (PeerError, psycopg.Error, RuntimeError) as exc:
        say(f"  -> FAILED: {exc}")
        return {**entry, "status": "error", "reason": str(exc)}
    say(f"  -> ratio {result.ratio:.2f}")
    measured = result.to_dict()
    return {
        **entry,
        "status": "ok",
        "messages": messages,
        "ratio": result.ratio,
        "peer_rate": result.pgqrs.median_rate,
        "baseline_rate": result.baseline.median_rate,
        "round_ratios": measured["round_ratios"],
        "peer_seconds": result.pgqrs.seconds,
        "baseline_seconds": result.baseline.seconds,
    }


async def run_peers(
    dsn: str, specs: Sequence[PeerSpec], sizes: PeerSizes, *, server: str, command: str, say: Say
) -> dict[str, Any]:
    """Measure ``specs`` one after the other on ``dsn``; the JSON-ready record of the run."""
    raw_database = f"peers_raw_{uuid.uuid4().hex[:6]}"
    raw_dsn = await _create_database(dsn, raw_database)
    peers: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    try:
        env = await environment(raw_dsn, server)
        for spec in specs:
            info, measured = await _measure_peer(spec, dsn, raw_dsn, sizes, say)
            peers.append(info)
            results += measured
    finally:
        await _drop_database(dsn, raw_database)
    return {
        "kind": "pgqrs-peers",
        "environment": env,
        "command": command,
        "sizes": asdict(sizes),
        "peers": peers,
        "results": results,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--json", metavar="PATH", type=Path, help="write the run's JSON here")
    parser.add_argument(
        "--peers",
        default=",".join(spec.key for spec in PEERS),
        help="comma-separated peers to run (default: all: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, help="measured rounds per side (default 7)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 round: a smoke run")
    parser.add_argument("--dsn", help="an existing server (its role needs CREATEDB)")
    parser.add_argument(
        "--install-only", action="store_true", help="create the peers' virtualenvs, then exit"
    )
    return parser


def _selected(keys: str, parser: argparse.ArgumentParser) -> list[PeerSpec]:
    known = {spec.key: spec for spec in PEERS}
    wanted = [key.strip() for key in keys.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in known]
    if unknown or not wanted:
        parser.error(f"unknown peers {unknown}; known: {', '.join(known)}")
    return [known[key] for key in wanted]


def _command(argv: Sequence[str]) -> str:
    # The output path and the server are not part of what reproduces the figures.
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--dsn"):
            skip = True
        elif not arg.startswith(("--json=", "--dsn=")):
            kept.append(arg)
    return shlex.join(kept)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    specs = _selected(args.peers, parser)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    for spec in specs:
        interpreter(spec, say)
    if args.install_only:
        return 0
    sizes = QUICK_SIZES if args.quick else PeerSizes()
    if args.rounds is not None:
        sizes = replace(sizes, rounds=args.rounds)
    server = "given server (--dsn)" if args.dsn else DURABLE_SERVER
    with given_or_throwaway(args.dsn, durable=True) as dsn:
        record = asyncio.run(
            run_peers(dsn, specs, sizes, server=server, command=_command(args_list), say=say)
        )
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
        say(f"wrote {args.json}")
    failed = [r for r in record["results"] if r["status"] == "error"]
    for entry in failed:
        say(f"FAILED {entry['peer']} {entry['operation']}: {entry['reason']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
