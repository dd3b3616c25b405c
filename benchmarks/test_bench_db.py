"""Each pgqrs operation and its raw psycopg baseline, as separate benchmarks in one group.

The scenarios (and their SQL) come from :mod:`pgqrs.bench`, the same ones ``pgqrs bench``
runs; there the two sides are interleaved round by round to give one trustworthy ratio, here
each side is its own benchmark so ``--benchmark-compare`` can track either over time.
Throughput in messages per second is in each benchmark's ``extra_info["msgs_per_s"]``.

Sizes are the CLI's defaults, kept so the default suite stays under about five minutes on a
2-core machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pgqrs import bench

Measure = Callable[..., None]  # the conftest fixture: measure(scenario, side, rounds=...)

SIZES = bench.DEFAULT_SIZES
SIDES = pytest.mark.parametrize(
    "side", [pytest.param("pgqrs", id="pgqrs"), pytest.param("baseline", id="raw")]
)
ROUNDS = 10


@SIDES
@pytest.mark.parametrize("batch", SIZES.batch_sizes)
def test_enqueue_batch(measure: Measure, dsn: str, batch: int, side: str) -> None:
    """``enqueue_batch`` vs raw binary COPY of the same rows into the same table."""
    measure(bench.enqueue_batch_scenario(dsn, batch, SIZES.batch_messages), side, rounds=ROUNDS)


@SIDES
def test_enqueue(measure: Measure, dsn: str, side: str) -> None:
    """Single ``enqueue`` vs a raw prepared INSERT + commit loop."""
    measure(bench.enqueue_scenario(dsn, SIZES.single_messages), side, rounds=ROUNDS)


@SIDES
@pytest.mark.parametrize(
    ("batch", "messages"), [pytest.param(b, n, id=f"batch{b}") for b, n in SIZES.drain_messages]
)
def test_dequeue_archive(measure: Measure, dsn: str, batch: int, messages: int, side: str) -> None:
    """``dequeue_many`` + ``archive_many`` (1 consumer) vs the same statements raw."""
    measure(bench.drain_scenario(dsn, batch, messages), side, rounds=ROUNDS)


@SIDES
def test_dequeue_archive_concurrent(measure: Measure, dsn: str, side: str) -> None:
    """4 concurrent consumers at batch 100 vs 4 raw connections running the same loop."""
    scenario = bench.drain_scenario(dsn, 100, SIZES.concurrent_messages, SIZES.concurrent_consumers)
    measure(scenario, side, rounds=ROUNDS)


@SIDES
def test_consume(measure: Measure, dsn: str, side: str) -> None:
    """The consume loop at batch 100 (acks overlapped with the next dequeue) vs the raw
    sequential dequeue + archive loop (SPEC §6: at least 100%)."""
    measure(bench.consume_scenario(dsn, 100, SIZES.consume_messages), side, rounds=ROUNDS)


@pytest.mark.parametrize(
    "depth",
    [
        1_000,
        SIZES.depth_deep,
        pytest.param(1_000_000, marks=pytest.mark.slow),
    ],
)
def test_dequeue_depth(measure: Measure, dsn: str, depth: int) -> None:
    """dequeue+archive at batch 100 with ``depth`` messages waiting: the cost must not grow
    with depth (SPEC §6: 1,000 vs 1,000,000 within 1.2x)."""
    if depth == 1_000:  # the shallow side of the CLI's depth scenario
        scenario = bench.depth_scenario(dsn, SIZES.depth_deep, SIZES.depth_messages)
        side = "baseline"
    else:
        scenario = bench.depth_scenario(dsn, depth, SIZES.depth_messages)
        side = "pgqrs"
    measure(scenario, side, rounds=3 * ROUNDS, group="dequeue+archive@100 by depth")
