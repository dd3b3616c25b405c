-- Every statement pgqrs runs, by name (pgqrs/_sql.py loads them; `{schema}` is filled with a
-- quoted identifier).  Statements that return rows run with binary results: int8, int4,
-- timestamptz and jsonb values reach pgqrs's core raw and are decoded there.

-- name: installed_objects
SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(names)s::text[])
UNION ALL
SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = %(schema)s AND t.typname = ANY(%(names)s::text[]);

-- name: has_version_table
SELECT EXISTS (
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relname = 'pgqrs_schema_version'
);

-- name: schema_version
SELECT max(version)::int8 AS version FROM {schema}.pgqrs_schema_version;

-- name: create_queue
INSERT INTO {schema}.pgqrs_queues (queue_name, keep_archive)
VALUES (%(queue_name)s, %(keep_archive)s)
ON CONFLICT (queue_name) DO NOTHING
RETURNING id, queue_name, created_at, keep_archive;

-- name: get_queue
SELECT id, queue_name, created_at, keep_archive FROM {schema}.pgqrs_queues
WHERE queue_name = %(queue_name)s;

-- name: get_queue_by_id
SELECT id, queue_name, created_at, keep_archive FROM {schema}.pgqrs_queues WHERE id = %(id)s;

-- name: list_queues
SELECT id, queue_name, created_at, keep_archive FROM {schema}.pgqrs_queues
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: set_keep_archive
UPDATE {schema}.pgqrs_queues SET keep_archive = %(keep_archive)s
WHERE queue_name = %(queue_name)s
RETURNING id, queue_name, created_at, keep_archive;

-- name: count_queues
SELECT count(*) AS total FROM {schema}.pgqrs_queues;

-- name: delete_queue
-- pgqrs_messages has no foreign key, so deleting a queue is three statements in one
-- transaction.  This one waits for batches holding the queue row FOR KEY SHARE.
DELETE FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s RETURNING id;

-- name: lock_messages
-- Waits for in-flight single enqueues to commit and holds new ones back until the delete
-- commits; they then find no queue row.  Brief, and only for this rare admin operation.
LOCK TABLE {schema}.pgqrs_messages IN SHARE MODE;

-- name: delete_queue_messages
-- A fresh snapshot (READ COMMITTED, new statement) sees everything committed before the lock.
DELETE FROM {schema}.pgqrs_messages WHERE queue_id = %(queue_id)s;

-- name: delete_queue_archive
-- After the messages: an acknowledgement that committed before the lock moved its rows here,
-- and one that runs after the delete finds no message to move.
DELETE FROM {schema}.pgqrs_archive WHERE queue_id = %(queue_id)s;

-- name: purge_queue
-- No row when the queue does not exist (so for every statement that names a thing).
WITH q AS (
    SELECT id FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s
), purged AS (
    DELETE FROM {schema}.pgqrs_messages WHERE queue_id = (SELECT id FROM q)
    RETURNING 1
)
SELECT (SELECT count(*) FROM purged) AS total FROM q;

-- name: queue_metrics
-- pending: visible now; in flight: leased by a consumer, lease valid; delayed: not visible yet
-- and not leased (enqueue_delayed, or released with a retry delay).  The three partition the
-- queue table.  archived excludes dead letters, which are counted apart.  One lateral
-- aggregate per queue walks that queue's index range once.
SELECT q.id AS queue_id, q.queue_name, now() AS measured_at,
       m.total, m.pending, m.in_flight, m.delayed,
       a.archived, m.oldest_pending, m.newest, a.dead_lettered
FROM {schema}.pgqrs_queues q
CROSS JOIN LATERAL (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE vt <= now()) AS pending,
           count(*) FILTER (WHERE vt > now() AND consumer_worker_id IS NOT NULL) AS in_flight,
           count(*) FILTER (WHERE vt > now() AND consumer_worker_id IS NULL) AS delayed,
           min(enqueued_at) FILTER (WHERE vt <= now()) AS oldest_pending,
           max(enqueued_at) AS newest
    FROM {schema}.pgqrs_messages WHERE queue_id = q.id
) m
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL) AS archived,
           count(*) FILTER (WHERE dead_lettered_at IS NOT NULL) AS dead_lettered
    FROM {schema}.pgqrs_archive WHERE queue_id = q.id
) a
WHERE %(queue_name)s::text IS NULL OR q.queue_name = %(queue_name)s::text
ORDER BY q.id;

