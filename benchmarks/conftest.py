"""Fixtures for the pytest-benchmark suites, and their regression check on ratios.

The scenarios live in :mod:`pgqrs.bench` (shared with ``pgqrs bench``).  pytest-benchmark cannot
await, so each test owns one ``asyncio.Runner`` and the ``measure`` fixture benchmarks a
scenario's pgqrs side with ``benchmark.pedantic``.  Its raw baseline runs interleaved with it:
in pedantic's untimed per-round ``setup``, the baseline's round runs and is timed by the
fixture, then the pgqrs side's ``prepare`` (refill a queue, empty a table) runs.

What a test reports, and what is checked, is the ratio of the two medians (pgqrs rate /
baseline rate), as docs/contract.md (Performance targets) states performance: absolute times
move by tens of percent between runs on a shared machine, and both sides move together.  Each
ratio is compared with the committed reference file (``benchmarks/reference.json``); a ratio
that falls more than the tolerance (25% unless the file or ``--ratio-tolerance`` says
otherwise) below its reference fails the test.  The reference changes only on purpose:
``--ratio-update`` (``make bench-pytest-reference``) writes the run's ratios into it, to be
reviewed and committed like code.

The server is the ``dsn`` fixture of the root ``conftest.py``.  Every scenario installs its own
schema and drops it afterwards.  Tests marked ``slow`` (the 1,000,000-message queue depth) run
only with ``--run-slow`` or ``PGQRS_BENCH_SLOW=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pgqrs
from pgqrs.bench import Result, Scenario, Side, environment
from pgqrs.bench.harness import time_run

SLOW_ENV = "PGQRS_BENCH_SLOW"
REFERENCE = Path(__file__).with_name("reference.json")
DEFAULT_TOLERANCE = 0.25

Measure = Callable[..., Result | None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help=f"also run the benchmarks marked slow (or set {SLOW_ENV}=1)",
    )
    group = parser.getgroup("pgqrs ratios", "pgqrs: ratio regression check")
    group.addoption(
        "--ratio-reference",
        type=Path,
        default=REFERENCE,
        help="reference file of pgqrs/baseline ratios (default: benchmarks/reference.json)",
    )
    group.addoption(
        "--ratio-tolerance",
        type=float,
        default=None,
        help="largest relative fall of a ratio below its reference that still passes "
        f"(default: the reference file's, else {DEFAULT_TOLERANCE})",
    )
    group.addoption(
        "--ratio-update",
        action="store_true",
        help="write this run's ratios into the reference file instead of checking them",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow benchmark: use --run-slow or {SLOW_ENV}=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass
class RatioCheck:
    """The reference ratios, and what this session measured against them."""

    path: Path
    update: bool
    tolerance: float
    reference: dict[str, Any]
    measured: dict[str, float] = field(default_factory=dict)
    regressed: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: pytest.Config) -> RatioCheck:
        path: Path = config.getoption("--ratio-reference")
        reference = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        tolerance = config.getoption("--ratio-tolerance")
        if tolerance is None:
            tolerance = float(reference.get("tolerance", DEFAULT_TOLERANCE))
        if not 0 <= tolerance < 1:
            raise pytest.UsageError(f"--ratio-tolerance must be in [0, 1), not {tolerance}")
        return cls(path, config.getoption("--ratio-update"), tolerance, reference)

    def expected(self, key: str) -> float | None:
        found = self.reference.get("ratios", {}).get(key)
        return None if found is None else float(found)

    def check(self, result: Result) -> str | None:
        """Record ``result``; the failure message if its ratio regressed, else ``None``."""
        self.measured[result.key] = result.ratio
        expected = self.expected(result.key)
        if self.update or expected is None:
            return None
        floor = expected * (1 - self.tolerance)
        if result.ratio >= floor:
            return None
        self.regressed.append(result.key)
        rounds = ", ".join(
            f"{a / b:.2f}" for a, b in zip(result.pgqrs.rates, result.baseline.rates, strict=True)
        )
        return (
            f"pgqrs regressed against its same-run raw baseline in {result.key}: ratio "
            f"{result.ratio:.2f} < {floor:.2f} (reference {expected:.2f} in {self.path.name}, "
            f"tolerance {self.tolerance:.0%}); per-round ratios {rounds}"
        )

    def write(self) -> None:
        """Merge the measured ratios into the reference file."""
        ratios = {**self.reference.get("ratios", {}), **self.measured}
        updated = {
            "about": self.reference.get(
                "about",
                "pgqrs/baseline ratios of `make bench-pytest` (benchmarks/conftest.py). "
                "Written by `make bench-pytest-reference`; review and commit like code.",
            ),
            "tolerance": self.reference.get("tolerance", DEFAULT_TOLERANCE),
            "environment": self.environment,
            "ratios": {key: round(value, 3) for key, value in sorted(ratios.items())},
        }
        self.path.write_text(json.dumps(updated, indent=2) + "\n", encoding="utf-8")

    def summary(self) -> list[str]:
        lines = []
        for key, ratio in self.measured.items():
            expected = self.expected(key)
            if self.update:
                verdict = "written"
            elif expected is None:
                verdict = "no reference: not checked"
            else:
                floor = expected * (1 - self.tolerance)
                verdict = f"reference {expected:.2f}, floor {floor:.2f}: " + (
                    "REGRESSED" if key in self.regressed else "ok"
                )
            lines.append(f"{key:<24} {ratio:6.2f}  {verdict}")
        return lines


_CHECK = pytest.StashKey[RatioCheck]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CHECK] = RatioCheck.from_config(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    check = session.config.stash.get(_CHECK, None)
    if check is not None and check.update and check.measured:
        check.write()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    check = config.stash.get(_CHECK, None)
    if check is None or not check.measured:
        return
    action = "written to" if check.update else "checked against"
    terminalreporter.section(f"pgqrs/baseline ratios, {action} {check.path}")
    for line in check.summary():
        terminalreporter.write_line(line)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the whole test: pgqrs pools belong to the loop that opened them."""
    with asyncio.Runner() as made:
        yield made


