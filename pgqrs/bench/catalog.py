"""Every measurement ``pgqrs bench`` can take, by key, and how ``--only`` selects among them.

The standard set is what a plain ``pgqrs bench`` runs: one row per target of docs/contract.md
(Performance targets) and the rows around them.  The others measure figures that a design
decision rests on (the NOTIFY default, the small-batch crossover, wake-up latency) and run when
selected with ``--only`` (a key, or a group: the part of a key before ``@`` or ``.``) or
``--all``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ValidationError
from .harness import Probe, Scenario
from .scenarios.core import core_decode_scenario, core_encode_scenario
from .scenarios.drain import consume_scenario, depth_scenario, drain_scenario
from .scenarios.enqueue import enqueue_batch_scenario, enqueue_scenario, small_batch_scenario
from .scenarios.limit import (
    limit_drain_scenario,
    limit_enqueue_batch_scenario,
    limit_enqueue_scenario,
)
from .scenarios.load import file_load_scenario
from .scenarios.notify import WakeupProbe, notify_scenario
from .scenarios.web import concurrent_enqueue_scenario, web_scenario
from .sizes import Sizes

__all__ = ["Entry", "SelectionError", "catalog", "group_of", "select", "standard_scenarios"]


@dataclass(frozen=True)
class Entry:
    """One measurement: a two-sided :class:`Scenario` or a :class:`Probe`."""

    measurement: Scenario | Probe
    #: Part of a plain ``pgqrs bench`` run.
    standard: bool

    @property
    def key(self) -> str:
        return self.measurement.key

    @property
    def title(self) -> str:
        return self.measurement.title


class SelectionError(ValidationError):
    """``--only`` named something no measurement has."""


def group_of(key: str) -> str:
    """The group a key belongs to: ``enqueue_batch@100`` -> ``enqueue_batch``."""
    return re.split(r"[@.]", key, maxsplit=1)[0]


def standard_scenarios(dsn: str, sizes: Sizes) -> list[Scenario]:
    """The scenarios of a plain ``pgqrs bench``, in report order."""
    found: list[Scenario | None] = [
        *(enqueue_batch_scenario(dsn, b, sizes.batch_messages) for b in sizes.batch_sizes),
        enqueue_scenario(dsn, sizes.single_messages),
        file_load_scenario(dsn, sizes.file_batch, sizes.file_messages),
        *(drain_scenario(dsn, b, n) for b, n in sizes.drain_messages),
        drain_scenario(dsn, 100, sizes.concurrent_messages, sizes.concurrent_consumers),
        consume_scenario(dsn, 100, sizes.consume_messages),
        concurrent_enqueue_scenario(dsn, sizes.concurrent_tasks, sizes.concurrent_enqueue_messages),
        depth_scenario(dsn, sizes.depth_deep, sizes.depth_messages),
        core_encode_scenario(sizes.core_rows, sizes.core_seconds),
        core_decode_scenario(sizes.core_rows, sizes.core_seconds),
        limit_enqueue_batch_scenario(dsn, 100, sizes.batch_messages),
        limit_enqueue_scenario(dsn, sizes.single_messages),
        *(limit_drain_scenario(dsn, b, n) for b, n in sizes.drain_messages if b in (1, 10)),
    ]
    return [s for s in found if s is not None]


def _extra_measurements(dsn: str, sizes: Sizes) -> list[Scenario | Probe]:
    return [
        notify_scenario(dsn, 1, sizes.notify_messages),
        notify_scenario(dsn, sizes.notify_batch, sizes.notify_batch_messages),
        *(small_batch_scenario(dsn, b, n) for b, n in sizes.small_batches),
        *(
            file_load_scenario(dsn, b, sizes.file_million, group="enqueue_file_million")
            for b in sizes.file_million_batches
        ),
        WakeupProbe(dsn, sizes.wakeup_samples, sizes.wakeup_idle),
        web_scenario(dsn, sizes.web_requests, sizes.web_concurrency),
    ]


def catalog(dsn: str, sizes: Sizes) -> list[Entry]:
    """Every measurement, standard ones first.  Building them does no I/O."""
    return [Entry(s, True) for s in standard_scenarios(dsn, sizes)] + [
        Entry(m, False) for m in _extra_measurements(dsn, sizes)
    ]


def select(
    entries: Sequence[Entry], only: Iterable[str] = (), *, everything: bool = False
) -> list[Entry]:
    """The entries to run: those ``only`` names (keys or groups, in catalog order), else all of
    them with ``everything``, else the standard set.

    Raises:
        SelectionError: a name in ``only`` matches no entry.
    """
    wanted = [name.strip() for name in only if name.strip()]
    if not wanted:
        return [e for e in entries if everything or e.standard]
    unknown = [n for n in wanted if not any(n in (e.key, group_of(e.key)) for e in entries)]
    if unknown:
        groups = sorted({group_of(e.key) for e in entries})
        raise SelectionError(
            f"no measurement named {', '.join(unknown)}: choose keys (pgqrs bench --list) or "
            f"groups ({', '.join(groups)})"
        )
    return [e for e in entries if e.key in wanted or group_of(e.key) in wanted]