-- name: register_worker
-- An exclusive identity (a consumer on a fixed port), new: one statement.  No row back means
-- the queue is missing or the identity exists; then lock_worker decides (in a transaction)
-- whether it may be taken over.
INSERT INTO {schema}.pgqrs_workers (hostname, port, queue_id, process_host, process_id, kind)
SELECT %(hostname)s, %(port)s, q.id, %(process_host)s, %(process_id)s, %(kind)s
FROM {schema}.pgqrs_queues q WHERE q.queue_name = %(queue_name)s
ON CONFLICT (hostname, port) WHERE kind IS DISTINCT FROM 'producer' AND port <> 0 DO NOTHING
RETURNING id, queue_id, started_at;

-- name: shared_identity_owners
-- The live-looking rows of a shared identity on this host: registration takes over those whose
-- owner is gone (the client checks pids and its own objects), as for exclusive identities.
SELECT id, process_id::int8 FROM {schema}.pgqrs_workers
WHERE hostname = %(hostname)s AND port = %(port)s AND kind = %(kind)s
  AND process_host = %(process_host)s AND status <> 'stopped';

-- name: register_shared
-- A shared identity (a producer, or a consumer on port 0): one row per process.  A producer
-- joins this process's live row for the identity and queue (%(join)s); otherwise a stopped or
-- stale row of the identity, or one whose process is gone (%(dead)s), is taken over, the lowest
-- id first, so the rows stay as few as the processes that ran at once; otherwise a row is added.
-- No row back: the queue is missing.
WITH q AS (
    SELECT id FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s
), mine AS (
    SELECT w.id, w.queue_id, w.started_at FROM {schema}.pgqrs_workers w JOIN q ON w.queue_id = q.id
    WHERE %(join)s::bool AND w.hostname = %(hostname)s AND w.port = %(port)s
      AND w.kind = %(kind)s AND w.process_host = %(process_host)s
      AND w.process_id = %(process_id)s AND w.status <> 'stopped'
    ORDER BY w.id LIMIT 1
), reusable AS (
    SELECT w.id FROM {schema}.pgqrs_workers w
    WHERE NOT EXISTS (SELECT 1 FROM mine)
      AND w.hostname = %(hostname)s AND w.port = %(port)s AND w.kind = %(kind)s
      AND (w.status = 'stopped' OR w.id = ANY(%(dead)s::int8[])
           OR w.heartbeat_at < now() - make_interval(secs => %(stale_after)s::float8))
    ORDER BY w.id LIMIT 1
    FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE {schema}.pgqrs_workers w
    SET queue_id = q.id, status = 'ready', started_at = clock_timestamp(), heartbeat_at = now(),
        shutdown_at = NULL, process_host = %(process_host)s, process_id = %(process_id)s
    FROM reusable, q WHERE w.id = reusable.id
    RETURNING w.id, w.queue_id, w.started_at
), added AS (
    INSERT INTO {schema}.pgqrs_workers (hostname, port, queue_id, process_host, process_id, kind)
    SELECT %(hostname)s, %(port)s, q.id, %(process_host)s, %(process_id)s, %(kind)s FROM q
    WHERE NOT EXISTS (SELECT 1 FROM mine) AND NOT EXISTS (SELECT 1 FROM reusable)
    RETURNING id, queue_id, started_at
)
SELECT id, queue_id, started_at FROM mine
UNION ALL SELECT id, queue_id, started_at FROM taken
UNION ALL SELECT id, queue_id, started_at FROM added;

-- name: lock_worker
-- FOR UPDATE: of two processes racing for one identity, the second waits here and then sees
-- the first one's fresh heartbeat, so only one of them wins.
SELECT w.id, w.status::text,
       w.heartbeat_at < now() - make_interval(secs => %(stale_after)s::float8) AS stale,
       w.process_host, w.process_id::int8,
       extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age,
       (SELECT q.id FROM {schema}.pgqrs_queues q WHERE q.queue_name = %(queue_name)s)
           AS queue_id
FROM {schema}.pgqrs_workers w
WHERE w.hostname = %(hostname)s AND w.port = %(port)s AND w.kind IS DISTINCT FROM 'producer'
FOR UPDATE OF w;

-- name: take_over_worker
-- Same id, fresh state, possibly another queue.  started_at identifies this registration:
-- statements that act on the worker row match it, so an owner that lost the identity cannot
-- stop or heartbeat the new one's row.
UPDATE {schema}.pgqrs_workers
SET queue_id = %(queue_id)s, status = 'ready', started_at = clock_timestamp(),
    heartbeat_at = now(), shutdown_at = NULL, process_host = %(process_host)s,
    process_id = %(process_id)s, kind = %(kind)s
WHERE id = %(worker_id)s
RETURNING id, queue_id, started_at;

-- name: stop_worker
UPDATE {schema}.pgqrs_workers SET status = 'stopped', shutdown_at = now()
WHERE id = %(worker_id)s AND started_at = %(started_at)s
RETURNING id;

