"""``pgqrs bench churn`` runs end to end (a few seconds, on the test server), reports every
interval and its targets, and counts every message; its targets are judged from the intervals.
How fast anything is remains the benchmark's business, not the suite's."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pgqrs import ValidationError
from pgqrs.bench.churn import ChurnRun, ChurnSettings, Interval, judge
from pgqrs.bench.churn.sample import Sizes


def _churn(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pgqrs", "bench", "churn", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def churn_run(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A 12-second run in 4-second intervals, a holder open from second 3 to 9 (so at both
    inner boundaries): its stdout and its JSON."""
    out = tmp_path_factory.mktemp("churn") / "churn.json"
    args = ["--minutes", "0.2", "--interval", "4", "--rate", "1000", "--batch", "50"]
    args += ["--holder", "--holder-start", "0.05", "--holder-minutes", "0.1"]
    done = _churn(*args, "--dsn", dsn, "--json", str(out))
    return done.stdout, json.loads(out.read_bytes())


def test_churn_reports_every_interval(churn_run: tuple[str, dict[str, Any]]) -> None:
    stdout, run = churn_run
    assert "| interval | in msg/s | out msg/s | p50 ms | p99 ms | backlog |" in stdout
    offering = [i for i in run["intervals"] if i["offering"]]
    assert len(offering) == 3
    assert [i["number"] for i in run["intervals"]] == list(range(len(run["intervals"])))
    assert all(i["enqueued"] > 0 for i in offering)
    # The live table and the archive are real tables with real sizes.
    assert all(i["sizes"]["heap_bytes"] > 0 and i["sizes"]["archive_bytes"] > 0 for i in offering)
    assert sum(i["archived"] for i in run["intervals"]) == run["totals"]["archived"]


def test_churn_holds_the_horizon_where_it_says(churn_run: tuple[str, dict[str, Any]]) -> None:
    _, run = churn_run
    assert run["holder_open"] == pytest.approx([3.0, 9.0], abs=0.5)
    held = [i["holder"] for i in run["intervals"] if i["offering"]]
    assert held == [True, True, True]  # 0-4, 4-8 and 8-12 s all overlap 3-9 s
    # Open at the boundaries at 4 and 8 seconds: the oldest snapshot is the holder's.
    ages = [i["sizes"]["horizon_age"] for i in run["intervals"][:2]]
    assert all(age >= 0.5 for age in ages), ages


def test_churn_loses_nothing_and_judges_it(churn_run: tuple[str, dict[str, Any]]) -> None:
    stdout, run = churn_run
    totals = run["totals"]
    assert totals["lost"] == 0
    assert totals["enqueued"] == totals["archived"] + totals["remaining"] + totals["dead_letters"]
    names = [v["name"] for v in run["verdicts"]]
    assert names == [
        "throughput",
        "live table heap bounded",
        "live table indexes bounded",
        "holder: slowest interval",
        "holder: enqueue -> archive p99",
        "nothing lost",
    ]
    assert "| nothing lost |" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "minutes must be a positive number"),
        (["--rate", "0"], "rate must be a positive integer"),
        (["--minutes", "0.1", "--interval", "30"], "at least one interval"),
        (["--holder", "--minutes", "1", "--holder-start", "0.8"], "holder must close"),
        (["--interval", "10", "--archive-retention", "15"], "at least two intervals"),
    ],
)
def test_churn_refuses_bad_settings(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pgqrs", "bench", "churn", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def _interval(
    number: int, archived: int, heap: int, *, holder: bool = False, archive: int = 1 << 20
) -> Interval:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Interval(
        number=number,
        start=number * 10.0,
        seconds=10.0,
        enqueued=archived,
        handled=archived,
        archived=archived,
        p50=0.03,
        p99=2.0 if holder else 0.1,
        backlog=0,
        holder=holder,
        sizes=Sizes(at, heap, heap // 10, 0, archive, 0.0),
    )


def _run(intervals: list[Interval]) -> ChurnRun:
    total = sum(i.archived for i in intervals)
    return ChurnRun(ChurnSettings(minutes=1, interval=10), intervals, total, total, 0, 0)


def test_judge_passes_a_steady_run_and_catches_growth() -> None:
    steady = _run([_interval(n, 40_000, 100 << 20) for n in range(6)])
    assert all(v.met for v in judge(steady))
    growing = _run([_interval(n, 40_000, (100 + 20 * n) << 20) for n in range(6)])
    failed = {v.name for v in judge(growing) if not v.met}
    assert failed == {"live table heap bounded", "live table indexes bounded"}


def test_judge_catches_a_slow_holder_and_a_lost_message() -> None:
    intervals = [_interval(n, 40_000, 100 << 20) for n in range(6)]
    intervals[3] = _interval(3, 10_000, 100 << 20, holder=True)
    run = _run(intervals)
    run.enqueued += 1
    failed = {v.name for v in judge(run) if not v.met}
    assert failed == {"holder: slowest interval", "holder: enqueue -> archive p99", "nothing lost"}


def test_judge_bounds_a_pruned_archive() -> None:
    def archive(mb: list[int]) -> ChurnRun:
        run = _run([_interval(n, 40_000, 100 << 20, archive=m << 20) for n, m in enumerate(mb)])
        run.settings = ChurnSettings(minutes=1, interval=10, archive_retention=20)
        return run

    # 20 s of retention: settled from 20 * 8/7 + 30 = 53 s, so intervals 6 (60 s) on.
    bounded = judge(archive([10, 20, 30, 40, 40, 40, 40, 41, 40]))
    assert [v.met for v in bounded if v.name == "archive bounded"] == [True]
    growing = judge(archive([10, 20, 30, 40, 50, 60, 70, 80, 90]))
    assert [v.met for v in growing if v.name == "archive bounded"] == [False]


def test_settings_are_checked_before_anything_runs() -> None:
    with pytest.raises(ValidationError, match="batch must be a positive integer"):
        ChurnSettings(batch=0)
    assert ChurnSettings(minutes=3, interval=30).intervals == 6
    assert ChurnSettings(rate=4000, producers=2, batch=200).period == pytest.approx(0.1)


def test_churn_json_records_settings_and_server(churn_run: tuple[str, dict[str, Any]]) -> None:
    _, run = churn_run
    assert all(set(v) == {"name", "measured", "target", "met"} for v in run["verdicts"])
    assert run["settings"]["holder"] is True
    assert run["environment"]["durability"].startswith("fsync off")


def test_churn_readme_writes_the_run_into_the_readme(
    churn_run: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    stdout, run = churn_run
    (tmp_path / "run.json").write_text(json.dumps(run))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- churn:start -->\nold\n<!-- churn:end -->\nafter\n")
    script = Path(__file__).resolve().parent.parent / "scripts" / "churn_readme.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run.json"), "--readme", str(readme)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert text.startswith("before\n<!-- churn:start -->\n")
    assert text.endswith("<!-- churn:end -->\nafter\n")
    assert "\nold\n" not in text
    # The run's own tables, as its report printed them, and how long it ran.
    table = [line for line in stdout.splitlines() if line.startswith("| 1 (")]
    assert table
    assert table[0] in text
    assert "0.2 minutes in 4-second intervals" in text
    assert "| nothing lost |" in text
