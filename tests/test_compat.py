"""Code written for the original pgqrs's Python API runs on ours: each compatibility name used
the way the original's documentation and tests use it, its results checked in the database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pgqrs
from pgqrs import Config, ValidationError, WorkerError, WorkerNotFoundError, WorkerStatus

from conftest import Clients


def db(clients: Clients, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run directly on the server; ``{messages}``, ``{archive}`` and
    ``{workers}`` name the test schema's tables."""
    tables = {
        name: sql.Identifier(clients.schema, f"pgqrs_{name}")
        for name in ("messages", "archive", "workers", "queues")
    }
    with psycopg.connect(clients.dsn, autocommit=True) as conn:
        return conn.execute(sql.SQL(query).format(**tables), params).fetchall()


class Traced:
    """An ``Admin`` whose sessions carry an ``application_name`` of their own, so the test can
    count them, with a producer and a consumer built from it."""

    def __init__(self, clients: Clients, queue: str) -> None:
        self.clients = clients
        self.app = f"pgqrs-compat-{uuid.uuid4().hex[:8]}"
        dsn = make_conninfo(clients.dsn, application_name=self.app)
        self.admin = clients.track(pgqrs.Admin(dsn, schema=clients.schema))
        self.producer = clients.track(pgqrs.Producer(self.admin, queue, "compat_producer", 8100))
        self.consumer = clients.track(pgqrs.Consumer(self.admin, queue, "compat_consumer", 8200))

    def sessions(self, expected: int) -> int:
        """The server sessions of these clients, once they settle at ``expected``: a session
        the client closed leaves pg_stat_activity a moment later.  Gives up after 10 s."""
        deadline = time.monotonic() + 10
        while (found := self._count()) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def _count(self) -> int:
        with psycopg.connect(self.clients.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (self.app,)
            ).fetchone()
        assert row is not None
        return int(row[0])