-- name: heartbeat
-- Returns the status, so an operator's suspend reaches the worker within one interval.
UPDATE {schema}.pgqrs_workers SET heartbeat_at = now()
WHERE id = %(worker_id)s AND started_at = %(started_at)s
RETURNING status::text;

-- name: set_worker_status
-- A worker suspends or resumes itself; a stopped row (reclaimed by an operator) stays stopped.
UPDATE {schema}.pgqrs_workers
SET status = CASE WHEN status = 'stopped' THEN status
                  ELSE %(status)s::text::{schema}.worker_status END,
    heartbeat_at = now()
WHERE id = %(worker_id)s AND started_at = %(started_at)s
RETURNING status::text;

-- name: admin_set_worker_status
WITH w AS (
    SELECT id, status FROM {schema}.pgqrs_workers WHERE id = %(worker_id)s FOR UPDATE
), changed AS (
    UPDATE {schema}.pgqrs_workers u SET status = %(status)s::text::{schema}.worker_status
    FROM w WHERE u.id = w.id AND w.status <> 'stopped'
    RETURNING u.id
)
SELECT w.status::text, EXISTS (SELECT 1 FROM changed) AS changed FROM w;

-- name: delete_worker
-- Kept while live (not stopped, heartbeat within stale_after) or holding valid leases; the row
-- says why.  FOR UPDATE: the worker cannot register again between the check and the delete.
WITH w AS (
    SELECT id, queue_id, status, heartbeat_at FROM {schema}.pgqrs_workers
    WHERE id = %(worker_id)s FOR UPDATE
), checked AS (
    SELECT w.id, w.status::text AS status,
           w.status <> 'stopped'
               AND w.heartbeat_at >= now() - make_interval(secs => %(stale_after)s::float8)
               AS live,
           extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age,
           (SELECT count(*) FROM {schema}.pgqrs_messages m
            WHERE m.queue_id = w.queue_id AND m.vt > now() AND m.consumer_worker_id = w.id)
               AS leased_messages
    FROM w
), deleted AS (
    DELETE FROM {schema}.pgqrs_workers d USING checked c
    WHERE d.id = c.id AND NOT c.live AND c.leased_messages = 0
    RETURNING d.id
)
SELECT status, live, heartbeat_age, leased_messages, EXISTS (SELECT 1 FROM deleted) AS deleted
FROM checked;

-- name: get_worker
SELECT id, hostname, port::int8, queue_id, started_at, heartbeat_at, shutdown_at, status::text,
       process_host, process_id::int8, kind
FROM {schema}.pgqrs_workers WHERE id = %(id)s;

-- name: list_workers
SELECT id, hostname, port::int8, queue_id, started_at, heartbeat_at, shutdown_at, status::text,
       process_host, process_id::int8, kind
FROM {schema}.pgqrs_workers
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(status)s::text IS NULL OR status::text = %(status)s::text)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_workers
SELECT count(*) AS total FROM {schema}.pgqrs_workers
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(status)s::text IS NULL OR status::text = %(status)s::text);

-- name: worker_health
-- Stale: not stopped and no heartbeat within stale_after.  Leases are counted on the worker's
-- queue through its (queue_id, vt) index range of valid leases.
SELECT w.id, w.hostname, w.port::int8, w.queue_id, w.started_at, w.heartbeat_at, w.shutdown_at,
       w.status::text, w.process_host, w.process_id::int8, w.kind,
       extract(epoch FROM now() - w.heartbeat_at)::float8 AS heartbeat_age,
       w.status <> 'stopped'
           AND w.heartbeat_at < now() - make_interval(secs => %(stale_after)s::float8)
           AS is_stale,
       (SELECT count(*) FROM {schema}.pgqrs_messages m
        WHERE m.queue_id = w.queue_id AND m.vt > now() AND m.consumer_worker_id = w.id)
           AS leased_messages
FROM {schema}.pgqrs_workers w
WHERE %(queue_id)s::int8 IS NULL OR w.queue_id = %(queue_id)s::int8
ORDER BY w.id;

-- name: worker_stats
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'ready') AS ready,
       count(*) FILTER (WHERE status = 'suspended') AS suspended,
       count(*) FILTER (WHERE status = 'stopped') AS stopped,
       count(*) FILTER (WHERE status <> 'stopped' AND heartbeat_at
                        < now() - make_interval(secs => %(stale_after)s::float8)) AS stale
FROM {schema}.pgqrs_workers
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8;

-- name: release_worker_messages
-- Valid leases only (vt > now()): lapsed ones are visible already.  Walks the worker's queue's
-- index range of future vts, not the whole table.
WITH w AS (
    SELECT id, queue_id FROM {schema}.pgqrs_workers WHERE id = %(worker_id)s
), released AS (
    UPDATE {schema}.pgqrs_messages m SET vt = now(), consumer_worker_id = NULL
    FROM w WHERE m.queue_id = w.queue_id AND m.vt > now() AND m.consumer_worker_id = w.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM released) AS total FROM w;

