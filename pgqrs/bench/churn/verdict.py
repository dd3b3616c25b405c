"""The targets of a churn run (docs/contract.md, Performance targets; every one a ratio within
the run, so it holds on a noisy machine):

- throughput: the last interval's output at least 0.9 of the first's;
- bounded storage: the live table's heap and indexes at the end no larger than
  ``SIZE_TOLERANCE`` times their largest size in the first third of the run (before any
  holder): they may grow while the run warms up, not afterwards.  With a holder this is also
  "index sizes return to their steady-state level after it closes";
- with the holder open: no interval's output below half the offered rate, and every interval's
  enqueue -> archive p99 under a second;
- with pruning (``archive_retention``): the archive at the end no larger than
  ``SIZE_TOLERANCE`` times its size once a full window has passed;
- nothing lost: every message a producer had accepted is archived or still queued.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .run import ChurnRun
from .sample import Interval

__all__ = ["SIZE_TOLERANCE", "Verdict", "judge"]

#: How much larger than in the first third of a run the live table may be at its end.
SIZE_TOLERANCE = 1.25
#: The lowest output, as a fraction of the offered rate, in an interval with the holder open.
HOLDER_RATE = 0.5
#: The highest enqueue -> archive p99, in seconds, in an interval with the holder open.
HOLDER_P99 = 1.0
THROUGHPUT = 0.9
#: Seconds the workers' maintenance step may take to get round to a due rotation (their
#: heartbeat interval, 30 s by default).
ROTATION_SLACK = 30.0


@dataclass(frozen=True)
class Verdict:
    """One target: what was measured, against what."""

    name: str
    measured: str
    target: str
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reference(intervals: list[Interval]) -> list[Interval]:
    """The steady-state intervals a size is compared with: the first third, before a holder."""
    offering = [i for i in intervals if i.offering]
    first = offering[: max(1, len(offering) // 3)]
    return [i for i in first if not i.holder] or first[:1]


def judge(run: ChurnRun) -> list[Verdict]:
    """The targets of ``run``, in order."""
    offering = [i for i in run.intervals if i.offering]
    if not offering:
        return []
    first, last = offering[0], offering[-1]
    ratio = last.rate_out / first.rate_out if first.rate_out else 0.0
    verdicts = [
        Verdict(
            "throughput",
            f"last interval {last.rate_out:,.0f} msg/s / first {first.rate_out:,.0f} = {ratio:.2f}",
            f"≥ {THROUGHPUT:.2f}",
            ratio >= THROUGHPUT,
        )
    ]
    reference = _reference(run.intervals)
    for name, field in (("live table heap", "heap_bytes"), ("live table indexes", "index_bytes")):
        steady = max(int(getattr(i.sizes, field)) for i in reference)
        end = int(getattr(last.sizes, field))
        grown = end / steady if steady else 0.0
        verdicts.append(
            Verdict(
                f"{name} bounded",
                f"end {end / 2**20:.1f} MB / first third {steady / 2**20:.1f} MB = {grown:.2f}",
                f"≤ {SIZE_TOLERANCE:.2f}",
                grown <= SIZE_TOLERANCE,
            )
        )
    retention = run.settings.archive_retention
    if retention is not None:
        # A full window (8/7 of it, as the archive rotates in 7 steps) plus one maintenance
        # interval in, the archive holds what it will hold from then on.
        settled = [i for i in offering if i.start >= retention * 8 / 7 + ROTATION_SLACK]
        if len(settled) >= 2:
            steady = settled[0].sizes.archive_bytes
            end = last.sizes.archive_bytes
            grown = end / steady if steady else 0.0
            verdicts.append(
                Verdict(
                    "archive bounded",
                    f"end {end / 2**20:.0f} MB / after one window {steady / 2**20:.0f} MB "
                    f"= {grown:.2f}",
                    f"≤ {SIZE_TOLERANCE:.2f}",
                    grown <= SIZE_TOLERANCE,
                )
            )
    held = [i for i in offering if i.holder]
    if held:
        slowest = min(held, key=lambda i: i.rate_out)
        share = slowest.rate_out / run.settings.rate
        verdicts.append(
            Verdict(
                "holder: slowest interval",
                f"{slowest.rate_out:,.0f} msg/s / offered {run.settings.rate:,} = {share:.2f}",
                f"≥ {HOLDER_RATE:.2f}",
                share >= HOLDER_RATE,
            )
        )
        worst = max((i.p99 for i in held if i.p99 is not None), default=None)
        verdicts.append(
            Verdict(
                "holder: enqueue -> archive p99",
                "no messages archived" if worst is None else f"worst interval {worst:.3f} s",
                f"< {HOLDER_P99:g} s",
                worst is not None and worst < HOLDER_P99,
            )
        )
    verdicts.append(
        Verdict(
            "nothing lost",
            f"{run.enqueued:,} enqueued, {run.archived:,} archived, {run.remaining:,} queued, "
            f"{run.dead_letters:,} dead letters: {run.lost:,} missing",
            "0 missing",
            run.lost == 0,
        )
    )
    return verdicts
