"""Core micro-benchmarks, no database: the compiled core against its pure-Python twin.

docs/contract.md (Performance targets) asks the compiled core to be at least 5x faster on
encode and on decode; pytest-benchmark times the compiled side, the ``measure`` fixture the
pure-Python one between its rounds, on the same 1,000 rows.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pgqrs import bench
from pgqrs.bench.scenarios.core import core_decode_scenario, core_encode_scenario

Measure = Callable[..., object]  # the conftest fixture: measure(scenario, rounds=...)

SIZES = bench.DEFAULT_SIZES
ROUNDS = 20


@pytest.mark.parametrize(
    "build", [core_encode_scenario, core_decode_scenario], ids=["encode", "decode"]
)
def test_core(measure: Measure, build: Callable[[int, float], bench.Scenario | None]) -> None:
    """``CopyEncoder.encode`` and ``decode_messages`` of 1,000 rows, compiled vs Python."""
    scenario = build(SIZES.core_rows, SIZES.core_seconds)
    if scenario is None:
        pytest.skip("compiled core not built")
    measure(scenario, rounds=ROUNDS)