-- name: reclaim_stale_workers
WITH q AS (
    SELECT id FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s
), stale AS (
    UPDATE {schema}.pgqrs_workers w SET status = 'stopped', shutdown_at = now()
    FROM q
    WHERE w.queue_id = q.id AND w.status <> 'stopped'
      AND w.heartbeat_at < now() - make_interval(secs => %(stale_after)s::float8)
    RETURNING w.id
), released AS (
    UPDATE {schema}.pgqrs_messages m SET vt = now(), consumer_worker_id = NULL
    FROM q
    WHERE m.queue_id = q.id AND m.vt > now() AND m.consumer_worker_id IN (SELECT id FROM stale)
    RETURNING 1
)
SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM stale), '{{}}'::int8[])
           AS worker_ids,
       (SELECT count(*) FROM released) AS released
FROM q;

-- name: purge_stopped_workers
WITH purged AS (
    DELETE FROM {schema}.pgqrs_workers
    WHERE status = 'stopped'
      AND shutdown_at < now() - make_interval(secs => %(older_than)s::float8)
    RETURNING 1
)
SELECT count(*) AS total FROM purged;

-- name: enqueue
-- No queue row, no message.  No row lock either (it would cost a heap write per message):
-- delete_queue's SHARE lock on the messages table settles the race with a concurrent delete.
-- Undelayed messages skip the interval arithmetic of enqueue_delayed: 3-4 us of server time,
-- about 2 percent of a single enqueue (measured with pgbench against the raw INSERT).
INSERT INTO {schema}.pgqrs_messages (queue_id, payload, vt, producer_worker_id)
SELECT q.id, %(payload)s, now(), %(worker_id)s
FROM {schema}.pgqrs_queues q WHERE q.id = %(queue_id)s
  -- Lines marked "with notify" exist only in this statement's _notify variant (Config.notify):
  -- the wake-up for listening consume loops.  An uncorrelated subquery is an InitPlan, so one
  -- NOTIFY per statement, sent at commit.  Without Config.notify the line is not there at all:
  -- even a skipped test cost about 3 percent of single-enqueue throughput (measured).
  AND (SELECT pg_notify(%(channel)s::text, '') IS NULL) IS NOT NULL  -- with notify
RETURNING id;

-- name: enqueue_delayed
INSERT INTO {schema}.pgqrs_messages (queue_id, payload, vt, producer_worker_id)
SELECT q.id, %(payload)s, now() + make_interval(secs => %(delay_seconds)s::float8),
       %(worker_id)s
FROM {schema}.pgqrs_queues q WHERE q.id = %(queue_id)s
  AND (SELECT pg_notify(%(channel)s::text, '') IS NULL) IS NOT NULL  -- with notify
RETURNING id;

-- name: enqueue_rows
-- Small batches, and concurrent single enqueues sent together (group commit), in one round
-- trip; each row has its own delay.  PostgreSQL evaluates volatile output expressions after
-- the ORDER BY, so nextval hands out ascending ids in input order: sorting the returned ids
-- gives them in input order.
INSERT INTO {schema}.pgqrs_messages (id, queue_id, payload, vt, producer_worker_id)
SELECT nextval({messages_seq}::regclass), q.id, p.payload,
       now() + make_interval(secs => p.delay), %(worker_id)s
FROM unnest(%(payloads)b::jsonb[], %(delays)s::float8[])
     WITH ORDINALITY AS p(payload, delay, ord)
CROSS JOIN {schema}.pgqrs_queues q
WHERE q.id = %(queue_id)s
  AND (SELECT pg_notify(%(channel)s::text, '') IS NULL) IS NOT NULL  -- with notify
ORDER BY p.ord
RETURNING id;

-- name: reserve_ids
-- Runs in the batch's transaction: the KEY SHARE lock keeps the queue alive until the COPY
-- commits.  nextval calls of one statement ascend, so the array is in input order.
SELECT now(), array(SELECT nextval({messages_seq}::regclass)
                    FROM generate_series(1, %(count)s::int8)) AS ids
FROM {schema}.pgqrs_queues q WHERE q.id = %(queue_id)s
  -- The NOTIFY waits for the COPY's commit, so listeners never wake before the rows exist.
  AND (SELECT pg_notify(%(channel)s::text, '') IS NULL) IS NOT NULL  -- with notify
FOR KEY SHARE;

-- name: copy_messages
-- Column order is the core's COPY_COLUMNS; a test keeps them equal.
COPY {schema}.pgqrs_messages (id, queue_id, payload, vt, enqueued_at, producer_worker_id)
FROM STDIN (FORMAT BINARY);