async def test_workers_built_from_an_admin_share_its_settings_and_connections(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    traced = Traced(clients, await queue_factory())
    admin, producer, consumer = traced.admin, traced.producer, traced.consumer
    assert producer.config is admin.config is consumer.config
    msg_id = await producer.enqueue({"data": "test_payload", "id": 123})
    [message] = await consumer.dequeue()
    assert (message.id, message.payload) == (msg_id, {"data": "test_payload", "id": 123})
    assert await consumer.archive(message.id) is True
    assert await (await admin.get_messages()).count() == 0
    assert db(clients, "SELECT original_msg_id, producer_worker_id FROM {archive}") == [
        (msg_id, producer.worker_id)
    ]
    # One pool for the three: sequential calls all ran on one connection.
    assert traced.sessions(1) == 1
    # Closing the workers stops them and leaves the admin's connection alone.
    await producer.close()
    await consumer.close()
    assert traced.sessions(1) == 1
    statuses = db(clients, "SELECT status::text FROM {workers} ORDER BY id")
    assert statuses == [("stopped",), ("stopped",)]
    assert await admin.get_queues().count() == 1
    await admin.close()
    assert traced.sessions(0) == 0


async def test_closing_the_admin_first_keeps_its_workers_working(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    traced = Traced(clients, await queue_factory())
    producer, consumer = traced.producer, traced.consumer
    await producer.enqueue(1)
    await traced.admin.close()  # the workers are still open: the connections stay for them
    assert traced.sessions(1) == 1
    await producer.enqueue(2)
    assert [m.payload for m in await consumer.dequeue()] == [1, 2]
    await producer.close()
    assert traced.sessions(1) == 1
    await consumer.close()  # the last one out closes them
    assert traced.sessions(0) == 0
    assert db(clients, "SELECT count(*) FROM {workers} WHERE status = 'stopped'") == [(2,)]


async def test_a_worker_holds_the_shared_connections_from_its_first_call(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    traced = Traced(clients, queue)
    admin, idle = traced.admin, traced.producer
    assert await admin.get_queues().count() == 1
    await admin.close()  # neither worker made a call: nothing holds the connections
    assert traced.sessions(0) == 0
    # Used after its close, the admin holds them again, and so does the producer.
    await idle.enqueue("first call")
    await admin.get_queue(queue)
    await admin.close()
    assert traced.sessions(1) == 1
    await idle.close()
    await idle.enqueue("used again after close")
    await idle.close()
    assert traced.sessions(0) == 0
    assert db(clients, "SELECT count(*) FROM {messages}") == [(2,)]


async def test_worker_from_admin_refuses_its_own_settings(clients: Clients) -> None:
    admin = clients.admin()
    with pytest.raises(ValidationError, match="from an Admin takes its schema and config"):
        pgqrs.Producer(admin, "q", "h", 1, schema="other")
    with pytest.raises(ValidationError, match="from an Admin takes its schema and config"):
        pgqrs.Consumer(admin, "q", "h", 1, config=Config())
    with pytest.raises(ValidationError, match="not int"):
        pgqrs.Producer(5, "q", "h", 1)  # type: ignore[arg-type]


async def test_awaited_table_getters(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "getters", 3000))
    await producer.enqueue_batch([{"n": n} for n in range(3)])
    consumer = clients.track(pgqrs.Consumer(admin, queue, "getters", 3001))
    [first, *_] = await consumer.dequeue()
    await consumer.archive(first.id)

    queues = await admin.get_queues()
    workers = await admin.get_workers()
    messages = await admin.get_messages()
    archive = await admin.get_archive()
    assert await queues.count() == db(clients, "SELECT count(*) FROM {queues}")[0][0] == 2
    assert await workers.count() == db(clients, "SELECT count(*) FROM {workers}")[0][0] == 2
    assert await messages.count() == db(clients, "SELECT count(*) FROM {messages}")[0][0] == 2
    assert await archive.count() == db(clients, "SELECT count(*) FROM {archive}")[0][0] == 1
    # The plain spelling is the same table.
    assert await admin.get_messages().count() == await messages.count()


async def test_dequeue_batch_archive_batch(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "batch_prod", 8100))
    consumer = clients.track(pgqrs.Consumer(admin, queue, "batch_cons", 8200))
    msgs = await producer.enqueue_batch([{"id": i, "data": f"msg_{i}"} for i in range(5)])
    assert len(msgs) == 5
    assert await (await admin.get_messages()).count() == 5

    batch1 = await consumer.dequeue_batch(2)
    batch2 = await consumer.dequeue_batch_with_delay(2, 60)
    assert [m.id for m in batch1 + batch2] == msgs[:4]
    leases = dict(
        db(
            clients,
            "SELECT id, extract(epoch FROM vt - dequeued_at) FROM {messages} WHERE id = ANY(%s)",
            [m.id for m in batch2],
        )
    )
    assert all(float(seconds) == 60 for seconds in leases.values()), leases
    assert len(await consumer.dequeue_batch(limit=50)) == 1  # the guides' keyword spelling

    results = await consumer.archive_batch([m.id for m in batch1 + batch2])
    assert results == [True] * 4
    assert db(clients, "SELECT id FROM {messages}") == [(msgs[4],)]
    archived = db(clients, "SELECT original_msg_id FROM {archive} ORDER BY original_msg_id")
    assert archived == [(i,) for i in msgs[:4]]
    with pytest.raises(ValidationError, match="limit"):
        await consumer.dequeue_batch(0)
    with pytest.raises(ValidationError, match="vt_seconds"):
        await consumer.dequeue_batch_with_delay(1, -1)


async def test_extend_visibility_extension_seconds(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "vis_prod", 8100))
    consumer = clients.track(pgqrs.Consumer(admin, queue, "vis_cons", 8200))
    msg_id = await producer.enqueue({"foo": "bar"})
    never_delivered = await producer.enqueue({"foo": "later"})
    [msg] = await consumer.dequeue_batch_with_delay(1, 2)

    def deadline() -> Any:
        return db(clients, "SELECT vt FROM {messages} WHERE id = %s", msg_id)[0][0]

    before = deadline()
    assert await consumer.extend_visibility(msg.id, extension_seconds=5) is True
    assert (deadline() - before).total_seconds() == 5  # from the current deadline
    assert await consumer.extend_visibility(msg.id, 5) is True
    assert (deadline() - before).total_seconds() == 10
    # A message this consumer never received is not its to extend.
    assert await consumer.extend_visibility(never_delivered, extension_seconds=5) is False
    with pytest.raises(ValidationError, match="seconds or extension_seconds"):
        await consumer.extend_visibility(msg.id)
    with pytest.raises(ValidationError, match="seconds or extension_seconds"):
        await consumer.extend_visibility(msg.id, 1, extension_seconds=1)
    with pytest.raises(ValidationError, match="extension_seconds"):
        await consumer.extend_visibility(msg.id, extension_seconds=-1)


