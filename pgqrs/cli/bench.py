"""``pgqrs bench``: handed whole to the benchmark harness (``pgqrs.bench.cli``), which parses
its own arguments (``pgqrs bench --help``), so nothing of it loads for the other commands."""

from __future__ import annotations

from ._common import Commands, Context

__all__ = ["register"]


def bench(ctx: Context) -> int:
    from ..bench.cli import main

    return main(ctx.rest)


def register(commands: Commands) -> None:
    commands.passthrough(
        "bench", bench, help="measure pgqrs against raw psycopg, as ratios (pgqrs bench --help)"
    )
