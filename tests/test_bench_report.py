"""The bench's ratio table: what it prints must agree with the verdict next to it."""

from __future__ import annotations

from typing import Any

from pgqrs.bench.report import ratio_table, ratio_text

TARGET = {"minimum": 0.90, "text": "≥ 0.90"}


def _run(ratio: float) -> dict[str, Any]:
    side = {"label": "x", "messages": 1, "seconds": [1.0], "median_rate": 1.0}
    entry = {
        "key": "limit.enqueue",
        "title": "enqueue vs the limit",
        "pgqrs": side,
        "baseline": side,
        "ratio": ratio,
        "target": TARGET,
        "note": "",
    }
    return {"results": [entry]}


def test_a_ratio_just_below_its_target_shows_three_decimals() -> None:
    assert ratio_text(0.899, TARGET) == "0.899"
    assert ratio_text(0.9, TARGET) == "0.90"  # met: two decimals
    assert ratio_text(0.894, TARGET) == "0.89"  # two decimals already show the miss
    assert ratio_text(0.8996, None) == "0.90"  # no target, nothing to contradict


def test_the_table_never_prints_a_missed_target_as_met() -> None:
    runs = [_run(0.939), _run(0.899), _run(0.862)]
    [row] = [line for line in ratio_table(runs) if line.startswith("| enqueue")]
    assert "| 0.94, 0.899, 0.86 | 0.899 |" in row
    assert row.endswith("| **no** |")
