"""Our docs pages are true: every code example runs (as the session it is written as), the
outcomes the pages state hold in the database, and every link points inside the repository.

The API document's own examples run in tests/test_seed_examples.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgqrs import Admin

from doc_examples import DOCS, python_blocks, queue_counts, run_session

REPO = DOCS.parent
SEED = DOCS / "python-api.md"


def installed(dsn: str) -> bool:
    async def go() -> bool:
        async with Admin(dsn) as admin:
            try:
                await admin.verify()
            except RuntimeError:
                return False
            return True

    return asyncio.run(go())


def check_admin(dsn: str, namespace: dict[str, Any], out: str) -> None:
    assert "Queue 'emails' already exists" in out
    assert "4 3 1" in out  # the metrics line
    assert "2 2 0 0 0" in out  # the worker stats line
    assert "back on the queue as message" in out
    assert not installed(dsn)  # the last example uninstalls


def check_producer(dsn: str, namespace: dict[str, Any], out: str) -> None:
    assert "1000 True" in out
    assert "refused: SerializationError at index 1" in out
    assert out.rstrip().endswith("1003")  # purged: all but the refused batch
    assert queue_counts(dsn, "tasks") == (0, 0)


def check_consumer(dsn: str, namespace: dict[str, Any], out: str) -> None:
    assert namespace["handled"] == 20
    assert "[True, False]" in out  # delete_many of a missing id
    assert "call shutdown(release=True)" in out
    # Every message archived but the one released with a 60 s delay; two deleted.
    assert queue_counts(dsn, "jobs") == (1, 31)


def check_basic_workflow(dsn: str, namespace: dict[str, Any], out: str) -> None:
    assert out.count("Sent task") == 10
    assert "Processed 10 tasks" in out
    assert "pending 0, in flight 0, archived 20, dead 0" in out
    assert queue_counts(dsn, "tasks") == (0, 20)


def check_coming_from_pgqrs(dsn: str, namespace: dict[str, Any], out: str) -> None:
    assert "Cancelled 2 scheduled reminders for user 7" in out
    assert "is stale" not in out
    assert queue_counts(dsn, "reminders") == (1, 0)  # user 8's reminder
    assert queue_counts(dsn, "tasks") == (50, 50)


PAGES: dict[str, Callable[[str, dict[str, Any], str], None]] = {
    "admin.md": check_admin,
    "producer.md": check_producer,
    "consumer.md": check_consumer,
    "guides/basic-workflow.md": check_basic_workflow,
    "guides/coming-from-pgqrs.md": check_coming_from_pgqrs,
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_examples_run(fresh_dsn: str, page: str, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run_session(DOCS / page, fresh_dsn)
    PAGES[page](fresh_dsn, namespace, capsys.readouterr().out)


def test_every_page_with_examples_is_run() -> None:
    with_examples = {
        path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md") if python_blocks(path)
    }
    assert with_examples == set(PAGES) | {SEED.name}


_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
_FENCE = re.compile(r"^([ \t]*)```.*?^\1```", re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, as GitHub (and mkdocs' toc) derive them."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))  # a "# comment" is no heading
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in _HEADING.findall(text)
    }


def test_links_resolve_inside_the_repository() -> None:
    pages = [*DOCS.rglob("*.md"), REPO / "README.md"]
    broken = []
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):  # https://...: not ours to check
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists() or REPO not in resolved.parents:
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken


def test_api_document_describes_this_project() -> None:
    text = SEED.read_text(encoding="utf-8")
    for claim in ("PyO3", "Rust implementation", "Python bindings", "rust/index.md"):
        assert claim not in text, claim
