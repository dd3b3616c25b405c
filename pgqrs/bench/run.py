"""Running a selection of measurements into a :class:`~pgqrs.bench.report.Report`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict

from ._internals import compiled_core
from .catalog import catalog, select
from .environment import environment
from .harness import Latencies, Probe, Progress, Result, compare
from .report import Report
from .sizes import DEFAULT_SIZES, Sizes

__all__ = ["run_all"]


async def run_all(
    dsn: str,
    sizes: Sizes = DEFAULT_SIZES,
    *,
    only: Sequence[str] = (),
    everything: bool = False,
    progress: Progress | None = None,
    server: str = "",
    command: str = "",
) -> Report:
    """Run the standard measurements against ``dsn`` (or those ``only`` names, or
    ``everything``), one after the other, and collect a :class:`Report`.

    Raises:
        SelectionError: ``only`` names no measurement.
    """
    say = progress or (lambda _line: None)
    entries = select(catalog(dsn, sizes), only, everything=everything)
    if compiled_core() is None:
        say("compiled core not importable: core comparisons skipped")
    env = await environment(dsn, server)
    results: list[Result] = []
    latencies: list[Latencies] = []
    for number, entry in enumerate(entries, 1):
        say(f"[{number}/{len(entries)}] {entry.title}")
        started = time.perf_counter()
        measurement = entry.measurement
        if isinstance(measurement, Probe):
            latencies.append(await measurement.measure(progress=say))
            say(f"  -> done ({time.perf_counter() - started:.1f} s)")
            continue
        result = await compare(measurement, sizes.rounds, warmup=sizes.warmup, progress=say)
        verdict = {None: "", True: ", target met", False: ", target MISSED"}[result.met]
        say(f"  -> ratio {result.ratio:.2f}{verdict} ({time.perf_counter() - started:.1f} s)")
        results.append(result)
    return Report(env, results, latencies, command, asdict(sizes))
