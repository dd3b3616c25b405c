"""The compiled core against its pure-Python twin, no database: COPY encoding and row decoding."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .. import _internals
from ..harness import Case, Scenario, Target
from ..schema import make_payloads

__all__ = ["CORE_TARGET", "CoreCase", "core_decode_scenario", "core_encode_scenario"]

CORE_TARGET = Target(5.0, "≥ 5.0")


class CoreCase(Case):
    """A core function on fixed inputs, looped so one run lasts about ``seconds``."""

    def __init__(self, label: str, rows: int, once: Callable[[], object], seconds: float) -> None:
        self.label, self.rows, self.once, self.seconds = label, rows, once, seconds
        self.loops = 1
        self.messages = rows

    async def open(self) -> None:
        # Calibrate: a run of well under a millisecond is dominated by timer and loop noise.
        self.once()
        started = time.perf_counter()
        self.once()
        took = max(time.perf_counter() - started, 1e-7)
        self.loops = max(1, math.ceil(self.seconds / took))
        self.messages = self.rows * self.loops

    async def run(self) -> None:
        once = self.once
        for _ in range(self.loops):
            once()


def _core_scenario(
    key: str,
    title: str,
    call: Callable[..., Callable[[], object]],
    rows: int,
    seconds: float,
) -> Scenario | None:
    compiled = _internals.compiled_core()
    if compiled is None:
        return None
    payloads = make_payloads(rows)
    return Scenario(
        key=key,
        title=f"{title}, {rows:,} rows: compiled vs Python",
        pgqrs=CoreCase("compiled", rows, call(compiled, payloads), seconds),
        baseline=CoreCase("python", rows, call(_internals.python_core(), payloads), seconds),
        target=CORE_TARGET,
    )


def core_encode_scenario(rows: int, seconds: float) -> Scenario | None:
    """``CopyEncoder.encode`` of ``rows`` rows: compiled vs pure Python (``None`` without a
    compiled core)."""
    return _core_scenario(
        "core.encode", "core CopyEncoder.encode", _internals.encode_call, rows, seconds
    )


def core_decode_scenario(rows: int, seconds: float) -> Scenario | None:
    """``decode_messages`` of ``rows`` raw rows: compiled vs pure Python (``None`` without a
    compiled core)."""
    return _core_scenario(
        "core.decode", "core decode_messages", _internals.decode_call, rows, seconds
    )
