"""Retention: the archive keeps acknowledged messages and dead letters for their windows and is
pruned by rotating its slots (a TRUNCATE, never a DELETE of acknowledged messages), without
ever making enqueue, dequeue or an acknowledgement wait; a queue may keep no archive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqrs import Admin, Config, PruneResult, QueueNotFoundError, ValidationError
from pgqrs.retention import ARCHIVE_SLOTS

from conftest import Clients


def _exec(clients: Clients, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(clients.dsn, autocommit=True) as conn:
        text = sql.SQL(statement).format(schema=sql.Identifier(clients.schema))
        cur = conn.execute(text, params or None)
        return cur.fetchall() if cur.description else []


def make_rotation_due(clients: Clients) -> None:
    """Pretend the archive's period has passed (the test cannot wait a day)."""
    _exec(clients, "UPDATE {schema}.pgqrs_retention SET rotated_at = now() - interval '30 days'")


def slot_counts(clients: Clients) -> dict[int, int]:
    rows = _exec(clients, "SELECT slot, count(*) FROM {schema}.pgqrs_archive GROUP BY slot")
    return {int(slot): int(count) for slot, count in rows}


async def bury(clients: Clients, queue: str) -> int:
    """Enqueue a message and have dequeue move it to the archive as a dead letter; its id."""
    producer = clients.producer(queue)
    consumer = clients.consumer(queue, config=Config(max_read_ct=1))
    await producer.enqueue({"poison": True})
    [message] = await consumer.dequeue_many(1, lock_seconds=0)  # lapses at once
    assert await consumer.dequeue_many(1) == []  # moved to the archive instead
    return message.id


async def dead_letter(clients: Clients, queue: str) -> int:
    """A dead letter of ``queue`` (see :func:`bury`); its archive id."""
    message_id = await bury(clients, queue)
    dead = await clients.admin().get_archive().list(queue=queue, dead_letters=True)
    [found] = [d for d in dead if d.original_msg_id == message_id]
    return found.id


async def archived(clients: Clients, queue: str, count: int) -> list[int]:
    producer, consumer = clients.producer(queue), clients.consumer(queue)
    await producer.enqueue_batch([{"n": n} for n in range(count)])
    ids = [m.id for m in await consumer.dequeue_many(count)]
    assert all(await consumer.archive_many(ids))
    return ids


async def test_a_fresh_install_prunes_by_default(admin: Admin) -> None:
    retention = await admin.retention()
    assert retention.archive == timedelta(days=1)
    assert retention.dead_letters == timedelta(days=14)
    assert retention.current_slot == 0
    assert retention.period == timedelta(days=1) / (ARCHIVE_SLOTS - 1)
    assert retention.next_rotation_at == retention.rotated_at + retention.period


async def test_set_retention_changes_what_it_names(admin: Admin) -> None:
    changed = await admin.set_retention(archive=3600)
    assert (changed.archive, changed.dead_letters) == (timedelta(hours=1), timedelta(days=14))
    changed = await admin.set_retention(dead_letters=timedelta(days=30))
    assert (changed.archive, changed.dead_letters) == (timedelta(hours=1), timedelta(days=30))
    changed = await admin.set_retention(archive=None)
    assert changed.archive is None
    assert changed.next_rotation_at is None
    assert await admin.retention() == changed


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1 day", True, 10**12])
async def test_set_retention_refuses_bad_windows(admin: Admin, bad: Any) -> None:
    with pytest.raises(ValidationError, match="archive"):
        await admin.set_retention(archive=bad)
    with pytest.raises(ValidationError, match="dead_letters"):
        await admin.set_retention(dead_letters=bad)
    assert (await admin.retention()).archive == timedelta(days=1)  # nothing half-done


