"""Child Python processes for the tests that need a second process (identity takeover, kills)."""

from __future__ import annotations

import asyncio
import sys
import textwrap


async def spawn(snippet: str, *args: str, stderr: int | None = None) -> asyncio.subprocess.Process:
    """Run ``snippet`` (dedented) in a new interpreter with ``args`` as ``sys.argv[1:]``; its
    stdout is a pipe, so the test can wait for the lines it prints."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(snippet),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