async def test_reclaim_messages(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "reclaim_prod", 8100))
    consumer = clients.track(pgqrs.Consumer(admin, queue, "reclaim_cons", 8200))
    await producer.enqueue_batch([1, 2, 3])
    assert len(await consumer.dequeue_batch_with_delay(3, 300)) == 3
    # Heartbeats within Config.stale_after (90 s by default): nobody is reclaimed.
    assert await admin.reclaim_messages(queue) == 0
    assert db(clients, "SELECT count(*) FROM {messages} WHERE vt > now()") == [(3,)]
    # Every heartbeat is older than 0 s: both workers are stopped, the leases released.
    assert await admin.reclaim_messages(queue, older_than_seconds=0) == 3
    rows = db(clients, "SELECT vt <= now(), consumer_worker_id FROM {messages}")
    assert rows == [(True, None)] * 3
    assert db(clients, "SELECT DISTINCT status::text FROM {workers}") == [("stopped",)]
    with pytest.raises(pgqrs.QueueNotFoundError):
        await admin.reclaim_messages("no-such-queue")
    with pytest.raises(ValidationError, match="older_than_seconds"):
        await admin.reclaim_messages(queue, older_than_seconds=-1)


async def test_config_from_dsn_with_attribute_settings(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    queue = await queue_factory()
    config = pgqrs.Config.from_dsn(clients.dsn)
    assert isinstance(config, pgqrs.ConfigBuilder)
    config.schema = clients.schema
    config.max_connections = 5
    config.connection_timeout_seconds = 60
    config.default_lock_time_seconds = 120
    config.default_max_batch_size = 2
    config.max_read_ct = 10
    config.heartbeat_interval_seconds = 15
    assert (config.max_connections, config.connection_timeout_seconds) == (5, 60)
    assert (config.default_lock_time_seconds, config.default_max_batch_size) == (120, 2)
    assert (config.max_read_ct, config.heartbeat_interval_seconds) == (10, 15)

    admin = clients.track(pgqrs.Admin(config))
    config.max_read_ct = 3  # after the hand-over: the admin keeps what it was given
    settings = admin.config
    assert (settings.dsn, settings.schema) == (clients.dsn, clients.schema)
    assert (settings.pool_max_size, settings.connect_timeout, settings.lock_seconds) == (5, 60, 120)
    assert (settings.dequeue_batch_size, settings.max_read_ct) == (2, 10)
    assert settings.heartbeat_interval == 15

    producer = clients.track(pgqrs.Producer(admin, queue, "prod_conf", 1))
    await producer.enqueue_batch([{"key": n} for n in range(3)])
    consumer = clients.track(pgqrs.Consumer(admin, queue, "cons_conf", 1))
    messages = await consumer.dequeue()  # default_max_batch_size messages, leased 120 s
    assert [m.payload for m in messages] == [{"key": 0}, {"key": 1}]
    leases = db(
        clients, "SELECT extract(epoch FROM vt - dequeued_at) FROM {messages} WHERE read_ct = 1"
    )
    assert [float(seconds) for (seconds,) in leases] == [120, 120]
    # Our own Config goes positionally too.
    assert pgqrs.Admin(Config(schema="elsewhere")).config.schema == "elsewhere"
    with pytest.raises(ValidationError, match="settings given twice"):
        pgqrs.Admin(Config(), config=Config())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_connections", 0),
        ("connection_timeout_seconds", 0),
        ("default_lock_time_seconds", -1),
        ("default_max_batch_size", 0),
        ("max_read_ct", 0),
        ("heartbeat_interval_seconds", "soon"),
        ("schema", ""),
    ],
)
def test_config_settings_are_checked_when_assigned(name: str, value: Any) -> None:
    config = pgqrs.Config.from_dsn("postgresql://localhost/mydb")
    before = repr(config)
    with pytest.raises(ValidationError, match=f"^{name}"):
        setattr(config, name, value)
    assert repr(config) == before  # nothing half-set