-- name: dequeue
-- SKIP LOCKED lets concurrent consumers claim disjoint rows without waiting on each other.
-- One index scan picks the visible rows and leases those delivered fewer than max_read_ct
-- times.  The others are dead letters (docs/contract.md, Semantics): they come back first,
-- with every column but id and read_ct NULL, for bury_dead_letters to move to the archive, and
-- they count against `count`, so a dequeue may return fewer messages than are visible.  Moving
-- them here instead cost every dequeue 8 percent of its server time even when there were none
-- (pgbench, batch 1: the DELETE and the INSERT into the partitioned archive are set up for
-- every execution).
-- %(floor)s is where the consumer's index walk starts (pgqrs/_floor.py; NULL: from the lowest
-- vt): below it lie the entries of messages already taken, which a held vacuum horizon keeps.
-- It is sent as epoch seconds (float8), a type the lane (pgqrs/_lane.py) encodes.
WITH picked AS (
    SELECT id, read_ct FROM {schema}.pgqrs_messages
    WHERE queue_id = %(queue_id)s AND vt <= now()
      AND vt >= coalesce(to_timestamp(%(floor)s::float8), '-infinity')
    ORDER BY vt
    LIMIT %(count)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    -- `= ANY(ARRAY(...))`, not a join with picked: a generic plan made from the statistics of
    -- a nearly empty table (a drained queue, just analysed) joined the other way round, walking
    -- the whole primary key once per dequeue (measured: 0.3-1.8 s each, 30 msg/s).
    UPDATE {schema}.pgqrs_messages m
    SET vt = now() + make_interval(secs => %(lock_seconds)s::float8),
        read_ct = m.read_ct + 1,
        dequeued_at = now(),
        consumer_worker_id = %(worker_id)s
    WHERE m.id = ANY(ARRAY(SELECT id FROM picked WHERE read_ct < %(max_read_ct)s))
    RETURNING m.id, m.queue_id, m.payload, m.enqueued_at, m.vt, m.read_ct, m.dequeued_at,
              m.producer_worker_id, m.consumer_worker_id
)
SELECT id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, producer_worker_id,
       consumer_worker_id
FROM (SELECT *, false AS dead FROM leased
      UNION ALL
      SELECT id, NULL, NULL, NULL, NULL, read_ct, NULL, NULL, NULL, true
      FROM picked WHERE read_ct >= %(max_read_ct)s) rows
ORDER BY dead DESC, id;

-- name: bury_dead_letters
-- The dead letters a dequeue picked, moved to the archive.  Its locks ended with its commit,
-- so each row is tested again: one another consumer buried or acknowledged meanwhile is gone,
-- and one that is no longer visible or no longer at max_read_ct is left alone.
WITH dead AS (
    DELETE FROM {schema}.pgqrs_messages m
    WHERE m.id = ANY(%(ids)s::int8[]) AND (m.queue_id = %(queue_id)s) IS TRUE
      AND m.read_ct >= %(max_read_ct)s AND m.vt <= now()
    RETURNING m.id, m.queue_id, m.payload, m.enqueued_at, m.vt, m.read_ct, m.dequeued_at,
              m.producer_worker_id, m.consumer_worker_id
), buried AS (
    INSERT INTO {schema}.pgqrs_archive (original_msg_id, queue_id, payload, enqueued_at, vt,
                                        read_ct, dequeued_at, producer_worker_id,
                                        consumer_worker_id, dead_lettered_at,
                                        dead_letter_reason, slot)
    SELECT d.*, now(), 'delivered ' || d.read_ct || ' times without acknowledgement',
           (SELECT current_slot FROM {schema}.pgqrs_retention WHERE id)
    FROM dead d
)
SELECT count(*) AS total FROM dead;

-- name: archive_messages
-- A message leased by another worker (valid lease) is left alone: only its holder may ack it.
-- `(queue_id = ...) IS TRUE` is the same test in a form no index can serve: the ids pick the
-- rows through the primary key.  Indexable, a generic plan built without statistics ANDs in
-- a bitmap of the queue's whole (queue_id, vt) range (measured: 100,000 entries read to
-- acknowledge two messages).  A queue that keeps no archive only deletes; the subqueries are
-- InitPlans, run once per statement, and the copy goes to the archive's current slot.
WITH moved AS (
    DELETE FROM {schema}.pgqrs_messages
    WHERE id = ANY(%(ids)s::int8[]) AND (queue_id = %(queue_id)s) IS TRUE
      AND (consumer_worker_id IS NULL OR consumer_worker_id = %(worker_id)s OR vt <= now())
    RETURNING id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at,
              producer_worker_id, consumer_worker_id
), kept AS (
    INSERT INTO {schema}.pgqrs_archive (original_msg_id, queue_id, payload, enqueued_at, vt,
                                        read_ct, dequeued_at, producer_worker_id,
                                        consumer_worker_id, slot)
    SELECT m.*, (SELECT current_slot FROM {schema}.pgqrs_retention WHERE id) FROM moved m
    WHERE (SELECT keep_archive FROM {schema}.pgqrs_queues WHERE id = %(queue_id)s)
)
SELECT id FROM moved;

