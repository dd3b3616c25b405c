"""The README's Layout section names every module of the package, so it stays the map of the
tree that a new maintainer reads first."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Present in every package; naming them would tell a reader nothing.
OBVIOUS = {"__init__.py", "__main__.py", "_version.py"}


def _layout() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Layout")
    return readme[start : readme.index("\n## ", start + 1)]


@pytest.mark.parametrize("folder", ["pgqrs", "pgqrs/cli"])
def test_layout_names_every_module(folder: str) -> None:
    layout = _layout()
    modules = sorted(p.name for p in (ROOT / folder).glob("*.py") if p.name not in OBVIOUS)
    missing = [name for name in modules if name not in layout]
    assert not missing, f"README Layout does not name {missing} of {folder}/"
