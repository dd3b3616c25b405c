"""``pgqrs bench`` runs end to end (tiny sizes) and prints its report: the numbers themselves are
the benchmarks' business (``make bench``), not the test suite's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_quick_prints_the_table(dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = ["pgqrs", "bench", "--quick", "--rounds", "1", "--dsn", dsn, "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stdout = done.stdout
    assert "### Reproducing" in stdout
    assert "| scenario | pgqrs msgs/s | baseline msgs/s | ratio | target | met? |" in stdout
    for row in ("enqueue_batch, 1,000/batch", "enqueue (one message)", "dequeue+archive, 100"):
        assert row in stdout
    assert "[1/" in done.stderr  # progress goes to stderr, keeping stdout a clean table
    report = json.loads(out.read_bytes())
    keys = {result["key"] for result in report["results"]}
    assert {"enqueue_batch@1000", "enqueue", "dequeue+archive@100"} <= keys
    assert all(r["pgqrs"]["median_rate"] > 0 for r in report["results"])