-- name: delete_messages
-- (queue_id = ...) IS TRUE: see archive_messages.
DELETE FROM {schema}.pgqrs_messages
WHERE id = ANY(%(ids)s::int8[]) AND (queue_id = %(queue_id)s) IS TRUE
  AND (consumer_worker_id IS NULL OR consumer_worker_id = %(worker_id)s OR vt <= now())
RETURNING id;

-- name: release_messages
-- A negative acknowledgement: visible again after each message's delay, read_ct kept.  Only
-- the lease holder may release (a lapsed, untouched lease still counts as held).
UPDATE {schema}.pgqrs_messages m
SET vt = now() + make_interval(secs => r.delay), consumer_worker_id = NULL
FROM unnest(%(ids)s::int8[], %(delays)s::float8[]) AS r(id, delay)
WHERE m.id = ANY(%(ids)s::int8[]) AND m.id = r.id  -- ANY: the planner walks the primary key
  AND (m.queue_id = %(queue_id)s) IS TRUE  -- see archive_messages
  AND m.consumer_worker_id = %(worker_id)s
RETURNING m.id;

-- name: renew_leases
-- Keeps leases alive while a handler runs: the deadline becomes now + lock, whatever it was.
UPDATE {schema}.pgqrs_messages
SET vt = now() + make_interval(secs => %(lock_seconds)s::float8)
WHERE id = ANY(%(ids)s::int8[]) AND (queue_id = %(queue_id)s) IS TRUE  -- see archive_messages
  AND consumer_worker_id = %(worker_id)s
RETURNING id;

-- name: count_leases
SELECT count(*) AS total FROM {schema}.pgqrs_messages
WHERE queue_id = %(queue_id)s AND vt > now() AND consumer_worker_id = %(worker_id)s;

-- name: release_leases
WITH released AS (
    UPDATE {schema}.pgqrs_messages SET vt = now(), consumer_worker_id = NULL
    WHERE queue_id = %(queue_id)s AND vt > now() AND consumer_worker_id = %(worker_id)s
    RETURNING 1
)
SELECT count(*) AS total FROM released;

-- name: extend_visibility
-- Extends from the current deadline (or from now, if the lease already lapsed).
UPDATE {schema}.pgqrs_messages
SET vt = greatest(vt, now()) + make_interval(secs => %(seconds)s::float8)
WHERE id = %(id)s AND queue_id = %(queue_id)s AND consumer_worker_id = %(worker_id)s
RETURNING id;

-- name: get_message
SELECT id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, producer_worker_id,
       consumer_worker_id
FROM {schema}.pgqrs_messages WHERE id = %(id)s;

-- name: list_messages
-- `contains` (jsonb containment) has no index (every index on this table costs every enqueue):
-- it is checked row by row, within the queue's index range when a queue is given.
SELECT id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, producer_worker_id,
       consumer_worker_id
FROM {schema}.pgqrs_messages
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(contains)s::jsonb IS NULL OR payload @> %(contains)s::jsonb)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_messages
SELECT count(*) AS total FROM {schema}.pgqrs_messages
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8;

-- name: get_archived
SELECT id, original_msg_id, queue_id, payload, enqueued_at, vt, read_ct::int8, dequeued_at,
       producer_worker_id, consumer_worker_id, archived_at, dead_lettered_at, dead_letter_reason
FROM {schema}.pgqrs_archive WHERE id = %(id)s;

-- name: list_archive
-- The worker and read_ct filters have no index (each would cost every archive): row by row.
SELECT id, original_msg_id, queue_id, payload, enqueued_at, vt, read_ct::int8, dequeued_at,
       producer_worker_id, consumer_worker_id, archived_at, dead_lettered_at, dead_letter_reason
FROM {schema}.pgqrs_archive
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(dead)s::bool IS NULL OR (dead_lettered_at IS NOT NULL) = %(dead)s::bool)
  AND (%(worker_id)s::int8 IS NULL OR consumer_worker_id = %(worker_id)s::int8)
  AND (%(min_read_ct)s::int4 IS NULL OR read_ct >= %(min_read_ct)s::int4)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_archive
SELECT count(*) AS total FROM {schema}.pgqrs_archive
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(dead)s::bool IS NULL OR (dead_lettered_at IS NOT NULL) = %(dead)s::bool)
  AND (%(worker_id)s::int8 IS NULL OR consumer_worker_id = %(worker_id)s::int8)
  AND (%(min_read_ct)s::int4 IS NULL OR read_ct >= %(min_read_ct)s::int4);

