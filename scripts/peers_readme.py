"""Write the README's peer comparison from the JSON of a ``make bench-peers`` run.

    .venv/bin/python scripts/peers_readme.py RUN.json [--readme README.md]

Replaces what lies between ``<!-- peers:start -->`` and ``<!-- peers:end -->`` in the README
(the marker mechanism of ``scripts/bench_readme.py``) with one table: an operation per row, a
peer per column, each cell the peer's ratio to the raw psycopg baseline measured in the same
run and its rate; "n/a" where a peer has no equivalent operation, with the reason below.  Then
what each peer called, and a "Reproducing" paragraph: versions of every peer, the server, the
machine and the command.  ``--readme -`` prints the block instead.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_readme import README, replace_block

START, END = "<!-- peers:start -->", "<!-- peers:end -->"

Run = Mapping[str, Any]


class RunError(ValueError):
    """The JSON is not a peer run, or misses what the table needs."""


def _peer_heading(peer: Mapping[str, Any]) -> str:
    version = peer.get("versions", {}).get(peer.get("library", ""), "")
    label = str(peer["label"])
    # "pgqrs (Rust, PyPI)" + "0.15.3" -> "pgqrs 0.15.3 (Rust, PyPI)"
    name, paren, rest = label.partition(" (")
    return f"{name} {version}{paren}{rest}".strip() if version else label


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _cell(entry: Mapping[str, Any] | None, best: float, notes: list[tuple[str, str]]) -> str:
    """One peer's cell of a row; an n/a cell adds its footnote to ``notes``."""
    if entry is None:
        return "—"
    status = entry.get("status")
    if status == "n/a":
        notes.append((str(entry["peer"]), str(entry.get("reason", ""))))
        return f"n/a [{len(notes)}]"
    if status == "error":
        return "failed"
    ratio = float(entry["ratio"])
    text = f"**{ratio:.2f}**" if ratio == best else f"{ratio:.2f}"
    return f"{text} ({_rate(float(entry['peer_rate']))})"


def _baseline_range(entries: Sequence[Mapping[str, Any]]) -> str:
    rates = [float(e["baseline_rate"]) for e in entries if e.get("status") == "ok"]
    if not rates:
        return ""
    low, high = min(rates), max(rates)
    if round(low, -2) == round(high, -2):
        return f" ({_rate(low)})"
    return f" ({low:,.0f} to {_rate(high)})"


def table(run: Run) -> list[str]:
    """The comparison table and its footnotes, as Markdown lines."""
    peers = list(run.get("peers", ()))
    results = list(run.get("results", ()))
    if not peers or not results:
        raise RunError("the run has no peers or no results: is it the JSON of make bench-peers?")
    order = [str(p["key"]) for p in peers]
    by_cell = {(r["peer"], r["operation"]): r for r in results}
    operations: dict[str, list[Mapping[str, Any]]] = {}
    for entry in results:
        operations.setdefault(str(entry["operation"]), []).append(entry)

    lines = [
        "| operation | raw baseline: sync psycopg, lean table (its rate in each peer's run) | "
        + " | ".join(_peer_heading(p) for p in peers)
        + " |",
        "|---|---|" + "---:|" * len(peers),
    ]
    notes: list[tuple[str, str]] = []
    for key, entries in operations.items():
        first = entries[0]
        ratios = [float(e["ratio"]) for e in entries if e.get("status") == "ok"]
        best = max(ratios) if ratios else float("nan")
        cells = [_cell(by_cell.get((peer, key)), best, notes) for peer in order]
        lines.append(
            f"| {first['title']} | {first['baseline']}{_baseline_range(entries)} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "Each cell: the peer's median rate over the raw baseline's, both measured in the same "
        "run with their rounds interleaved (higher is better; the best of a row in bold), and "
        "the peer's own median rate in messages per second.",
    ]
    named = {str(p["key"]): _peer_heading(p) for p in peers}
    for number, (peer, reason) in enumerate(notes, 1):
        lines += ["", f"[{number}] {named[peer]}: {reason}."]
    return lines


def calls(run: Run) -> list[str]:
    """What each peer called for each operation, in the library's own terms."""
    titles = {str(r["op"]): str(r["title"]) for r in run["results"]}
    lines = []
    for peer in run["peers"]:
        lines.append(f"- **{_peer_heading(peer)}**")
        lines += [f"  - {titles.get(op, op)}: {call}" for op, call in peer.get("calls", {}).items()]
    return lines


def _versions(peer: Mapping[str, Any]) -> str:
    versions = dict(peer.get("versions", {}))
    versions.pop("python", None)
    versions.pop(str(peer.get("library", "")), None)
    head = _peer_heading(peer)
    rest = ", ".join(f"{name} {value}" for name, value in versions.items())
    if not rest:
        return head
    # "pgqrs 0.1.0 (this repository)" -> "pgqrs 0.1.0 (this repository; psycopg ...)"
    return f"{head[:-1]}; {rest})" if head.endswith(")") else f"{head} ({rest})"


def _count(number: Any, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _command(run: Run) -> str:
    args = str(run.get("command", "")).strip()
    return f'make bench-peers PEERS_ARGS="{args}"' if args else "make bench-peers"


def reproducing(run: Run) -> str:
    """The "Reproducing" paragraph: versions of every peer, server, machine, command."""
    env = run.get("environment", {})
    sizes = run.get("sizes", {})
    pythons = " / ".join(
        dict.fromkeys(str(p.get("versions", {}).get("python", "?")) for p in run["peers"])
    )
    return (
        "**Reproducing.** "
        + "; ".join(_versions(p) for p in run["peers"])
        + f"; each in a virtualenv of its own on {pythons}; the raw baseline on psycopg "
        f"{env.get('psycopg', '?')}. Server: PostgreSQL {env.get('postgresql', '?')} "
        f"({env.get('durability', '?')}), {env.get('server', '?')}; {env.get('cpus', '?')} "
        f"CPUs ({env.get('machine', '?')}) shared by client and server; "
        f"{_count(sizes.get('rounds'), 'interleaved round')} per side after "
        f"{_count(sizes.get('warmup'), 'warm-up round')}; commit {env.get('commit', '?')}. "
        f"Command: `{_command(run)}`."
    )


def render(run: Run) -> str:
    """The block that goes between the markers (markers included)."""
    if run.get("kind") != "pgqrs-peers":
        raise RunError('not the JSON of make bench-peers (no "kind": "pgqrs-peers")')
    lines = [START, "<!-- generated by scripts/peers_readme.py from one make bench-peers run -->"]
    lines += ["", *table(run), "", "What each peer ran:", "", *calls(run), ""]
    lines += [reproducing(run), END]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("run", type=Path, help="JSON file of make bench-peers")
    parser.add_argument(
        "--readme", default=str(README), help="README to update ('-': print the block)"
    )
    args = parser.parse_args(argv)
    try:
        block = render(json.loads(args.run.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"{args.run}: {exc}")
    if args.readme == "-":
        sys.stdout.write(block + "\n")
        return 0
    readme = Path(args.readme)
    try:
        text = replace_block(readme.read_text(encoding="utf-8"), block, (START, END))
    except ValueError as exc:
        parser.error(f"{readme}: {exc}")
    readme.write_text(text, encoding="utf-8")
    print(f"{readme}: peer comparison written from {shlex.quote(str(args.run))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
