"""``pgqrs bench`` runs end to end (tiny sizes) and prints its report, on the server it says it
measured, and ``scripts/bench_readme.py`` turns its JSON into the README's block: the numbers
themselves are the benchmarks' business (``make bench``), not the test suite's."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_readme.py"
HEADER = "| scenario | pgqrs msgs/s | baseline msgs/s | ratio | target | met? |"


def _bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pgqrs", "bench", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def quick_run(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """One ``pgqrs bench --quick --rounds 1`` on the test server: stdout, stderr, JSON path."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = _bench("--quick", "--rounds", "1", "--dsn", dsn, "--json", str(out))
    return done.stdout, done.stderr, out


def test_bench_quick_prints_the_table(quick_run: tuple[str, str, Path]) -> None:
    stdout, stderr, out = quick_run
    assert "### Reproducing" in stdout
    assert HEADER in stdout
    for row in ("enqueue_batch, 1,000/batch", "enqueue (one message)", "dequeue+archive, 100"):
        assert row in stdout
    # The test server is the fast kind, and the report says so.
    assert "- **durability**: fsync off, synchronous_commit off, full_page_writes off" in stdout
    assert "[1/" in stderr  # progress goes to stderr, keeping stdout a clean table
    report = json.loads(out.read_bytes())
    keys = {result["key"] for result in report["results"]}
    assert {"enqueue_batch@1000", "enqueue", "enqueue_file@1000", "dequeue+archive@100"} <= keys
    assert not keys & {"notify@1", "small-batch@1"}  # outside the standard set
    assert all(r["pgqrs"]["median_rate"] > 0 for r in report["results"])


def test_only_runs_the_selected_measurements(dsn: str, tmp_path: Path) -> None:
    listed = _bench("--list").stdout
    for key in ("enqueue_batch@1000", "notify@1", "small-batch@100", "wakeup"):
        assert f"\n{key} " in listed
    out = tmp_path / "only.json"
    args = ["--quick", "--rounds", "1", "--dsn", dsn, "--json", str(out)]
    _bench(*args, "--only", "small-batch@10,wakeup", "--only", "notify@1")
    report = json.loads(out.read_bytes())
    assert [r["key"] for r in report["results"]] == ["notify@1", "small-batch@10"]
    [wakeup] = report["latencies"]
    assert set(wakeup["samples"]) == {
        "LISTEN/NOTIFY (Config(notify=True))",
        "polling (poll_interval 1 s)",
    }
    assert all(len(s) == 3 and min(s) > 0 for s in wakeup["samples"].values())


def test_report_quotes_the_command_without_its_password(dsn: str, tmp_path: Path) -> None:
    # The test server trusts every local connection, so the password is sent and ignored.
    secret = "bench-s3cret"
    out = tmp_path / "secret.json"
    args = ["--quick", "--rounds", "1", "--only", "enqueue", "--json", str(out)]
    done = _bench(*args, "--dsn", f"{dsn} password={secret}")
    assert "- **command**: `pgqrs bench --quick" in done.stdout
    assert "password=***" in done.stdout
    for shown in (done.stdout, done.stderr, out.read_text()):
        assert secret not in shown


@pytest.mark.parametrize(
    ("flags", "durability"),
    [
        ((), "fsync on, synchronous_commit on, full_page_writes on"),
        (("--fast-server",), "fsync off, synchronous_commit off, full_page_writes off"),
    ],
)
def test_throwaway_server_is_durable_unless_told(flags: tuple[str, ...], durability: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PGQRS_DSN"}
    done = _bench("--quick", "--rounds", "1", "--only", "enqueue", *flags, env=env)
    assert f"- **durability**: {durability}" in done.stdout
    kind = "--fast-server: fsync" if flags else "durable: PostgreSQL's default"
    assert kind in done.stdout  # the server line says which throwaway server it was


def _readme_block(tmp_path: Path, *runs: dict[str, Any]) -> tuple[str, str]:
    paths = []
    for n, run in enumerate(runs):
        paths.append(tmp_path / f"run{n}.json")
        paths[-1].write_text(json.dumps(run))
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\nbefore\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n"
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths), "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n<!-- bench:start -->\n")
    assert text.endswith("<!-- bench:end -->\nafter\n")
    assert "old table" not in text
    return text, done.stderr


def _row(text: str, title: str) -> list[str]:
    [line] = [line for line in text.splitlines() if line.startswith(f"| {title} ")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_readme_script_writes_one_run(quick_run: tuple[str, str, Path], tmp_path: Path) -> None:
    run = json.loads(quick_run[2].read_bytes())
    text, _ = _readme_block(tmp_path, run)
    assert HEADER in text
    for result in run["results"]:
        cells = _row(text, result["title"])
        assert cells[1] == f"{result['pgqrs']['median_rate']:,.0f}"
        assert cells[3] == f"{result['ratio']:.2f}"
    assert "Fast server (fsync off, synchronous_commit off, full_page_writes off), 1 run:" in text
    assert f"`{run['command'].split(' --json')[0]}`" in text  # the command, without its JSON path
    assert f"CPython {sys.version.split()[0]}" in text


def test_readme_script_shows_each_run_and_the_median(
    quick_run: tuple[str, str, Path], tmp_path: Path
) -> None:
    first = json.loads(quick_run[2].read_bytes())
    runs = []
    for ratio in (0.5, 0.9, 0.7):
        run = copy.deepcopy(first)
        for result in run["results"]:
            if result["key"] == "enqueue_batch@1000":
                result["ratio"] = ratio
        runs.append(run)
    durable = copy.deepcopy(first)
    durable["environment"]["durability"] = "fsync on, synchronous_commit on, full_page_writes on"
    text, _ = _readme_block(tmp_path, *runs, durable)
    # The first three runs share a server: each run's ratio, then the median, decides the target.
    fast, durable_part = text.split("Durable server (")
    cells = _row(fast, "enqueue_batch, 1,000/batch vs raw binary COPY")
    assert cells[3:7] == ["0.50, 0.90, 0.70", "0.70", "≥ 0.90", "**no**"]
    assert "Fast server (fsync off, synchronous_commit off, full_page_writes off), 3 runs:" in fast
    # The durable run gets its own table, with its own ratio.
    assert "fsync on, synchronous_commit on, full_page_writes on), 1 run:" in durable_part
    ratio = next(r["ratio"] for r in first["results"] if r["key"] == "enqueue_batch@1000")
    assert _row(durable_part, "enqueue_batch, 1,000/batch vs raw binary COPY")[3] == f"{ratio:.2f}"
    assert "4 runs." in durable_part
