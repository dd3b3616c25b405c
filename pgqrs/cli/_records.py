"""The API's result objects as flat dicts: the rows of the command's tables and its JSON.

Every field of the object is kept under its API name, so ``--format json`` output reads like the
Python API; workers also get the name of their queue (``queue``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..admin import Admin
from ..types import (
    ArchivedMessage,
    QueueInfo,
    QueueMessage,
    QueueMetrics,
    WorkerHealth,
    WorkerInfo,
    WorkerStats,
)

__all__ = [
    "Record",
    "all_queues",
    "archived",
    "health",
    "message",
    "metrics",
    "queue",
    "queue_names",
    "stats",
    "worker",
]

Record = dict[str, Any]

#: Page size when a command reads a whole table (``queue list``, the queue names of workers).
PAGE = 1000


def queue(info: QueueInfo) -> Record:
    return dataclasses.asdict(info)


def metrics(snapshot: QueueMetrics) -> Record:
    return dataclasses.asdict(snapshot)


def message(msg: QueueMessage) -> Record:
    return msg.to_dict()


def archived(msg: ArchivedMessage) -> Record:
    return dataclasses.asdict(msg) | {"is_dead_letter": msg.is_dead_letter}


def stats(counts: WorkerStats) -> Record:
    return dataclasses.asdict(counts)


def worker(info: WorkerInfo, names: Mapping[int, str]) -> Record:
    record = dataclasses.asdict(info)
    record["queue"] = None if info.queue_id is None else names.get(info.queue_id)
    return record


def health(state: WorkerHealth, names: Mapping[int, str]) -> Record:
    return worker(state.worker, names) | {
        "heartbeat_age": state.heartbeat_age,
        "is_stale": state.is_stale,
        "leased_messages": state.leased_messages,
    }


async def all_queues(admin: Admin) -> list[QueueInfo]:
    """Every queue, ordered by id, read a page at a time."""
    table = admin.get_queues()
    found: list[QueueInfo] = []
    while page := await table.list(limit=PAGE, offset=len(found)):
        found += page
        if len(page) < PAGE:
            break
    return found


async def queue_names(admin: Admin) -> dict[int, str]:
    """Queue ids to names, for listings that carry only ids."""
    return {info.id: info.queue_name for info in await all_queues(admin)}