def test_config_from_dsn_never_shows_the_password() -> None:
    config = pgqrs.Config.from_dsn("postgresql://app:S3cretPw@db.example/mydb")
    config.max_connections = 3
    shown = [repr(config), str(config), repr(config.build())]
    shown += [repr(getattr(config, name)) for name in dir(type(config)) if not name.startswith("_")]
    assert all("S3cretPw" not in text for text in shown), shown
    assert "password=***" in repr(config)
    with pytest.raises(ValidationError, match="dsn must be a string"):
        pgqrs.Config.from_dsn(None)  # type: ignore[arg-type]


async def test_worker_status_names(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "prod_host", 5000))
    await producer.enqueue({})
    prod_worker = next(w for w in await (await admin.get_workers()).list() if w.port == 5000)
    assert prod_worker.status == pgqrs.WorkerStatus.Ready
    await producer.suspend()
    assert (await admin.get_workers().get(prod_worker.id)).status == WorkerStatus.Suspended
    await producer.close()
    assert (await admin.get_workers().get(prod_worker.id)).status == WorkerStatus.Stopped
    assert list(WorkerStatus) == [WorkerStatus.READY, WorkerStatus.SUSPENDED, WorkerStatus.STOPPED]
    assert WorkerStatus.Ready is WorkerStatus.READY


async def test_worker_updated_at_is_the_last_heartbeat(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "beating", 5000))
    await producer.enqueue({})
    await producer.heartbeat()
    [worker] = await (await admin.get_workers()).list()
    [(heartbeat_at,)] = db(clients, "SELECT heartbeat_at FROM {workers}")
    assert worker.updated_at == worker.heartbeat_at == heartbeat_at
    assert worker.updated_at > worker.started_at


async def test_workers_filter_by_queue(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin()
    tasks, other = await queue_factory(), await queue_factory()
    for port, queue in ((1, tasks), (2, other), (3, tasks)):
        await clients.track(pgqrs.Producer(admin, queue, "filter", port)).enqueue({})
    workers = await admin.get_workers()
    found = [(w.port, w.queue_id) for w in await workers.filter_by_queue(tasks)]
    expected = db(
        clients,
        "SELECT w.port::int8, w.queue_id FROM {workers} w JOIN {queues} q ON q.id = w.queue_id "
        "WHERE q.queue_name = %s ORDER BY w.id",
        tasks,
    )
    assert found == expected == [(1, expected[0][1]), (3, expected[0][1])]
    with pytest.raises(pgqrs.QueueNotFoundError):
        await workers.filter_by_queue("missing")


async def test_filter_by_payload_then_cancel_delayed_messages(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    # The original's "cancel all scheduled reminders for a user".
    admin = clients.admin()
    reminders, other = await queue_factory(), await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, reminders, "scheduler", 8080))
    for user_id in (7, 8, 7):
        await producer.enqueue_delayed({"user_id": user_id, "n": 1}, delay_seconds=3600)
    await clients.track(pgqrs.Producer(admin, other, "scheduler", 8081)).enqueue({"user_id": 7})

    messages = await admin.get_messages()
    user_messages = await messages.filter_by_payload({"user_id": 7})
    expected = db(clients, """SELECT id FROM {messages} WHERE payload @> '{{"user_id": 7}}'""")
    assert [(m.id,) for m in user_messages] == sorted(expected)
    assert len(user_messages) == 3
    in_queue = await messages.filter_by_payload({"user_id": 7}, queue=reminders, limit=1)
    assert [m.id for m in in_queue] == [user_messages[0].id]

    consumer = clients.track(pgqrs.Consumer(admin, reminders, "canceller", 8082))
    cancelled = [
        await consumer.delete(m.id) for m in user_messages if m.queue_id == in_queue[0].queue_id
    ]
    assert cancelled == [True, True]
    left = db(clients, "SELECT payload->>'user_id' FROM {messages} ORDER BY id")
    assert left == [("8",), ("7",)]  # the other queue's message stays
    with pytest.raises(ValidationError, match="mapping"):
        await messages.filter_by_payload([7])  # type: ignore[arg-type]