-- name: delete_archived
DELETE FROM {schema}.pgqrs_archive WHERE id = %(id)s RETURNING id;

-- name: delete_archived_by_worker
WITH deleted AS (
    DELETE FROM {schema}.pgqrs_archive WHERE consumer_worker_id = %(worker_id)s
    RETURNING 1
)
SELECT count(*) AS total FROM deleted;

-- name: get_retention
SELECT archive_retention, dead_letter_retention, current_slot::int8, rotated_at, now() AS now
FROM {schema}.pgqrs_retention;

-- name: set_retention
-- NULL keeps forever; the argument flags say which windows to change.
UPDATE {schema}.pgqrs_retention
SET archive_retention = CASE WHEN %(set_archive)s THEN make_interval(secs => %(archive)s)
                             ELSE archive_retention END,
    dead_letter_retention = CASE WHEN %(set_dead)s THEN make_interval(secs => %(dead)s)
                                 ELSE dead_letter_retention END
RETURNING archive_retention, dead_letter_retention, current_slot::int8, rotated_at, now() AS now;

-- name: lock_retention
-- Of two maintenance steps at once, one rotates; the other skips (no wait).  Archive statements
-- read the row without locking it, so they never wait for a rotation.
SELECT archive_retention, dead_letter_retention, current_slot::int8, rotated_at, now() AS now
FROM {schema}.pgqrs_retention FOR UPDATE SKIP LOCKED;

-- name: rotation_lock_timeout
-- A reader of the archive (a listing, or an analytics query) holds the slot about to be
-- truncated: give up quickly and rotate at the next run, rather than queue statements behind.
SET LOCAL lock_timeout = '500ms';

-- name: rehome_dead_letters
-- The dead letters of the slot about to be truncated that are still within their own window
-- move to the current slot, with their ids and times.
WITH moved AS (
    INSERT INTO {schema}.pgqrs_archive
        (id, original_msg_id, queue_id, payload, vt, enqueued_at, read_ct, dequeued_at,
         producer_worker_id, consumer_worker_id, archived_at, dead_lettered_at,
         dead_letter_reason, slot)
    OVERRIDING SYSTEM VALUE
    SELECT id, original_msg_id, queue_id, payload, vt, enqueued_at, read_ct, dequeued_at,
           producer_worker_id, consumer_worker_id, archived_at, dead_lettered_at,
           dead_letter_reason, %(into)s::int2
    FROM {schema}.pgqrs_archive
    WHERE slot = %(from)s::int2 AND dead_lettered_at IS NOT NULL
      AND (%(dead)s::interval IS NULL OR dead_lettered_at > now() - %(dead)s::interval)
    RETURNING 1
)
SELECT count(*) AS total FROM moved;

-- name: advance_slot
UPDATE {schema}.pgqrs_retention SET current_slot = %(slot)s, rotated_at = now();

-- name: delete_old_dead_letters
-- When dead letters are kept for less time than the archive (or the archive forever), they
-- are deleted in batches; they are few next to acknowledged messages.
WITH old AS (
    SELECT id, slot FROM {schema}.pgqrs_archive
    WHERE dead_lettered_at IS NOT NULL AND dead_lettered_at < now() - %(dead)s::interval
    LIMIT %(limit)s
), deleted AS (
    DELETE FROM {schema}.pgqrs_archive a USING old
    WHERE a.id = old.id AND a.slot = old.slot
    RETURNING 1
)
SELECT count(*) AS total FROM deleted;

-- name: claim_maintenance
-- One maintenance step at a time, at most once per %(every)s seconds (NULL: whenever none runs):
-- the step holds the row's lease while it runs.  No row back: not this worker's turn.
UPDATE {schema}.pgqrs_maintenance
SET last_run_at = now(), running_until = now() + make_interval(secs => %(lease)s)
WHERE running_until < now()
  AND (%(every)s::float8 IS NULL
       OR last_run_at < now() - make_interval(secs => %(every)s::float8))
RETURNING steady_index_bytes, held_since, cleared_at;

-- name: release_maintenance
UPDATE {schema}.pgqrs_maintenance
SET running_until = '-infinity', steady_index_bytes = %(steady_index_bytes)s,
    held_since = %(held_since)s, cleared_at = %(cleared_at)s;

-- name: live_table_state
-- The live table's indexes, its live rows and its latest vacuum, for the index rebuild.
SELECT pg_indexes_size(s.relid)::int8 AS index_bytes, s.n_live_tup AS live_tuples,
       greatest(s.last_autovacuum, s.last_vacuum) AS vacuumed_at, now() AS now
FROM pg_stat_all_tables s WHERE s.relid = {messages_table}::regclass;

