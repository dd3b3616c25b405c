"""How much work each scenario does per round, for a full run and for a smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DEFAULT_SIZES", "QUICK_SIZES", "Sizes", "sizes_for"]


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does per round.

    Runs are short (a few tenths of a second) and rounds many: on a shared 2-core machine the
    noise comes in bursts (another process takes a core for a second or two), and many short
    interleaved rounds let the medians step over the bursts, where a few long ones would each
    absorb some.
    """

    rounds: int = 15
    warmup: int = 1
    #: Messages per run of each ``enqueue_batch`` size (whole batches).
    batch_messages: int = 20_000
    batch_sizes: tuple[int, ...] = (100, 1_000, 10_000)
    single_messages: int = 1_000
    #: Lines of the JSON-lines file ``message enqueue --file`` loads per run, and per batch.
    file_messages: int = 50_000
    file_batch: int = 1_000
    #: The long form, outside the standard set: a million-line file, by batch size.
    file_million: int = 1_000_000
    file_million_batches: tuple[int, ...] = (1_000, 10_000)
    #: Messages drained per run, by dequeue batch size (1 consumer).
    drain_messages: tuple[tuple[int, int], ...] = ((1, 500), (10, 3_000), (100, 10_000))
    concurrent_consumers: int = 4
    concurrent_messages: int = 10_000
    #: Messages ``Consumer.consume`` handles per run (batch 100, against the raw loop at 100).
    consume_messages: int = 10_000
    depth_deep: int = 100_000
    depth_messages: int = 1_000
    core_rows: int = 1_000
    #: Seconds one core run lasts (its loop count is calibrated to it).
    core_seconds: float = 0.05
    #: Messages per run of the NOTIFY cost at batch 1 (single enqueue) and at ``notify_batch``.
    notify_messages: int = 1_000
    notify_batch: int = 1_000
    notify_batch_messages: int = 20_000
    #: Messages per run of the small-batch crossover, by messages per call.
    small_batches: tuple[tuple[int, int], ...] = (
        (1, 200),
        (10, 2_000),
        (50, 5_000),
        (100, 10_000),
        (200, 10_000),
        (500, 20_000),
    )
    #: Concurrent single-enqueue tasks on one producer, and messages per run (all tasks).
    concurrent_tasks: int = 64
    concurrent_enqueue_messages: int = 3_200
    #: Requests per run of the web endpoint (``ab``) and their concurrency.
    web_requests: int = 5_000
    web_concurrency: int = 200
    #: Wake-up latency samples per variant, and the idle gap before each (1-4 times this).
    wakeup_samples: int = 60
    wakeup_idle: float = 0.3


DEFAULT_SIZES = Sizes()
# A smoke run: every scenario, tiny sizes, few rounds (well under 30 s with server start).
QUICK_SIZES = Sizes(
    rounds=3,
    batch_messages=2_000,
    single_messages=200,
    file_messages=5_000,
    file_million=20_000,
    drain_messages=((1, 200), (10, 500), (100, 2_000)),
    concurrent_messages=2_000,
    consume_messages=2_000,
    depth_deep=10_000,
    depth_messages=500,
    core_seconds=0.01,
    notify_messages=200,
    notify_batch_messages=2_000,
    small_batches=((1, 50), (10, 200), (50, 500), (100, 1_000), (200, 1_000), (500, 2_000)),
    wakeup_samples=3,
    wakeup_idle=0.05,
    concurrent_enqueue_messages=640,
    web_requests=500,
)


def sizes_for(*, quick: bool, rounds: int | None, depth_million: bool) -> Sizes:
    """The sizes ``pgqrs bench`` uses for its options."""
    sizes = QUICK_SIZES if quick else DEFAULT_SIZES
    if rounds is not None:
        sizes = replace(sizes, rounds=rounds)
    if depth_million:
        sizes = replace(sizes, depth_deep=1_000_000)
    return sizes
