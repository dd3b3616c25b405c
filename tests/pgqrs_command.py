"""The installed ``pgqrs`` console script, run as a user runs it, for the CLI tests."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The console script pip installed next to the interpreter (``.venv/bin/pgqrs``).
PGQRS = Path(sys.executable).with_name("pgqrs")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PostgreSQL settings (``PG*``, ``PGQRS_DSN``), so a command
    connects only where the test says; ``PGQRS_IMPL`` stays, to test the same core."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PGQRS_IMPL"}
    return env | extra


@dataclass(frozen=True)
class Done:
    """A finished command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> Done:
        assert self.returncode == 0, f"{self.argv}: exit {self.returncode}\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        return self

    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        """stdout as JSON lines."""
        return [json.loads(line) for line in self.stdout.splitlines()]

    def failed(self, *fragments: str, status: int = 1) -> Done:
        """The command failed with ``status``, one ``pgqrs: error:`` line naming ``fragments``,
        and no traceback."""
        assert self.returncode == status, f"{self.argv}: exit {self.returncode}\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        [error] = [line for line in self.stderr.splitlines() if line.startswith("pgqrs: error:")]
        for fragment in fragments:
            assert fragment in error, error
        return self


def pgqrs(
    *args: str,
    dsn: str | None = None,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Done:
    """Run ``pgqrs [--dsn DSN] ARGS...`` with ``input`` on stdin."""
    argv = [str(PGQRS), *(["--dsn", dsn] if dsn is not None else []), *args]
    done = subprocess.run(
        argv,
        input=input.encode() if isinstance(input, str) else input,
        capture_output=True,
        env=clean_env() if env is None else env,
        timeout=timeout,
        check=False,
    )
    return Done(argv, done.returncode, done.stdout.decode(), done.stderr.decode())


def new_queue(dsn: str) -> str:
    """A queue of its own for one test, created with the command."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    pgqrs("queue", "create", name, dsn=dsn).ok()
    return name


def run_in_terminal(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal of 120 x 40.

    Returns:
        The exit status and everything the command drew on the terminal.
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environment = (clean_env() if env is None else env) | {"TERM": "xterm-256color"}
    process = subprocess.Popen(
        argv, stdin=follower, stdout=follower, stderr=follower, env=environment
    )
    os.close(follower)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal (it exited)
                break
            if not data:
                break
            drawn += data
        status = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return status, drawn.decode(errors="replace")