-- name: rebuild_live_indexes
-- Builds each index anew beside the old one without blocking writes, then swaps them.
REINDEX TABLE CONCURRENTLY {schema}.pgqrs_messages;

-- name: invalid_live_indexes
-- What an interrupted concurrent rebuild leaves behind (an invalid "_ccnew" index).
SELECT c.relname::text AS name
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = {messages_table}::regclass AND NOT i.indisvalid;

-- name: table_health
-- Size, tuples and vacuum history of each pgqrs table, its partitions summed into it.
WITH tables AS (
    SELECT c.oid, c.relname::text AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s
      AND c.relname IN ('pgqrs_messages', 'pgqrs_archive', 'pgqrs_queues', 'pgqrs_workers')
), leaves AS (
    SELECT t.name, coalesce(p.relid, t.oid) AS relid
    FROM tables t LEFT JOIN LATERAL pg_partition_tree(t.oid) p ON p.isleaf
)
SELECT l.name, sum(pg_relation_size(l.relid))::int8 AS heap_bytes,
       sum(pg_indexes_size(l.relid))::int8 AS index_bytes,
       sum(pg_total_relation_size(l.relid))::int8 AS total_bytes,
       sum(s.n_live_tup)::int8 AS live_tuples, sum(s.n_dead_tup)::int8 AS dead_tuples,
       max(s.last_autovacuum) AS last_autovacuum, max(s.last_vacuum) AS last_vacuum,
       max(s.last_autoanalyze) AS last_autoanalyze
FROM leaves l JOIN pg_stat_all_tables s ON s.relid = l.relid
GROUP BY l.name
ORDER BY l.name;

-- name: vacuum_horizon
-- What holds back vacuum in the whole cluster, the oldest first: sessions with a snapshot or a
-- transaction id (other roles' sessions show only to members of pg_read_all_stats), replicas'
-- feedback through their WAL senders, replication slots and prepared transactions.  xid_age
-- orders them all; seconds is how long a transaction has been open.
SELECT * FROM (
    SELECT CASE WHEN a.backend_type = 'walsender' THEN 'replica' ELSE 'transaction' END AS kind,
           a.pid::int8 AS pid, nullif(a.application_name, '') AS name, a.state,
           extract(epoch FROM now() - a.xact_start)::float8 AS seconds,
           greatest(age(a.backend_xmin), age(a.backend_xid))::int8 AS xid_age
    FROM pg_stat_activity a
    WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
      AND a.backend_type IN ('client backend', 'walsender') AND a.pid <> pg_backend_pid()
    UNION ALL
    SELECT 'replication slot', NULL, s.slot_name::text,
           CASE WHEN s.active THEN 'active' ELSE 'inactive' END, NULL,
           greatest(age(s.xmin), age(s.catalog_xmin))::int8
    FROM pg_replication_slots s WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'prepared transaction', NULL, p.gid, 'prepared',
           extract(epoch FROM now() - p.prepared)::float8, age(p.transaction)::int8
    FROM pg_prepared_xacts p
) h
ORDER BY xid_age DESC NULLS LAST, seconds DESC NULLS LAST
LIMIT %(limit)s;

-- name: replay_dead_letters
-- Dead letters back on their queue as fresh messages: new ids, read_ct 0, visible now.  The
-- CTE that draws the ids is read twice, so it is materialised and nextval runs once per row.
WITH moved AS (
    DELETE FROM {schema}.pgqrs_archive
    WHERE id = ANY(%(ids)s::int8[]) AND dead_lettered_at IS NOT NULL
    RETURNING id, queue_id, payload
), numbered AS (
    SELECT id AS archive_id, nextval({messages_seq}::regclass) AS new_id, queue_id, payload
    FROM moved
), inserted AS (
    INSERT INTO {schema}.pgqrs_messages (id, queue_id, payload)
    SELECT new_id, queue_id, payload FROM numbered
    RETURNING id
)
SELECT archive_id, new_id FROM numbered;

-- name: replay_queue_dead_letters
-- Every dead letter of one queue back on it, as replay_dead_letters does for chosen ids (in
-- archive order: nextval runs after the sort).
WITH moved AS (
    DELETE FROM {schema}.pgqrs_archive
    WHERE queue_id = %(queue_id)s AND dead_lettered_at IS NOT NULL
    RETURNING id, queue_id, payload
), inserted AS (
    INSERT INTO {schema}.pgqrs_messages (id, queue_id, payload)
    SELECT nextval({messages_seq}::regclass), queue_id, payload FROM moved ORDER BY id
    RETURNING id
)
SELECT count(*) AS total FROM inserted;

-- name: install_lock
-- Serialises concurrent installs and uninstalls (transaction-scoped).
SELECT pg_advisory_xact_lock(hashtext('pgqrs.install'));
