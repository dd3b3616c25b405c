"""The pytest-benchmark suite's regression check fails on a real slowdown of pgqrs and passes
unchanged code: it compares pgqrs with its raw baseline of the same run (a ratio) against a
reference file that only ``--ratio-update`` writes, not against the previous run's times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = "benchmarks/test_bench_db.py::test_enqueue_batch[1000]"
KEY = "enqueue_batch@1000"

# Loaded with -p: the pgqrs side of the scenario does its work, then sleeps as long again, so
# it runs at half its rate while the raw COPY baseline is untouched.
SLOWDOWN = textwrap.dedent(
    """
    import asyncio
    import time

    from pgqrs.bench.scenarios.enqueue import PgqrsEnqueue

    _run = PgqrsEnqueue.run


    async def _half_speed(self):
        started = time.perf_counter()
        await _run(self)
        await asyncio.sleep(time.perf_counter() - started)


    PgqrsEnqueue.run = _half_speed
    """
)


def _benchmark(dsn: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PGQRS_TEST_DSN=dsn, PYTHONPATH=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "pytest", BENCHMARK, "-p", "no:cacheprovider", "-q", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )


def test_slowdown_fails_and_unchanged_code_passes(dsn: str, tmp_path: Path) -> None:
    pytest.importorskip("pytest_benchmark")
    if not (ROOT / BENCHMARK.split("::")[0]).exists():
        pytest.skip("the benchmarks are not part of this tree")
    reference = tmp_path / "reference.json"
    (tmp_path / "pgqrs_slowdown.py").write_text(SLOWDOWN)
    check = ("--ratio-reference", str(reference))

    written = _benchmark(dsn, tmp_path, *check, "--ratio-update")
    assert written.returncode == 0, written.stdout + written.stderr
    expected = json.loads(reference.read_text())["ratios"][KEY]
    assert expected > 0
    stored = reference.read_bytes()

    # The same code run again passes against the first run's ratio (where comparing absolute
    # times, pytest-benchmark's --benchmark-compare-fail, failed on the noise alone).
    same = _benchmark(dsn, tmp_path, *check)
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{KEY} " in same.stdout
    assert f"reference {expected:.2f}" in same.stdout
    assert "REGRESSED" not in same.stdout

    slowed = _benchmark(dsn, tmp_path, *check, "-p", "pgqrs_slowdown")
    assert slowed.returncode == 1, slowed.stdout + slowed.stderr
    assert f"pgqrs regressed against its same-run raw baseline in {KEY}" in slowed.stdout
    assert "REGRESSED" in slowed.stdout
    # Neither a passing nor a failing run becomes the reference.
    assert reference.read_bytes() == stored
