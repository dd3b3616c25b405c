"""Fixtures for the pytest-benchmark suites.

The scenarios themselves live in :mod:`pgqrs.bench` (shared with ``pgqrs bench``); this file only
adapts them to pytest-benchmark, which cannot await: each test owns one ``asyncio.Runner`` and
times ``runner.run(case.run())`` with ``benchmark.pedantic``, the untimed ``case.prepare()``
(refill a queue, empty a table) running as pedantic's per-round ``setup``.

With ``PGQRS_TEST_DSN`` set the benchmarks use that server; otherwise one throwaway cluster is
started for the session.  Every scenario installs its own schema and drops it afterwards.

Tests marked ``slow`` (the 1,000,000-message queue depth) run only with ``--run-slow`` or
``PGQRS_BENCH_SLOW=1``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

import pgqrs
from pgqrs.bench import Scenario
from pgqrs.embedded import given_or_throwaway

SLOW_ENV = "PGQRS_BENCH_SLOW"

Measure = Callable[..., None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help=f"also run the benchmarks marked slow (or set {SLOW_ENV}=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow benchmark: use --run-slow or {SLOW_ENV}=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_report_header() -> str:
    return f"pgqrs {pgqrs.__version__}, core: {pgqrs.__impl__}"


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    """DSN of the benchmark server: ``PGQRS_TEST_DSN``, else a throwaway local cluster."""
    with given_or_throwaway(os.environ.get("PGQRS_TEST_DSN")) as server_dsn:
        yield server_dsn


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the whole test: pgqrs pools belong to the loop that opened them."""
    with asyncio.Runner() as made:
        yield made


@pytest.fixture
def measure(benchmark: Any, runner: asyncio.Runner) -> Measure:
    """``measure(scenario, side, rounds=..., warmup=...)`` benchmarks one side of a scenario.

    ``side`` is ``"pgqrs"`` or ``"baseline"``; only that side is opened (with the schemas the
    scenario shares).  The benchmark's group is the scenario's key, so a pgqrs operation and
    its raw baseline sit side by side and ``--benchmark-compare`` tracks both.  Throughput
    (messages per second at the median round) lands in ``extra_info``.
    """

    def run(
        scenario: Scenario,
        side: Literal["pgqrs", "baseline"],
        *,
        rounds: int,
        warmup: int = 1,
        group: str | None = None,
    ) -> None:
        case = scenario.pgqrs if side == "pgqrs" else scenario.baseline
        benchmark.group = group or scenario.key
        benchmark.extra_info.update(scenario=scenario.key, side=case.label, core=pgqrs.__impl__)
        runner.run(scenario.open([case]))
        try:
            benchmark.extra_info["messages_per_round"] = case.messages
            benchmark.pedantic(
                lambda: runner.run(case.run()),
                setup=lambda: runner.run(case.prepare()),
                rounds=rounds,
                warmup_rounds=warmup,
                iterations=1,
            )
        finally:
            runner.run(scenario.close())
        stats = getattr(benchmark.stats, "stats", None)  # None with --benchmark-disable
        if stats is not None:
            benchmark.extra_info["msgs_per_s"] = round(case.messages / stats.median)

    return run
