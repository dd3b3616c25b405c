"""The bad-input battery: every bad argument to the public API, against the real database.

Each case must raise a ``PgqrsError`` subclass whose message names the problem, leave all four
tables exactly as they were, and leave the same client object usable: a good call right after
it succeeds.  Runs under both cores (``make test``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import math
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from test_core_malformed import nested

from pgqrs import (
    Admin,
    Config,
    Consumer,
    PayloadTooLargeError,
    PgqrsError,
    Producer,
    SerializationError,
    ValidationError,
)
from pgqrs._validate import MAX_SECONDS

from conftest import Clients

UNKNOWN = 2**63 - 1  # a valid id no row has


@dataclass
class Env:
    """A queue with messages in every state, and the clients the cases call."""

    clients: Clients
    admin: Admin
    producer: Producer
    consumer: Consumer
    queue: str
    queue_id: int
    leased: int  # leased by `consumer`
    archived: int  # an archive id
    dead: list[int]  # archive ids of dead letters, for replay
    worker_id: int  # the consumer's

    async def fingerprint(self) -> tuple[Any, ...]:
        """Everything the four tables hold (heartbeat times aside: they tick by themselves)."""
        rows = {
            name: sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg({}, ',' ORDER BY id), '')) FROM {} t"
            ).format(sql.SQL(text), sql.Identifier(self.clients.schema, name))
            for name, text in (
                ("pgqrs_queues", "t::text"),
                ("pgqrs_workers", "concat_ws('|', id, hostname, port, queue_id, status)"),
                ("pgqrs_messages", "t::text"),
                ("pgqrs_archive", "t::text"),
            )
        }
        async with await psycopg.AsyncConnection.connect(self.clients.dsn) as conn:
            return tuple([await (await conn.execute(q)).fetchone() for q in rows.values()])


@pytest.fixture
async def env(clients: Clients, queue_factory: Callable[..., Any]) -> Env:
    admin = clients.admin()
    queue = await queue_factory()
    producer = clients.producer(queue)
    await producer.enqueue_batch([{"n": n} for n in range(4)])
    consumer = clients.consumer(queue)
    first, second = await consumer.dequeue_many(2)
    await consumer.archive(second.id)
    # Dead letters: delivered once with an instant lapse, then found by the next dequeue.
    dead_queue = await queue_factory()
    await clients.producer(dead_queue).enqueue_batch([{"dead": n} for n in range(8)])
    reaper = clients.consumer(dead_queue, config=Config(max_read_ct=1))
    await reaper.dequeue_many(8, lock_seconds=0)
    assert await reaper.dequeue_many(8) == []
    archive = admin.get_archive()
    dead = [m.id for m in await archive.list(queue=dead_queue, dead_letters=True)]
    archived = [m.id for m in await archive.list(queue=queue)]
    assert consumer.worker_id is not None
    assert len(dead) == 8
    return Env(
        clients,
        admin,
        producer,
        consumer,
        queue,
        (await admin.get_queue(queue)).id,
        first.id,
        archived[0],
        dead,
        consumer.worker_id,
    )


Call = Callable[[], Any]


async def rejected(env: Env | None, call: Call, error: type[PgqrsError], match: str) -> PgqrsError:
    """``call`` raises ``error`` (a PgqrsError) matching ``match``, and the tables are unchanged."""
    before = None if env is None else await env.fingerprint()

    async def run() -> None:
        result = call()
        if inspect.isawaitable(result):
            await result

    with pytest.raises(error, match=match) as info:
        await run()
    assert isinstance(info.value, PgqrsError)
    if env is not None:
        assert await env.fingerprint() == before, f"the failed call changed the tables: {match}"
    return info.value


async def succeeds(call: Call, expected: Any) -> None:
    """The good call after a bad one: it returns ``expected`` (or an instance of that type)."""
    result = call()
    if inspect.isawaitable(result):
        result = await result
    if isinstance(expected, type):
        assert isinstance(result, expected), result
    else:
        assert result == expected


async def kept(consumer: Consumer, ids: Any, lock_seconds: Any = None) -> bool:
    async with consumer.keep_leased(ids, lock_seconds=lock_seconds):
        return True


async def id_of(found: Awaitable[Any]) -> int:
    return int((await found).id)


def stop_now() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


async def handler(message: Any) -> None:
    pass


# -- payloads --------------------------------------------------------------------------------


NOT_JSON = "is not JSON serialisable"
PAYLOADS = [
    ("set", {"s": {1, 2}}, SerializationError, f"{NOT_JSON}: .*set"),
    ("bytes", b"raw", SerializationError, f"{NOT_JSON}: .*bytes"),
    ("object", object(), SerializationError, f"{NOT_JSON}: .*object"),
    ("nan", {"x": math.nan}, SerializationError, "contains the float nan"),
    ("inf", [math.inf], SerializationError, "contains the float inf"),
    ("-inf", {"a": [1, {"b": -math.inf}]}, SerializationError, "contains the float -inf"),
    ("2**64", {"n": 2**64}, SerializationError, f"{NOT_JSON}: Integer exceeds 64-bit range"),
    ("int-key", {1: "x"}, SerializationError, f"{NOT_JSON}: Dict key must be str"),
    ("nul-value", {"s": "a\x00b"}, SerializationError, "contains a NUL character"),
    ("nul-key", {"k\x00": 1}, SerializationError, "contains a NUL character"),
    ("lone-surrogate", {"s": "\ud800"}, SerializationError, f"{NOT_JSON}: str is not valid UTF-8"),
    ("300-deep", nested(300), SerializationError, f"{NOT_JSON}: Recursion limit reached"),
    ("9-MiB", "x" * (9 << 20), PayloadTooLargeError, "over the limit of 8388608 bytes"),
]


@pytest.mark.parametrize(
    ("payload", "error", "match"), [c[1:] for c in PAYLOADS], ids=[c[0] for c in PAYLOADS]
)
async def test_bad_payload(env: Env, payload: Any, error: type[PgqrsError], match: str) -> None:
    producer = env.producer
    cases: list[tuple[Call, int | None]] = [
        (lambda: producer.enqueue(payload), None),
        (lambda: producer.enqueue_delayed(payload, 5), None),
        # The one-statement path (10) and the COPY path (100), bad item in the middle.
        (lambda: producer.enqueue_batch([{"ok": 1}] * 5 + [payload] + [{"ok": 2}] * 4), 5),
        (lambda: producer.enqueue_batch([{"ok": 1}] * 50 + [payload] + [{"ok": 2}] * 49), 50),
    ]
    for call, index in cases:
        where = "payload" if index is None else f"payload at index {index}"
        raised = await rejected(env, call, error, f"^{where} .*{match}")
        assert getattr(raised, "index", None) == index
        await succeeds(lambda: producer.enqueue({"good": True}), int)


@pytest.mark.parametrize("size", [10, 100_000])
async def test_batch_with_one_bad_item_in_the_middle(env: Env, size: int) -> None:
    payloads: list[Any] = [{"n": n} for n in range(size)]
    payloads[size // 2] = {"n": math.nan}
    raised = await rejected(
        env, lambda: env.producer.enqueue_batch(payloads), SerializationError, "float nan"
    )
    assert getattr(raised, "index", None) == size // 2
    payloads[size // 2] = {"n": "fixed"}
    await succeeds(lambda: env.producer.enqueue_batch(payloads), list)


async def test_100_mib_payload_without_a_limit_round_trips(
    clients: Clients, queue_factory: Callable[..., Any]
) -> None:
    # Decided: with max_payload_bytes=None a 100 MiB payload is stored and read back intact
    # (PostgreSQL's jsonb holds up to 255 MiB); only the default 8 MiB limit refuses it.
    queue = await queue_factory()
    unlimited = Config(max_payload_bytes=None)
    payload = {"blob": "x" * (100 << 20), "tail": [1, 2, 3]}
    message_id = await clients.producer(queue, config=unlimited).enqueue(payload)
    (message,) = await clients.consumer(queue).dequeue_many(1)
    assert (message.id, message.payload == payload) == (message_id, True)


# -- ids -------------------------------------------------------------------------------------

BAD_IDS = [
    ("1", r"must be an integer id, not str$"),
    (None, r"must be an integer id, not NoneType$"),
    (1.5, r"must be an integer id, not float$"),
    (True, r"must be an integer id, not bool$"),
    (-1, r"must be an id from 1 to 9223372036854775807, got -1$"),
    (0, r"must be an id from 1 to 9223372036854775807, got 0$"),
    (2**70, r"must be an id from 1 to 9223372036854775807, got 1180591620717411303424$"),
]

# name: (bad call for an id, the argument named, good call, its result)
ID_TAKERS: dict[str, tuple[Callable[[Env, Any], Any], str, Callable[[Env], Any], Any]] = {
    "archive": (
        lambda e, v: e.consumer.archive(v),
        "message_id",
        lambda e: e.consumer.archive(UNKNOWN),
        False,
    ),
    "delete": (
        lambda e, v: e.consumer.delete(v),
        "message_id",
        lambda e: e.consumer.delete(UNKNOWN),
        False,
    ),
    "extend_visibility": (
        lambda e, v: e.consumer.extend_visibility(v, 5),
        "message_id",
        lambda e: e.consumer.extend_visibility(e.leased, 5),
        True,
    ),
    "release": (
        lambda e, v: e.consumer.release(v),
        "message_id",
        lambda e: e.consumer.release(UNKNOWN),
        False,
    ),
    "archive_many": (
        lambda e, v: e.consumer.archive_many([e.leased, v]),
        r"message_ids\[1\]",
        lambda e: e.consumer.archive_many([UNKNOWN]),
        [False],
    ),
    "delete_many": (
        lambda e, v: e.consumer.delete_many([v]),
        r"message_ids\[0\]",
        lambda e: e.consumer.delete_many([UNKNOWN]),
        [False],
    ),
    "release_many": (
        lambda e, v: e.consumer.release_many([e.leased, v]),
        r"message_ids\[1\]",
        lambda e: e.consumer.release_many([UNKNOWN]),
        [False],
    ),
    "keep_leased": (
        lambda e, v: kept(e.consumer, [v]),
        r"message_ids\[0\]",
        lambda e: kept(e.consumer, [e.leased]),
        True,
    ),
    "messages.get": (
        lambda e, v: e.admin.get_messages().get(v),
        "id",
        lambda e: id_of(e.admin.get_messages().get(e.leased)),
        "leased",
    ),
    "archive.get": (
        lambda e, v: e.admin.get_archive().get(v),
        "id",
        lambda e: id_of(e.admin.get_archive().get(e.archived)),
        "archived",
    ),
    "workers.get": (
        lambda e, v: e.admin.get_workers().get(v),
        "id",
        lambda e: id_of(e.admin.get_workers().get(e.worker_id)),
        "worker_id",
    ),
    "queues.get": (
        lambda e, v: e.admin.get_queues().get(v),
        "id",
        lambda e: id_of(e.admin.get_queues().get(e.queue_id)),
        "queue_id",
    ),
    "release_worker_messages": (
        lambda e, v: e.admin.release_worker_messages(v),
        "worker_id",
        lambda e: e.admin.release_worker_messages(e.worker_id),
        int,
    ),
    "suspend_worker": (
        lambda e, v: e.admin.suspend_worker(v),
        "worker_id",
        lambda e: e.admin.suspend_worker(e.worker_id),
        None,
    ),
    "resume_worker": (
        lambda e, v: e.admin.resume_worker(v),
        "worker_id",
        lambda e: e.admin.resume_worker(e.worker_id),
        None,
    ),
    "replay": (
        lambda e, v: e.admin.replay([v]),
        r"ids\[0\]",
        lambda e: e.admin.replay([e.dead.pop()]),
        list,
    ),
}


@pytest.mark.parametrize("taker", list(ID_TAKERS))
async def test_bad_id(env: Env, taker: str) -> None:
    bad, argument, good, expected = ID_TAKERS[taker]
    if isinstance(expected, str):  # an attribute of the environment: the id asked for
        expected = getattr(env, expected)
    for value, problem in BAD_IDS:
        await rejected(
            env, functools.partial(bad, env, value), ValidationError, rf"^{argument} {problem}"
        )
        await succeeds(lambda: good(env), expected)


ID_LISTS = {
    "archive_many": (lambda e, v: e.consumer.archive_many(v), "message_ids"),
    "delete_many": (lambda e, v: e.consumer.delete_many(v), "message_ids"),
    "release_many": (lambda e, v: e.consumer.release_many(v), "message_ids"),
    "keep_leased": (lambda e, v: kept(e.consumer, v), "message_ids"),
    "replay": (lambda e, v: e.admin.replay(v), "ids"),
}


@pytest.mark.parametrize("taker", list(ID_LISTS))
async def test_bad_id_list(env: Env, taker: str) -> None:
    bad, argument = ID_LISTS[taker]
    for value, kind in ((None, "NoneType"), ("12", "str"), (5, "int"), (b"\x01", "bytes")):
        match = rf"^{argument} must be a list of integer ids, not {kind}$"
        await rejected(env, functools.partial(bad, env, value), ValidationError, match)
        await succeeds(lambda: env.consumer.archive(UNKNOWN), False)


# -- seconds ---------------------------------------------------------------------------------

BAD_SECONDS = [-1, 1e12, math.nan, math.inf, "5"]
RANGE = r"must be (0 to|more than 0 and at most) 3155760000 seconds \(100 years\), got "

# name: (bad call for a number of seconds, the argument named, good call, its result)
SECONDS_TAKERS: dict[str, tuple[Callable[[Env, Any], Any], str, Callable[[Env], Any], Any]] = {
    "enqueue_delayed": (
        lambda e, s: e.producer.enqueue_delayed({}, s),
        "delay_seconds",
        lambda e: e.producer.enqueue_delayed({}, 1),
        int,
    ),
    "enqueue_batch-10": (
        lambda e, s: e.producer.enqueue_batch([{}] * 10, delay_seconds=s),
        "delay_seconds",
        lambda e: e.producer.enqueue_batch([{}] * 10, delay_seconds=1),
        list,
    ),
    "enqueue_batch-100": (
        lambda e, s: e.producer.enqueue_batch([{}] * 100, delay_seconds=s),
        "delay_seconds",
        lambda e: e.producer.enqueue_batch([{}] * 100, delay_seconds=1),
        list,
    ),
    "dequeue_many": (
        lambda e, s: e.consumer.dequeue_many(1, s),
        "lock_seconds",
        lambda e: e.consumer.dequeue_many(1, 30),
        list,
    ),
    "extend_visibility": (
        lambda e, s: e.consumer.extend_visibility(e.leased, s),
        "seconds",
        lambda e: e.consumer.extend_visibility(e.leased, 1),
        True,
    ),
    "release": (
        lambda e, s: e.consumer.release(e.leased, s),
        "delay_seconds",
        lambda e: e.consumer.release(UNKNOWN, 1),
        False,
    ),
    "release_many": (
        lambda e, s: e.consumer.release_many([e.leased], s),
        "delay_seconds",
        lambda e: e.consumer.release_many([UNKNOWN], 1),
        [False],
    ),
    "keep_leased": (
        lambda e, s: kept(e.consumer, [e.leased], s),
        "lock_seconds",
        lambda e: kept(e.consumer, [e.leased], 30),
        True,
    ),
    "consume-lock_seconds": (
        lambda e, s: e.consumer.consume(handler, lock_seconds=s, stop=stop_now()),
        "lock_seconds",
        lambda e: e.consumer.consume(handler, stop=stop_now()),
        0,
    ),
    "consume-retry_delay": (
        lambda e, s: e.consumer.consume(handler, retry_delay=s, stop=stop_now()),
        "retry_delay",
        lambda e: e.consumer.consume(handler, retry_delay=2, stop=stop_now()),
        0,
    ),
    "consume-max_retry_delay": (
        lambda e, s: e.consumer.consume(handler, max_retry_delay=s, stop=stop_now()),
        "max_retry_delay",
        lambda e: e.consumer.consume(handler, max_retry_delay=60, stop=stop_now()),
        0,
    ),
    "purge_stopped_workers": (
        lambda e, s: e.admin.purge_stopped_workers(s),
        "older_than_seconds",
        lambda e: e.admin.purge_stopped_workers(3600),
        int,
    ),
}


def seconds_problem(argument: str, value: Any) -> str:
    if isinstance(value, str):
        return rf"^{argument} must be a number of seconds, not str$"
    return rf"^{argument} {RANGE}{value!r}$"


@pytest.mark.parametrize("taker", list(SECONDS_TAKERS))
async def test_bad_seconds(env: Env, taker: str) -> None:
    bad, argument, good, expected = SECONDS_TAKERS[taker]
    for value in BAD_SECONDS:
        match = seconds_problem(argument, value)
        await rejected(env, functools.partial(bad, env, value), ValidationError, match)
        await succeeds(lambda: good(env), expected)


@pytest.mark.parametrize(
    "field",
    ["connect_timeout", "lock_seconds", "heartbeat_interval", "stale_after", "poll_interval"],
)
async def test_bad_config_seconds(field: str) -> None:
    for value in BAD_SECONDS:
        await rejected(
            None,
            functools.partial(dataclasses.replace, Config(), **{field: value}),
            ValidationError,
            seconds_problem(field, value),
        )
    largest: dict[str, Any] = {field: MAX_SECONDS}
    assert getattr(dataclasses.replace(Config(), **largest), field) == MAX_SECONDS


async def test_the_seconds_bound_holds_everywhere(env: Env) -> None:
    # 100 years is accepted on every path, and the database and both cores hold the result.
    later = datetime.now(UTC) + timedelta(seconds=MAX_SECONDS)
    ids = [await env.producer.enqueue_delayed({"far": 1}, MAX_SECONDS)]
    ids += await env.producer.enqueue_batch([{"far": 10}] * 10, delay_seconds=MAX_SECONDS)
    ids += await env.producer.enqueue_batch([{"far": 100}] * 100, delay_seconds=MAX_SECONDS)
    assert await env.consumer.extend_visibility(env.leased, MAX_SECONDS)
    assert await env.consumer.release_many([env.leased], MAX_SECONDS) == [True]
    messages = env.admin.get_messages()
    for message_id in (ids[0], ids[1], ids[-1], env.leased):
        vt = (await messages.get(message_id)).vt
        assert abs(vt - later) < timedelta(minutes=5), vt
    assert await env.consumer.dequeue_many(500, lock_seconds=MAX_SECONDS) != []


# -- hostile names ---------------------------------------------------------------------------

# Legal names that would break SQL built by string formatting: they must simply work.
HOSTILE = [
    'quo"te',
    "it's",
    "q'; DROP TABLE pgqrs_messages; --",
    'x"; DROP SCHEMA public CASCADE; --',
]
# Names that must be refused before any I/O, with what the error says.
INVALID = [
    ("", "must be a non-empty string"),
    ("nul\x00name", "must not contain NUL characters"),
    ("q" * 10_240, "must be at most 512 characters, got 10240"),
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_queue_and_host_names_round_trip(env: Env, name: str) -> None:
    info = await env.admin.create_queue(name)
    assert (await env.admin.get_queue(name)).id == info.id
    async with Producer(env.clients.dsn, name, name, 4321, schema=env.clients.schema) as producer:
        message_id = await producer.enqueue({"name": name})
        worker = await env.admin.get_workers().get(producer.worker_id or 0)
        assert (worker.hostname, worker.port) == (name, 4321)
    async with Consumer(env.clients.dsn, name, name, 4322, schema=env.clients.schema) as consumer:
        (message,) = await consumer.dequeue_many(5)
        assert (message.id, message.payload) == (message_id, {"name": name})
    assert await env.admin.purge_queue(name) == 1
    await env.admin.verify()  # every table and index still there
    await env.admin.delete_queue(name)


@pytest.mark.parametrize(("name", "problem"), INVALID, ids=["empty", "nul", "10-KB"])
async def test_invalid_queue_and_host_names(env: Env, name: str, problem: str) -> None:
    admin, dsn, schema = env.admin, env.clients.dsn, env.clients.schema
    for call in (
        lambda: admin.create_queue(name),
        lambda: admin.get_queue(name),
        lambda: admin.purge_queue(name),
        lambda: admin.delete_queue(name),
        lambda: admin.queue_metrics(name),
        lambda: admin.reclaim_stale_workers(name),
        lambda: admin.get_messages().count(queue=name),
    ):
        await rejected(env, call, ValidationError, rf"^queue( name)? {problem}")
        await succeeds(lambda: admin.get_queue(env.queue), object)
    for kind in (Producer, Consumer):
        queue_named = rf"^queue {problem}"
        await rejected(
            env,
            functools.partial(kind, dsn, name, "h", 1, schema=schema),
            ValidationError,
            queue_named,
        )
        host_named = rf"^hostname {problem}"
        await rejected(
            env,
            functools.partial(kind, dsn, env.queue, name, 1, schema=schema),
            ValidationError,
            host_named,
        )
    await succeeds(lambda: env.producer.enqueue({"still": "usable"}), int)


@pytest.fixture
def hostile_schema(dsn: str) -> Iterator[str]:
    name = f'p"; DROP SCHEMA public CASCADE; -- {uuid.uuid4().hex[:8]}'
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


async def test_hostile_schema_name_works(dsn: str, hostile_schema: str) -> None:
    async with Admin(dsn, schema=hostile_schema) as admin:
        await admin.install()
        await admin.verify()
        await admin.create_queue("q")
        async with Producer(dsn, "q", "h", 1, schema=hostile_schema) as producer:
            await producer.enqueue_batch([{"n": n} for n in range(100)])
        assert (await admin.queue_metrics("q")).total_messages == 100
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, 'public')", [hostile_schema]
        ).fetchone()
    assert found == (2,)  # created under exactly that name, and public is still there


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        *INVALID[:2],
        ("s" * 10_240, "must be at most 512 characters"),
        ("é" * 32, "must be at most 63 bytes of UTF-8"),
    ],
    ids=["empty", "nul", "10-KB", "64-bytes"],
)
async def test_invalid_schema_names(dsn: str, name: str, problem: str) -> None:
    for call in (
        lambda: Admin(dsn, schema=name),
        lambda: Producer(dsn, "q", "h", 1, schema=name),
        lambda: Config(schema=name),
    ):
        await rejected(None, call, ValidationError, rf"^Config\.schema {problem}")
