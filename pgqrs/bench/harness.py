"""How a comparison runs: two :class:`Case` sides of a :class:`Scenario`, interleaved round by
round by :func:`compare` into a :class:`Result` of two :class:`Side` measurements.

docs/contract.md (Performance targets) states pgqrs's performance as ratios against a baseline
measured in the same run, because absolute numbers on a shared machine drift by tens of percent
from one minute to the next.  Interleaving (A B A B ...) exposes both sides to the same drift and
each side reports its median, which keeps their ratio meaningful when neither number alone is.

Measurements that are not a ratio of rates (wake-up latency) report :class:`Latencies`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .schema import BenchSchema

__all__ = [
    "Case",
    "Latencies",
    "Probe",
    "Progress",
    "Result",
    "Scenario",
    "Side",
    "Target",
    "compare",
    "percentile",
    "time_run",
]

Progress = Callable[[str], None]


class Case:
    """One side of a comparison.

    ``open()`` once; then per round ``prepare()`` (untimed: refill a queue, truncate a table)
    and ``run()`` (timed), which handles :attr:`messages` messages; ``close()`` at the end.
    """

    #: Short name of the side, e.g. ``"pgqrs"`` or ``"raw COPY"``.
    label: str = ""
    #: Messages (or rows) one :meth:`run` handles; rates are ``messages / seconds``.
    messages: int = 0

    async def open(self) -> None:
        """Acquire what the case needs (connections, prepared inputs)."""

    async def prepare(self) -> None:
        """Untimed work before each timed run."""

    async def run(self) -> None:
        """The timed work."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what :meth:`open` acquired."""

    def summary(self) -> str:
        """What the side measured besides its rate (latencies, say), for the report's note."""
        return ""


@dataclass(frozen=True)
class Target:
    """A target of docs/contract.md (Performance targets): the pgqrs/baseline ratio must be at
    least ``minimum``."""

    minimum: float
    text: str

    def met(self, ratio: float) -> bool:
        return ratio >= self.minimum


@dataclass
class Scenario:
    """Two cases to compare and the target for ``pgqrs rate / baseline rate``, if
    docs/contract.md (Performance targets) sets one."""

    key: str
    title: str
    pgqrs: Case
    baseline: Case
    target: Target | None = None
    #: Shared schemas, created before the cases open and dropped after they close.
    schemas: Sequence[BenchSchema] = ()
    note: str = ""
    #: Runs this many times the requested rounds (for scenarios whose runs are short).
    rounds_scale: int = 1
    _opened: list[Case] = field(default_factory=list, repr=False)

    async def open(self, cases: Sequence[Case] | None = None) -> None:
        """Create the shared schemas and open ``cases`` (default: both sides)."""
        for schema in self.schemas:
            await schema.create()
        for case in (self.pgqrs, self.baseline) if cases is None else cases:
            await case.open()
            self._opened.append(case)

    async def close(self) -> None:
        """Close what :meth:`open` opened and drop the shared schemas (errors of one step do
        not keep the others from running)."""
        errors: list[BaseException] = []
        steps: list[Callable[[], Awaitable[None]]] = [c.close for c in reversed(self._opened)]
        steps += [schema.drop for schema in self.schemas]
        for step in steps:
            try:
                await step()
            except Exception as exc:
                errors.append(exc)
        self._opened = []
        if errors:
            raise errors[0]


@dataclass
class Side:
    """What one side measured: per-round seconds for ``messages`` messages each."""

    label: str
    messages: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [self.messages / s for s in self.seconds]

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)


@dataclass
class Result:
    """One scenario's outcome."""

    key: str
    title: str
    pgqrs: Side
    baseline: Side
    target: Target | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.pgqrs.median_rate / self.baseline.median_rate

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "pgqrs": {**asdict(self.pgqrs), "median_rate": self.pgqrs.median_rate},
            "baseline": {**asdict(self.baseline), "median_rate": self.baseline.median_rate},
            "ratio": self.ratio,
            # Per-round ratios of adjacent runs: their spread shows how far to trust the ratio.
            "round_ratios": [
                a / b for a, b in zip(self.pgqrs.rates, self.baseline.rates, strict=True)
            ],
            "target": None if self.target is None else asdict(self.target),
            "met": self.met,
            "note": self.note,
        }


async def time_run(case: Case) -> float:
    """Seconds one :meth:`Case.run` takes (after its untimed :meth:`Case.prepare`)."""
    started = time.perf_counter()
    await case.run()
    return time.perf_counter() - started


async def compare(
    scenario: Scenario, rounds: int, *, warmup: int = 1, progress: Progress | None = None
) -> Result:
    """Run ``scenario`` with its two sides interleaved, round by round.

    Interleaving (pgqrs, baseline, pgqrs, baseline, ...) exposes both sides to the same drift
    of a shared, noisy machine (other processes, autovacuum, CPU frequency); medians then
    discard the rounds a hiccup hit.  ``warmup`` rounds first open pools, prepare statements and
    fill caches, and are not recorded.
    """
    a, b = scenario.pgqrs, scenario.baseline
    rounds *= scenario.rounds_scale
    sides = {id(a): Side(a.label, 0), id(b): Side(b.label, 0)}
    await scenario.open()
    try:
        for round_no in range(warmup + rounds):
            for case in (a, b):
                await case.prepare()
                took = await time_run(case)
                if round_no >= warmup:
                    side = sides[id(case)]
                    side.messages = case.messages
                    side.seconds.append(took)
            if progress is not None and round_no >= warmup:
                pa, pb = sides[id(a)], sides[id(b)]
                progress(
                    f"  round {round_no - warmup + 1}/{rounds}: {a.label} "
                    f"{pa.rates[-1]:,.0f}/s, {b.label} {pb.rates[-1]:,.0f}/s"
                )
    finally:
        await scenario.close()
    note = " ".join(text for text in (scenario.note, a.summary(), b.summary()) if text)
    return Result(scenario.key, scenario.title, sides[id(a)], sides[id(b)], scenario.target, note)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class Latencies:
    """A latency measurement: seconds per sample, by variant (e.g. LISTEN vs polling)."""

    key: str
    title: str
    samples: dict[str, list[float]]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "samples": self.samples,
            "p50": {label: percentile(s, 0.50) for label, s in self.samples.items()},
            "p99": {label: percentile(s, 0.99) for label, s in self.samples.items()},
            "note": self.note,
        }


class Probe:
    """A measurement that is not a ratio of two rates, such as wake-up latency."""

    key: str = ""
    title: str = ""

    async def measure(self, progress: Progress | None = None) -> Latencies:
        """Take the samples (opening and closing whatever the probe needs)."""
        raise NotImplementedError
