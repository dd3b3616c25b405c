"""A churn run as Markdown (the interval table and the targets) and as JSON.

Both are built from the JSON form (:func:`churn_dict`), so ``scripts/bench_readme.py`` renders
the README's churn figures from recorded runs with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import orjson

from .run import ChurnRun
from .verdict import judge

__all__ = [
    "churn_dict",
    "churn_json",
    "churn_markdown",
    "describe",
    "interval_table",
    "verdict_table",
]

_MB = 2**20


def churn_dict(run: ChurnRun) -> dict[str, Any]:
    return {
        "kind": "churn",
        "environment": run.environment,
        "command": run.command,
        "settings": asdict(run.settings),
        "holder_open": run.holder_open,
        "intervals": [i.to_dict() for i in run.intervals],
        "totals": {
            "enqueued": run.enqueued,
            "archived": run.archived,
            "remaining": run.remaining,
            "dead_letters": run.dead_letters,
            "lost": run.lost,
        },
        "verdicts": [v.to_dict() for v in judge(run)],
    }


def churn_json(run: ChurnRun) -> bytes:
    return orjson.dumps(churn_dict(run), option=orjson.OPT_INDENT_2)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f}"


def interval_table(run: Mapping[str, Any]) -> list[str]:
    """The per-interval table of a run's JSON form, as Markdown lines."""
    lines = [
        "| interval | in msg/s | out msg/s | p50 ms | p99 ms | backlog | heap MB | indexes MB "
        "| dead tuples | archive MB | oldest snapshot s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i in run["intervals"]:
        s = i["sizes"]
        minute = i["start"] / 60
        label = f"{i['number'] + 1} ({minute:.1f} min)"
        if i["holder"]:
            label += " holder"
        if not i["offering"]:
            label += " drain"
        lines.append(
            f"| {label} | {i['rate_in']:,.0f} | {i['rate_out']:,.0f} | {_ms(i['p50'])} "
            f"| {_ms(i['p99'])} | {i['backlog']:,} | {s['heap_bytes'] / _MB:,.1f} "
            f"| {s['index_bytes'] / _MB:,.1f} | {s['dead_tuples']:,} "
            f"| {s['archive_bytes'] / _MB:,.0f} | {s['horizon_age']:,.0f} |"
        )
    return lines


def verdict_table(run: Mapping[str, Any]) -> list[str]:
    """The targets of a run's JSON form, as Markdown lines."""
    lines = ["| target | measured | required | met? |", "|---|---|---|---|"]
    for v in run["verdicts"]:
        lines.append(
            f"| {v['name']} | {v['measured']} | {v['target']} | {'yes' if v['met'] else '**no**'} |"
        )
    return lines


def describe(run: Mapping[str, Any]) -> str:
    """One sentence: what the run offered, for how long, and with what held or pruned."""
    s = run["settings"]
    text = (
        f"{s['producers']} producers offering {s['rate']:,} msg/s in batches of {s['batch']}, "
        f"{s['consumers']} consume loops (batch {s['consumer_batch']}), {s['minutes']:g} minutes "
        f"in {s['interval']:g}-second intervals"
    )
    if s.get("storage"):
        text += "; the live table with " + ", ".join(f"{n} = {v:g}" for n, v in s["storage"])
    if s.get("archive_retention"):
        text += f"; the archive pruned to {s['archive_retention']:g} s by the workers"
    if run.get("holder_open"):
        opened, closed = run["holder_open"]
        text += (
            f"; a REPEATABLE READ transaction held open from minute {opened / 60:.1f} "
            f"to {closed / 60:.1f}"
        )
    return text + "."


def churn_markdown(run: ChurnRun) -> str:
    data = churn_dict(run)
    lines = ["### Reproducing", "", *(f"- **{k}**: {v}" for k, v in run.environment.items())]
    if run.command:
        lines.append(f"- **command**: `{run.command}`")
    lines += ["", describe(data), "", *interval_table(data), "", *verdict_table(data)]
    return "\n".join(lines) + "\n"
