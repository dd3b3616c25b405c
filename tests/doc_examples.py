"""The code examples of the docs pages, extracted and run as the tests need them.

Every page writes its examples against ``postgresql://localhost/mydb``; tests run them against a
test database instead (only that literal changes).  The API document (docs/python-api.md) holds
complete scripts; our own pages are written as a session of ``python -m asyncio``: blocks run in
order in one namespace, on one event loop, with ``await`` allowed at the top level.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

from pgqrs import Admin

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE_DSN = "postgresql://localhost/mydb"
_BLOCK = re.compile(r"^([ \t]*)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, dedented (blocks may sit in indented tabs)."""
    return [textwrap.dedent(m.group(2)) for m in _BLOCK.finditer(page.read_text(encoding="utf-8"))]


def with_dsn(code: str, dsn: str) -> str:
    """An example's code pointed at ``dsn``."""
    return code.replace(EXAMPLE_DSN, dsn)


def run_session(page: Path, dsn: str) -> dict[str, Any]:
    """Run every block of ``page`` in order, as one ``python -m asyncio`` session would.

    Returns:
        The session's namespace.
    """
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    with asyncio.Runner() as runner:
        for number, code in enumerate(python_blocks(page), 1):
            compiled = compile(
                with_dsn(code, dsn),
                f"<{page.name} example {number}>",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            result = eval(compiled, namespace)
            if inspect.iscoroutine(result):
                runner.run(result)
    return namespace


def queue_counts(dsn: str, queue: str) -> tuple[int, int]:
    """(messages in the queue, messages archived) of a queue, after an example ran."""

    async def go() -> tuple[int, int]:
        async with Admin(dsn) as admin:
            return (
                await admin.get_messages().count(queue=queue),
                await admin.get_archive().count(queue=queue),
            )

    return asyncio.run(go())
