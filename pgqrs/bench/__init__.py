"""Throughput scenarios behind ``pgqrs bench`` and the pytest-benchmark suites in ``benchmarks/``.

Every database scenario pairs a pgqrs operation with a raw psycopg baseline doing the same work
on the same table, because docs/contract.md (Performance targets) states pgqrs's performance as
ratios measured in one run on one machine.  The two sides run interleaved round by round and
each reports its median; every round starts from a settled table (filled, then
``VACUUM ANALYZE``, untimed), so neither side inherits the other's dead rows or query plans.

The modules, by job:

- :mod:`~pgqrs.bench.harness`: :class:`Case` (one side: ``open``, per round an untimed
  ``prepare`` and a timed ``run``, ``close``), :class:`Scenario` (two cases and their target),
  :func:`compare` (runs one interleaved into a :class:`Result`), :class:`Probe` and
  :class:`Latencies` for measurements that are not ratios;
- :mod:`~pgqrs.bench.schema`: :class:`BenchSchema`, the table both sides share, and the payloads;
- :mod:`~pgqrs.bench.scenarios`: the scenarios, by subject (``enqueue``, ``drain``, ``core``,
  ``notify``);
- :mod:`~pgqrs.bench.catalog`: every measurement by key, the standard set, ``--only``;
- :mod:`~pgqrs.bench.run`, :mod:`~pgqrs.bench.report`, :mod:`~pgqrs.bench.environment`: running
  a selection, its Markdown and JSON, and what a reader needs to reproduce it;
- :mod:`~pgqrs.bench.cli`: the ``pgqrs bench`` command;
- :mod:`~pgqrs.bench._internals`: the one module that reaches into pgqrs's private parts.

``import pgqrs`` imports none of this.  The payloads are small JSON rows,
``{"task": n, "kind": "bench", "data": "x" * 20}``.
"""

from .catalog import Entry, catalog, select, standard_scenarios
from .environment import environment
from .harness import Case, Latencies, Probe, Result, Scenario, Side, Target, compare, percentile
from .report import Report, format_markdown
from .run import run_all
from .scenarios import (
    consume_scenario,
    core_decode_scenario,
    core_encode_scenario,
    depth_scenario,
    drain_scenario,
    enqueue_batch_scenario,
    enqueue_scenario,
    notify_scenario,
    small_batch_scenario,
    wakeup_latencies,
)
from .schema import BenchSchema, make_payloads
from .sizes import DEFAULT_SIZES, QUICK_SIZES, Sizes

__all__ = [
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "BenchSchema",
    "Case",
    "Entry",
    "Latencies",
    "Probe",
    "Report",
    "Result",
    "Scenario",
    "Side",
    "Sizes",
    "Target",
    "catalog",
    "compare",
    "consume_scenario",
    "core_decode_scenario",
    "core_encode_scenario",
    "depth_scenario",
    "drain_scenario",
    "enqueue_batch_scenario",
    "enqueue_scenario",
    "environment",
    "format_markdown",
    "make_payloads",
    "notify_scenario",
    "percentile",
    "run_all",
    "select",
    "small_batch_scenario",
    "standard_scenarios",
    "wakeup_latencies",
]
