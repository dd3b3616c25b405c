"""What ``pgqrs bench`` prints and records: Markdown tables and the JSON of a run.

The tables are built from the JSON form of runs (:meth:`Report.to_dict`), so the report of one
run and the README's tables over several (``scripts/bench_readme.py``) come from the same code.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .harness import Latencies, Result

__all__ = ["Report", "format_markdown", "latency_table", "ratio_table"]

Run = Mapping[str, Any]

# What the ratio compares in rows whose two sides are not pgqrs and a raw baseline, by group.
_OTHER_RATIOS = {
    "depth": "deep / shallow queue for the depth row",
    "core": "compiled / Python for the core rows",
    "notify": "NOTIFY on / off for the notify rows",
    "small-batch": "one INSERT / COPY transaction for the small-batch rows",
}


@dataclass
class Report:
    """Everything one ``pgqrs bench`` run measured."""

    environment: dict[str, str]
    results: list[Result]
    latencies: list[Latencies] = field(default_factory=list)
    command: str = ""
    sizes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "command": self.command,
            "sizes": self.sizes,
            "results": [r.to_dict() for r in self.results],
            "latencies": [latency.to_dict() for latency in self.latencies],
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)


def _by_key(runs: Sequence[Run], section: str) -> dict[str, list[Mapping[str, Any]]]:
    """Each key's entries of ``section`` across ``runs``, keys in order of first appearance."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        for entry in run.get(section, ()):
            found.setdefault(entry["key"], []).append(entry)
    return found


def _met(target: Mapping[str, Any] | None, ratio: float) -> str:
    if target is None:
        return "—"
    return "yes" if ratio >= target["minimum"] else "**no**"


def ratio_text(ratio: float, target: Mapping[str, Any] | None) -> str:
    """``ratio`` to two decimals, or three where two would round it up to its target's
    minimum (0.899 against 0.90), so a printed figure never looks like it meets a target that
    it misses."""
    if target is not None and ratio < target["minimum"] <= round(ratio, 2):
        return f"{ratio:.3f}"
    return f"{ratio:.2f}"


def ratio_table(runs: Sequence[Run]) -> list[str]:
    """The ratio table over ``runs`` (one or more JSON runs), as Markdown lines.

    One run shows its ratio; several show each run's ratio and their median, which decides
    whether the target is met.  Rates are medians over the runs of each run's median round.
    """
    several = len(runs) > 1
    ratio_head = "ratio per run | median ratio" if several else "ratio"
    lines = [
        f"| scenario | pgqrs msgs/s | baseline msgs/s | {ratio_head} | target | met? |",
        "|---|---:|---:|" + ("---|---:|" if several else "---:|") + "---|---|",
    ]
    notes: list[str] = []
    rounds: set[int] = set()
    for entries in _by_key(runs, "results").values():
        first = entries[0]
        ratios = [e["ratio"] for e in entries]
        median = statistics.median(ratios)
        pgqrs = statistics.median(e["pgqrs"]["median_rate"] for e in entries)
        baseline = statistics.median(e["baseline"]["median_rate"] for e in entries)
        rounds.update(len(e["pgqrs"]["seconds"]) for e in entries)
        title = first["title"]
        if first.get("note"):
            if first["note"] not in notes:
                notes.append(first["note"])
            title += f" [{notes.index(first['note']) + 1}]"
        target = first["target"]
        shown = (
            f"{', '.join(ratio_text(r, target) for r in ratios)} | {ratio_text(median, target)}"
            if several
            else ratio_text(median, target)
        )
        lines.append(
            f"| {title} | {pgqrs:,.0f} | {baseline:,.0f} | {shown} | "
            f"{'—' if target is None else target['text']} | {_met(target, median)} |"
        )
    per_run = "; rates and the median ratio over the runs" if several else ""
    groups = {re.split(r"[@.]", key, maxsplit=1)[0] for key in _by_key(runs, "results")}
    other = "; ".join(text for group, text in _OTHER_RATIOS.items() if group in groups)
    lines += [
        "",
        f"Medians of {'/'.join(str(n) for n in sorted(rounds))} interleaved rounds per side"
        f"{per_run}; ratio = pgqrs / baseline{f' ({other})' if other else ''}.",
    ]
    lines += ["", *(f"[{n}] {text}" for n, text in enumerate(notes, 1))] if notes else []
    return lines


def _ms(values: Sequence[float]) -> str:
    middle = statistics.median(values) * 1000
    if len(values) == 1:
        return f"{middle:.1f} ms"
    return f"{middle:.1f} ms ({min(values) * 1000:.1f} to {max(values) * 1000:.1f})"


def latency_table(runs: Sequence[Run]) -> list[str]:
    """The latency measurements over ``runs`` as Markdown lines, one table each (empty when
    there are none); with several runs, each cell is the median over the runs and their range."""
    lines: list[str] = []
    for entries in _by_key(runs, "latencies").values():
        first = entries[0]
        lines += ["", f"| {first['title']} | p50 | p99 |", "|---|---:|---:|"]
        for label in first["p50"]:
            p50 = [e["p50"][label] for e in entries if label in e["p50"]]
            p99 = [e["p99"][label] for e in entries if label in e["p99"]]
            lines.append(f"| {label} | {_ms(p50)} | {_ms(p99)} |")
        if first.get("note"):
            lines += ["", first["note"]]
    return lines[1:]


def format_markdown(report: Report) -> str:
    """One run as Markdown: a "Reproducing" list, then its tables."""
    run = report.to_dict()
    lines = ["### Reproducing", "", *(f"- **{k}**: {v}" for k, v in report.environment.items())]
    if report.command:
        lines.append(f"- **command**: `{report.command}`")
    if run["results"]:
        lines += ["", *ratio_table([run])]
    latencies = latency_table([run])
    if latencies:
        lines += ["", *latencies]
    return "\n".join(lines) + "\n"