@pytest.fixture
def measure(
    benchmark: Any, runner: asyncio.Runner, dsn: str, request: pytest.FixtureRequest
) -> Measure:
    """``measure(scenario, rounds=..., warmup=...)`` benchmarks a scenario's pgqrs side with
    its baseline interleaved, checks the ratio against the reference and returns the
    :class:`~pgqrs.bench.Result` (``None`` under ``--benchmark-disable``).

    The benchmark's group is the scenario's key; ``extra_info`` holds the ratio, both sides'
    rates and the baseline's per-round seconds.
    """
    check = request.config.stash[_CHECK]

    def run(scenario: Scenario, *, rounds: int, warmup: int = 1) -> Result | None:
        mine, theirs = scenario.pgqrs, scenario.baseline
        rounds *= scenario.rounds_scale
        benchmark.group = scenario.key
        benchmark.extra_info.update(scenario=scenario.key, side=mine.label, core=pgqrs.__impl__)
        baseline_seconds: list[float] = []

        async def round_setup() -> None:
            await theirs.prepare()
            baseline_seconds.append(await time_run(theirs))
            await mine.prepare()

        if not check.environment:
            server = "PGQRS_TEST_DSN" if os.environ.get("PGQRS_TEST_DSN") else "throwaway (fast)"
            check.environment = runner.run(environment(dsn, server))
        runner.run(scenario.open())
        try:
            benchmark.pedantic(
                lambda: runner.run(mine.run()),
                setup=lambda: runner.run(round_setup()),
                rounds=rounds,
                warmup_rounds=warmup,
                iterations=1,
            )
        finally:
            runner.run(scenario.close())
        stats = getattr(benchmark.stats, "stats", None)  # None with --benchmark-disable
        if stats is None:
            return None
        result = Result(
            scenario.key,
            scenario.title,
            Side(mine.label, mine.messages, list(stats.data)),
            Side(theirs.label, theirs.messages, baseline_seconds[warmup:]),
            scenario.target,
        )
        benchmark.extra_info.update(
            ratio=round(result.ratio, 4),
            msgs_per_s=round(result.pgqrs.median_rate),
            baseline=theirs.label,
            baseline_msgs_per_s=round(result.baseline.median_rate),
            baseline_seconds=result.baseline.seconds,
            baseline_median_s=statistics.median(result.baseline.seconds),
        )
        failure = check.check(result)
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        return result

    return run