async def test_archive_methods(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin(config=Config(max_read_ct=1))
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "arch_prod", 8100))
    consumer = clients.track(pgqrs.Consumer(admin, queue, "arch_cons", 8200))
    other = clients.track(pgqrs.Consumer(admin, queue, "arch_other", 8201))
    msg_id = await producer.enqueue({"foo": "bar"})
    [msg] = await consumer.dequeue()
    await consumer.archive(msg.id)
    doomed = await producer.enqueue({"foo": "dead"})
    # Delivered max_read_ct (1) times, its lease lapsing at once: the next dequeue buries it.
    assert len(await other.dequeue_many(1, lock_seconds=0)) == 1
    assert await other.dequeue() == []

    archive = await admin.get_archive()
    workers = await (await admin.get_workers()).list()
    cons_worker = next(w for w in workers if w.hostname == "arch_cons")
    archived_msgs = await archive.list_by_worker(cons_worker.id, 10, 0)
    [arch_msg] = archived_msgs
    assert arch_msg.original_msg_id == msg_id
    assert arch_msg.consumer_worker_id == cons_worker.id
    assert await archive.count_by_worker(cons_worker.id) == 1
    assert (await archive.get(arch_msg.id)).payload == {"foo": "bar"}

    assert await archive.dlq_count(1) == 1
    assert await archive.dlq_count(2) == 0  # delivered once only
    [dead] = await archive.list_dlq_messages(1, 10, 0)
    assert (dead.original_msg_id, dead.is_dead_letter) == (doomed, True)
    assert db(
        clients, "SELECT original_msg_id FROM {archive} WHERE dead_lettered_at IS NOT NULL"
    ) == [(doomed,)]

    assert await archive.delete(arch_msg.id) is True
    assert await archive.delete(arch_msg.id) is False
    assert db(clients, "SELECT original_msg_id FROM {archive}") == [(doomed,)]
    other_id = other.worker_id or 0
    assert await archive.delete_by_worker(other_id) == 1
    assert await archive.delete_by_worker(other_id) == 0
    assert db(clients, "SELECT count(*) FROM {archive}") == [(0,)]
    with pytest.raises(ValidationError, match="worker"):
        await archive.count(worker=0)
    with pytest.raises(ValidationError, match="min_read_ct"):
        await archive.dlq_count(2**31)


async def test_delete_worker(clients: Clients, queue_factory: Callable[..., Any]) -> None:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.track(pgqrs.Producer(admin, queue, "deleted", 1))
    consumer = clients.track(pgqrs.Consumer(admin, queue, "deleted", 2))
    await producer.enqueue({})
    assert len(await consumer.dequeue()) == 1
    consumer_id, producer_id = consumer.worker_id or 0, producer.worker_id or 0
    with pytest.raises(WorkerError, match=f"Worker {producer_id} is live"):
        await admin.delete_worker(producer_id)
    await consumer.close()  # stopped, but its lease runs on
    with pytest.raises(WorkerError, match=f"Worker {consumer_id} holds 1 leased message"):
        await admin.delete_worker(consumer_id)
    assert db(clients, "SELECT count(*) FROM {workers}") == [(2,)]

    assert await admin.release_worker_messages(consumer_id) == 1
    await admin.delete_worker(consumer_id)
    await producer.close()
    await admin.delete_worker(producer_id)
    assert db(clients, "SELECT count(*) FROM {workers}") == [(0,)]
    # The messages keep the ids of the workers that handled them.
    assert db(clients, "SELECT producer_worker_id FROM {messages}") == [(producer_id,)]
    with pytest.raises(WorkerNotFoundError):
        await admin.delete_worker(producer_id)
