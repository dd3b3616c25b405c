"""The peers: which script drives each, what its virtualenv installs, how much work it gets.

Peer versions are pinned so that a rerun measures the same code; each peer's virtualenv is
created from PyPI by ``venvs.py`` (nothing of a peer's code is in this repository).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PEERS", "PeerSpec"]


@dataclass(frozen=True)
class PeerSpec:
    """One peer: its key (``--peers``), the label the table shows, its script, and what its
    virtualenv installs (``None``: the checkout's own ``.venv``, for this repository's pgqrs)."""

    key: str
    label: str
    script: str
    requirements: tuple[str, ...] | None
    #: Fractions of the standard message counts, by operation key, for peers whose rate makes
    #: the standard count take tens of seconds per round; the baseline gets the same count.
    scale: Mapping[str, float] = field(default_factory=dict)


PEERS: tuple[PeerSpec, ...] = (
    PeerSpec(
        key="pgqrs",
        label="pgqrs (this repository)",
        script="peer_pgqrs.py",
        requirements=None,
    ),
    PeerSpec(
        key="pgqueuer",
        label="PgQueuer",
        script="peer_pgqueuer.py",
        requirements=("pgqueuer==1.6.0", "asyncpg>=0.29", "orjson>=3.9"),
    ),
    PeerSpec(
        key="procrastinate",
        label="procrastinate",
        script="peer_procrastinate.py",
        # psycopg's C implementation, as pgqrs's own .venv has: procrastinate's requirement
        # alone would load the pure-Python one.
        requirements=("procrastinate==3.10.0", "psycopg[c]>=3.2"),
        scale={"enqueue": 0.5, "consume@100": 0.2},
    ),
    PeerSpec(
        key="pgqrs-rust",
        label="pgqrs (Rust, PyPI)",
        script="peer_pgqrs_rust.py",
        requirements=("pgqrs==0.15.3",),
    ),
)