async def test_rotation_truncates_the_oldest_slot_and_keeps_dead_letters(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await archived(clients, queue, 50)
    dead = await dead_letter(clients, queue)
    assert slot_counts(clients) == {0: 51}
    assert (await admin.prune()).truncated_slot is None  # not due yet
    # Seven rotations age slot 0; the eighth truncates it.
    for expected in range(1, ARCHIVE_SLOTS):
        make_rotation_due(clients)
        pruned = await admin.prune()
        assert (pruned.truncated_slot, pruned.dead_letters_kept) == (expected, 0)
        assert (await admin.retention()).current_slot == expected
    await archived(clients, queue, 5)  # into slot 7, the current one
    assert slot_counts(clients) == {0: 51, 7: 5}
    make_rotation_due(clients)
    pruned = await admin.prune()
    assert (pruned.truncated_slot, pruned.dead_letters_kept) == (0, 1)
    # The acknowledged messages of slot 0 are gone; its dead letter, within its 14 days, moved
    # to slot 7 with its id and times, and can still be replayed.
    assert slot_counts(clients) == {7: 6}
    archive = admin.get_archive()
    assert await archive.count(queue=queue, dead_letters=False) == 5
    kept = await archive.get(dead)
    assert kept.is_dead_letter
    assert kept.payload == {"poison": True}
    [replayed] = await admin.replay([dead])
    assert (await admin.get_messages().get(replayed)).payload == {"poison": True}


async def test_dead_letters_past_their_window_are_deleted(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await admin.set_retention(archive=None, dead_letters=3600)
    old, recent = await dead_letter(clients, queue), await dead_letter(clients, queue)
    await archived(clients, queue, 3)
    _exec(
        clients,
        "UPDATE {schema}.pgqrs_archive SET dead_lettered_at = now() - interval '2 hours'"
        " WHERE id = %s",
        old,
    )
    pruned = await admin.prune()
    assert (pruned.truncated_slot, pruned.dead_letters_deleted) == (None, 1)
    archive = admin.get_archive()
    assert [m.id for m in await archive.list(queue=queue, dead_letters=True)] == [recent]
    assert await archive.count(queue=queue, dead_letters=False) == 3  # kept for ever


async def test_an_upgraded_archive_is_kept_for_ever(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await admin.set_retention(archive=None, dead_letters=None)
    await archived(clients, queue, 3)
    make_rotation_due(clients)
    assert await admin.prune() == PruneResult()  # nothing to do, ever
    assert slot_counts(clients) == {0: 3}


async def test_a_queue_without_archive_deletes_on_archive(clients: Clients) -> None:
    admin = clients.admin()
    quiet = (await admin.create_queue("no-archive", keep_archive=False)).queue_name
    assert (await admin.get_queue(quiet)).keep_archive is False
    ids = await archived(clients, quiet, 4)  # archive_many says True for each
    assert await admin.get_messages().count(queue=quiet) == 0
    assert await admin.get_archive().count(queue=quiet) == 0
    await dead_letter(clients, quiet)  # dead letters are kept all the same
    assert await admin.get_archive().count(queue=quiet, dead_letters=True) == 1
    assert (await admin.set_keep_archive(quiet, True)).keep_archive is True
    await archived(clients, quiet, 2)
    assert await admin.get_archive().count(queue=quiet, dead_letters=False) == 2
    assert ids  # the first batch really went through
    with pytest.raises(QueueNotFoundError):
        await admin.set_keep_archive("no-such-queue", True)
    with pytest.raises(ValidationError, match="keep_archive"):
        await admin.create_queue("other", keep_archive=1)  # type: ignore[arg-type]
    assert await admin.get_queues().count() == 1  # nothing created by the refused call


async def test_rotation_gives_up_while_a_reader_holds_the_oldest_slot(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await archived(clients, queue, 3)
    make_rotation_due(clients)
    with psycopg.connect(clients.dsn) as reader:
        # An analytics query over the archive locks every slot for its transaction.
        reader.execute(
            sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(clients.schema, "pgqrs_archive")
            )
        )
        pruned = await asyncio.wait_for(admin.prune(), 30)
        assert pruned.blocked
        assert pruned.truncated_slot is None
        assert (await admin.retention()).current_slot == 0
        # Acknowledgements went on all the while, and still do.
        await asyncio.wait_for(archived(clients, queue, 2), 30)
        reader.rollback()
    assert (await admin.prune()).truncated_slot == 1


async def test_the_hot_path_never_touches_the_slot_being_truncated(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    with psycopg.connect(clients.dsn) as rotation:
        # What the rotation's TRUNCATE holds on the oldest slot until it commits.
        rotation.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(clients.schema, "pgqrs_archive_1")
            )
        )

        async def hot_path() -> int:
            await archived(clients, queue, 10)  # enqueue, dequeue, archive
            buried = await bury(clients, queue)  # dequeue moving a dead letter
            consumer = clients.consumer(queue)
            await clients.producer(queue).enqueue({"delete": True})
            [message] = await consumer.dequeue_many(1)
            assert await consumer.delete(message.id)
            return buried

        buried = await asyncio.wait_for(hot_path(), 30)
        rotation.rollback()
    archive = clients.admin().get_archive()
    assert await archive.count(queue=queue, dead_letters=False) == 10
    [dead] = await archive.list(queue=queue, dead_letters=True)
    assert dead.original_msg_id == buried
