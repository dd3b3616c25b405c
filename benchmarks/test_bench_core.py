"""Core micro-benchmarks, no database: the compiled core against its pure-Python twin.

SPEC §6 asks the compiled core to be at least 5x faster on encode and on decode; each group
holds both implementations on the same 1,000 rows, so the ratio reads off the group's table.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from pgqrs.bench import make_payloads
from pgqrs.bench._internals import compiled_core, decode_call, encode_call, python_core

ROWS = 1_000


def _impls() -> list[Any]:
    compiled = compiled_core()
    return [
        pytest.param(
            compiled,
            id="compiled",
            marks=pytest.mark.skipif(compiled is None, reason="compiled core not built"),
        ),
        pytest.param(python_core(), id="python"),
    ]


@pytest.mark.benchmark(group=f"core.encode-{ROWS}")
@pytest.mark.parametrize("core", _impls())
def test_copy_encoder_encode(benchmark: Any, core: ModuleType) -> None:
    """``CopyEncoder.encode`` of 1,000 small JSON payloads into one binary COPY chunk."""
    benchmark.extra_info["rows"] = ROWS
    chunk, end = benchmark(encode_call(core, make_payloads(ROWS)))
    assert end == ROWS
    assert chunk.startswith(b"PGCOPY\n")


@pytest.mark.benchmark(group=f"core.decode-{ROWS}")
@pytest.mark.parametrize("core", _impls())
def test_decode_messages(benchmark: Any, core: ModuleType) -> None:
    """``decode_messages`` of 1,000 raw binary rows as the dequeue statement returns them."""
    benchmark.extra_info["rows"] = ROWS
    messages = benchmark(decode_call(core, make_payloads(ROWS)))
    assert len(messages) == ROWS
    assert messages[0].payload["kind"] == "bench"
