"""Each pgqrs operation against its raw psycopg baseline, interleaved round by round.

The scenarios (and their SQL) come from :mod:`pgqrs.bench`, the same ones ``pgqrs bench`` runs.
pytest-benchmark times the pgqrs side; the ``measure`` fixture times the baseline between its
rounds and checks the ratio against ``benchmarks/reference.json`` (see ``conftest.py``).

Sizes are the CLI's defaults, kept so the default suite stays under about five minutes on a
2-core machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pgqrs import bench

Measure = Callable[..., object]  # the conftest fixture: measure(scenario, rounds=...)

SIZES = bench.DEFAULT_SIZES
ROUNDS = 10


@pytest.mark.parametrize("batch", SIZES.batch_sizes)
def test_enqueue_batch(measure: Measure, dsn: str, batch: int) -> None:
    """``enqueue_batch`` vs raw binary COPY of the same rows into the same table."""
    measure(bench.enqueue_batch_scenario(dsn, batch, SIZES.batch_messages), rounds=ROUNDS)


def test_enqueue(measure: Measure, dsn: str) -> None:
    """Single ``enqueue`` vs a raw prepared INSERT + commit loop."""
    measure(bench.enqueue_scenario(dsn, SIZES.single_messages), rounds=ROUNDS)


@pytest.mark.parametrize(
    ("batch", "messages"), [pytest.param(b, n, id=f"batch{b}") for b, n in SIZES.drain_messages]
)
def test_dequeue_archive(measure: Measure, dsn: str, batch: int, messages: int) -> None:
    """``dequeue_many`` + ``archive_many`` (1 consumer) vs the same statements raw."""
    measure(bench.drain_scenario(dsn, batch, messages), rounds=ROUNDS)


def test_dequeue_archive_concurrent(measure: Measure, dsn: str) -> None:
    """4 concurrent consumers at batch 100 vs 4 raw connections running the same loop."""
    scenario = bench.drain_scenario(dsn, 100, SIZES.concurrent_messages, SIZES.concurrent_consumers)
    measure(scenario, rounds=ROUNDS)


def test_consume(measure: Measure, dsn: str) -> None:
    """The consume loop at batch 100 (acks overlapped with the next dequeue) vs the raw
    sequential dequeue + archive loop (docs/contract.md, Performance targets: at least 100%)."""
    measure(bench.consume_scenario(dsn, 100, SIZES.consume_messages), rounds=ROUNDS)


@pytest.mark.parametrize(
    "depth", [SIZES.depth_deep, pytest.param(1_000_000, marks=pytest.mark.slow)]
)
def test_dequeue_depth(measure: Measure, dsn: str, depth: int) -> None:
    """dequeue+archive at batch 100 with ``depth`` messages waiting vs 1,000: the cost must not
    grow with depth (docs/contract.md, Performance targets: 1,000,000 within 1.2x of 1,000)."""
    measure(bench.depth_scenario(dsn, depth, SIZES.depth_messages), rounds=ROUNDS)
