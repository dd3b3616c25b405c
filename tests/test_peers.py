"""The peer comparison's tooling, without the peers: ``scripts/peers_readme.py`` turns a run's
JSON into the README's table, and ``benchmarks/peers/runner.py`` drives a peer process through
its protocol against the bench's raw baseline (shown with this repository's pgqrs, the one peer
that needs no virtualenv of its own).  The peers' own runs are ``make bench-peers``' business."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

import pgqrs

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "peers_readme.py"
RUNNER = ROOT / "benchmarks" / "peers" / "runner.py"
START, END = "<!-- peers:start -->", "<!-- peers:end -->"

ENVIRONMENT = {
    "pgqrs": "0.1.0",
    "core": "c",
    "python": "CPython 3.11.7",
    "psycopg": "3.3.9 (c), libpq 15.18",
    "postgresql": "15.18 (Debian 15.18-0+deb12u1)",
    "cpus": "2",
    "machine": "x86_64, AMD EPYC, Linux 6.1",
    "server": "throwaway local PostgreSQL",
    "durability": "fsync on, synchronous_commit on, full_page_writes on",
    "commit": "abc1234",
}


def _ok(peer: str, operation: str, op: str, peer_rate: float, baseline_rate: float) -> Any:
    titles = {
        "enqueue_batch": ("batch enqueue, 1,000 per batch", "raw binary COPY"),
        "dequeue_ack": ("dequeue + ack, batch 100", "raw dequeue + archive loop"),
    }
    title, baseline = titles[op]
    return {
        "peer": peer,
        "operation": operation,
        "op": op,
        "title": title,
        "baseline": baseline,
        "status": "ok",
        "ratio": peer_rate / baseline_rate,
        "peer_rate": peer_rate,
        "baseline_rate": baseline_rate,
    }


SAMPLE: dict[str, Any] = {
    "kind": "pgqrs-peers",
    "environment": ENVIRONMENT,
    "command": "",
    "sizes": {"rounds": 5, "warmup": 1},
    "peers": [
        {
            "key": "pgqrs",
            "label": "pgqrs (this repository)",
            "library": "pgqrs",
            "versions": {"python": "CPython 3.11.7", "pgqrs": "0.1.0", "core": "compiled"},
            "calls": {"enqueue_batch": "`Producer.enqueue_batch(payloads)`"},
        },
        {
            "key": "procrastinate",
            "label": "procrastinate",
            "library": "procrastinate",
            "versions": {"python": "CPython 3.11.7", "procrastinate": "3.10.0"},
            "calls": {"enqueue_batch": "`Task.batch_defer_async(*payloads)`"},
        },
    ],
    "results": [
        _ok("pgqrs", "enqueue_batch@1000", "enqueue_batch", 105_464.0, 92_798.0),
        _ok("pgqrs", "dequeue+ack@100", "dequeue_ack", 18_657.0, 14_015.0),
        _ok("procrastinate", "enqueue_batch@1000", "enqueue_batch", 6_700.0, 95_000.0),
        {
            "peer": "procrastinate",
            "operation": "dequeue+ack@100",
            "op": "dequeue_ack",
            "title": "dequeue + ack, batch 100",
            "baseline": "raw dequeue + archive loop",
            "status": "n/a",
            "reason": "no batch dequeue",
        },
    ],
}


def _script(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one of the repository's scripts.  They import their neighbours from their own folder,
    which PYTHONSAFEPATH (set where the installed wheel is tested) would take off sys.path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _render(run: Any, tmp_path: Path, readme: str = "-") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    return _script(SCRIPT, path, "--readme", readme)


def _rows(block: str) -> dict[str, list[str]]:
    """The table's rows by their first cell, split into cells."""
    rows = {}
    for line in block.splitlines():
        if line.startswith("| ") and not line.startswith("| operation"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_table_has_a_column_per_peer_and_the_ratio_in_each_cell(tmp_path: Path) -> None:
    done = _render(SAMPLE, tmp_path)
    assert done.returncode == 0, done.stderr
    block = done.stdout
    assert block.startswith(START)
    assert block.rstrip().endswith(END)
    header = (
        "| operation | raw baseline: sync psycopg, lean table (its rate in each peer's run) "
        "| pgqrs 0.1.0 (this repository) | procrastinate 3.10.0 |"
    )
    assert header in block
    rows = _rows(block)
    # The baseline's rate in each peer's run, then per peer: ratio (best in bold) and rate.
    assert rows["batch enqueue, 1,000 per batch"] == [
        "raw binary COPY (92,798 to 95,000/s)",
        "**1.14** (105,464/s)",
        "0.07 (6,700/s)",
    ]
    assert rows["dequeue + ack, batch 100"] == [
        "raw dequeue + archive loop (14,015/s)",
        "**1.33** (18,657/s)",
        "n/a [1]",
    ]
    assert "[1] procrastinate 3.10.0: no batch dequeue." in block
    assert "- **procrastinate 3.10.0**" in block
    assert "  - batch enqueue, 1,000 per batch: `Task.batch_defer_async(*payloads)`" in block


def test_reproducing_names_every_version_the_server_and_the_command(tmp_path: Path) -> None:
    run = copy.deepcopy(SAMPLE)
    block = _render(run, tmp_path).stdout
    line = next(line for line in block.splitlines() if line.startswith("**Reproducing.**"))
    for fact in (
        "pgqrs 0.1.0 (this repository; core compiled)",
        "procrastinate 3.10.0",
        "CPython 3.11.7",
        "psycopg 3.3.9 (c), libpq 15.18",
        "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) (fsync on, synchronous_commit on, "
        "full_page_writes on)",
        "2 CPUs (x86_64, AMD EPYC, Linux 6.1)",
        "5 interleaved rounds per side after 1 warm-up round",
        "commit abc1234",
        "Command: `make bench-peers`.",
    ):
        assert fact in line, fact
    run["command"] = "--peers pgqrs,procrastinate --rounds 3"
    again = _render(run, tmp_path).stdout
    assert (
        'Command: `make bench-peers PEERS_ARGS="--peers pgqrs,procrastinate --rounds 3"`' in again
    )


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    before, after = "# Title\n\nintro\n\n", "\n\nafter the table\n"
    readme.write_text(f"{before}{START}\nold table\n{END}{after}", encoding="utf-8")
    done = _render(SAMPLE, tmp_path, str(readme))
    assert done.returncode == 0, done.stderr
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text
    assert text.startswith(before + START)
    assert text.endswith(END + after)
    assert text == before + _render(SAMPLE, tmp_path).stdout.rstrip("\n") + after
    assert _render(SAMPLE, tmp_path, str(readme)).returncode == 0
    assert readme.read_text(encoding="utf-8") == text  # idempotent


def test_a_readme_without_the_block_or_a_foreign_json_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n<!-- bench:start -->\n<!-- bench:end -->\n", "utf-8")
    done = _render(SAMPLE, tmp_path, str(readme))
    assert done.returncode == 2
    assert f"the README has no {START} ... {END} block" in done.stderr
    assert readme.read_text(encoding="utf-8").startswith("# no block here")
    bench_json = {"environment": ENVIRONMENT, "results": [], "command": "pgqrs bench"}
    done = _render(bench_json, tmp_path)
    assert done.returncode == 2
    assert "not the JSON of make bench-peers" in done.stderr


def test_runner_drives_a_peer_through_the_protocol_against_the_raw_baseline(
    dsn: str, tmp_path: Path
) -> None:
    out = tmp_path / "peers.json"
    done = _script(RUNNER, "--peers", "pgqrs", "--quick", "--dsn", dsn, "--json", out, timeout=300)
    assert done.returncode == 0, done.stderr
    run = json.loads(out.read_text(encoding="utf-8"))
    assert run["kind"] == "pgqrs-peers"
    assert run["command"] == "--peers pgqrs --quick"
    (peer,) = run["peers"]
    assert peer["key"] == "pgqrs"
    assert peer["versions"]["pgqrs"] == pgqrs.__version__
    assert set(peer["calls"]) == {"enqueue_batch", "enqueue", "dequeue_ack", "consume"}
    results = {r["operation"]: r for r in run["results"]}
    assert list(results) == ["enqueue_batch@1000", "enqueue", "dequeue+ack@100", "consume@100"]
    for entry in results.values():
        assert entry["status"] == "ok", entry
        # Each side timed every round; the runner checked the peer handled every message.
        assert len(entry["peer_seconds"]) == len(entry["baseline_seconds"]) == 1
        assert entry["peer_rate"] > 0
        assert entry["baseline_rate"] > 0
    assert results["dequeue+ack@100"]["messages"] == 500
    # The peer's database and the baseline's are gone again.
    with psycopg.connect(dsn) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'peers_%'")
        assert left.fetchall() == []
    # What the runner writes is what the README script reads.
    rendered = _script(SCRIPT, out, "--readme", "-")
    assert rendered.returncode == 0, rendered.stderr
    assert "| consume loop (worker), batch 100 |" in rendered.stdout
