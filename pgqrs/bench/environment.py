"""What a reader needs to reproduce a run: versions, machine, server and its durability, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg

from .._impl import impl
from .._version import __version__
from .schema import connect

DURABLE_SERVER = (
    "throwaway local PostgreSQL on the same machine (pgqrs.embedded, durable: PostgreSQL's "
    "default fsync, synchronous_commit and full_page_writes)"
)
FAST_SERVER = (
    "throwaway local PostgreSQL on the same machine (pgqrs.embedded, --fast-server: fsync, "
    "synchronous_commit and full_page_writes off)"
)


def describe_server(dsn: str | None, fast_server: bool, progress: Callable[[str], None]) -> str:
    """What a report says about its server; announces the throwaway one before it starts."""
    if dsn:
        return "the given DSN"
    progress(f"starting a throwaway PostgreSQL ({'fast' if fast_server else 'durable'}) ...")
    return FAST_SERVER if fast_server else DURABLE_SERVER


__all__ = ["DURABILITY_SETTINGS", "environment"]

#: The settings that decide what a commit costs, reported with every run.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


async def environment(dsn: str, server: str = "") -> dict[str, str]:
    """Versions, machine, the server (``server`` describes it) and its durability settings, and
    the commit of the checkout pgqrs runs from (when it runs from one)."""
    async with await connect(dsn) as conn:
        names = ("server_version", *DURABILITY_SETTINGS)
        cur = await conn.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        row = await cur.fetchone()
    version, *durability = [str(v) for v in row] if row else ["?"] * (1 + len(DURABILITY_SETTINGS))
    libpq = psycopg.pq.version()
    found = {
        "pgqrs": __version__,
        "core": impl,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__}), libpq "
        f"{libpq // 10000}.{libpq % 10000}",
        "postgresql": version,
        "cpus": str(os.cpu_count()),
        "machine": f"{platform.machine()}, {_cpu_model()}, {platform.system()} "
        f"{platform.release()}",
    }
    if server:
        found["server"] = server
    found["durability"] = ", ".join(
        f"{name} {value}" for name, value in zip(DURABILITY_SETTINGS, durability, strict=True)
    )
    commit = _commit()
    if commit:
        found["commit"] = commit
    return found


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    """``git describe`` of the checkout this package lives in; empty when installed elsewhere
    (a wheel in site-packages, which may itself sit inside some other repository)."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists() or not (checkout / "pgqrs" / "bench").is_dir():
        return ""
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=7"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
