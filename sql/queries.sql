-- Every statement pgqrs runs, by name (pgqrs/_sql.py loads them; `{schema}` is filled with a
-- quoted identifier).  Statements that return rows run with binary results: int8, int4,
-- timestamptz and jsonb values reach pgqrs's core raw and are decoded there.

-- name: installed_objects
SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
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
SELECT max(version)::int8 FROM {schema}.pgqrs_schema_version;

-- name: create_queue
INSERT INTO {schema}.pgqrs_queues (queue_name) VALUES (%(queue_name)s)
ON CONFLICT (queue_name) DO NOTHING
RETURNING id, queue_name, created_at;

-- name: get_queue
SELECT id, queue_name, created_at FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s;

-- name: get_queue_by_id
SELECT id, queue_name, created_at FROM {schema}.pgqrs_queues WHERE id = %(id)s;

-- name: list_queues
SELECT id, queue_name, created_at FROM {schema}.pgqrs_queues
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_queues
SELECT count(*) FROM {schema}.pgqrs_queues;

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

-- name: purge_queue
WITH purged AS (
    DELETE FROM {schema}.pgqrs_messages
    WHERE queue_id = (SELECT id FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s)
    RETURNING 1
)
SELECT (SELECT count(*) FROM purged),
       EXISTS (SELECT 1 FROM {schema}.pgqrs_queues WHERE queue_name = %(queue_name)s);

-- name: queue_metrics
-- pending: visible now; in flight: delivered and leased; delayed: never delivered, not yet
-- visible.  One lateral aggregate per queue walks that queue's index range once.
SELECT q.id, q.queue_name, now(),
       m.total, m.pending, m.in_flight, m.delayed,
       (SELECT count(*) FROM {schema}.pgqrs_archive a WHERE a.queue_id = q.id),
       m.oldest_pending, m.newest
FROM {schema}.pgqrs_queues q
CROSS JOIN LATERAL (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE vt <= now()) AS pending,
           count(*) FILTER (WHERE vt > now() AND read_ct > 0) AS in_flight,
           count(*) FILTER (WHERE vt > now() AND read_ct = 0) AS delayed,
           min(enqueued_at) FILTER (WHERE vt <= now()) AS oldest_pending,
           max(enqueued_at) AS newest
    FROM {schema}.pgqrs_messages WHERE queue_id = q.id
) m
WHERE %(queue_name)s::text IS NULL OR q.queue_name = %(queue_name)s::text
ORDER BY q.id;

-- name: register_worker
-- Re-opening an identity takes its row over: same id, fresh state, possibly another queue.
INSERT INTO {schema}.pgqrs_workers AS w (hostname, port, queue_id)
SELECT %(hostname)s, %(port)s, q.id FROM {schema}.pgqrs_queues q
WHERE q.queue_name = %(queue_name)s
ON CONFLICT (hostname, port) DO UPDATE
SET queue_id = EXCLUDED.queue_id, status = 'ready', started_at = now(), heartbeat_at = now(),
    shutdown_at = NULL
RETURNING w.id, w.queue_id;

-- name: stop_worker
UPDATE {schema}.pgqrs_workers SET status = 'stopped', shutdown_at = now()
WHERE id = %(worker_id)s
RETURNING id;

-- name: get_worker
SELECT id, hostname, port::int8, queue_id, started_at, heartbeat_at, shutdown_at, status::text
FROM {schema}.pgqrs_workers WHERE id = %(id)s;

-- name: list_workers
SELECT id, hostname, port::int8, queue_id, started_at, heartbeat_at, shutdown_at, status::text
FROM {schema}.pgqrs_workers
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(status)s::text IS NULL OR status::text = %(status)s::text)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_workers
SELECT count(*) FROM {schema}.pgqrs_workers
WHERE (%(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8)
  AND (%(status)s::text IS NULL OR status::text = %(status)s::text);

-- name: enqueue
-- No queue row, no message.  No row lock either (it would cost a heap write per message):
-- delete_queue's SHARE lock on the messages table settles the race with a concurrent delete.
INSERT INTO {schema}.pgqrs_messages (queue_id, payload, vt, producer_worker_id)
SELECT q.id, %(payload)s, now() + make_interval(secs => %(delay_seconds)s::float8),
       %(worker_id)s
FROM {schema}.pgqrs_queues q WHERE q.id = %(queue_id)s
RETURNING id;

-- name: enqueue_rows
-- Small batches in one round trip.  PostgreSQL evaluates volatile output expressions after the
-- ORDER BY, so nextval hands out ascending ids in input order: sorting the returned ids gives
-- them in input order.
INSERT INTO {schema}.pgqrs_messages (id, queue_id, payload, vt, producer_worker_id)
SELECT nextval({messages_seq}::regclass), q.id, p.payload,
       now() + make_interval(secs => %(delay_seconds)s::float8), %(worker_id)s
FROM unnest(%(payloads)b::jsonb[]) WITH ORDINALITY AS p(payload, ord)
CROSS JOIN {schema}.pgqrs_queues q
WHERE q.id = %(queue_id)s
ORDER BY p.ord
RETURNING id;

-- name: reserve_ids
-- Runs in the batch's transaction: the KEY SHARE lock keeps the queue alive until the COPY
-- commits.  nextval calls of one statement ascend, so the array is in input order.
SELECT now(), array(SELECT nextval({messages_seq}::regclass)
                    FROM generate_series(1, %(count)s::int8))
FROM {schema}.pgqrs_queues q WHERE q.id = %(queue_id)s
FOR KEY SHARE;

-- name: copy_messages
-- Column order is the core's COPY_COLUMNS; a test keeps them equal.
COPY {schema}.pgqrs_messages (id, queue_id, payload, vt, enqueued_at, producer_worker_id)
FROM STDIN (FORMAT BINARY);

-- name: dequeue
-- SKIP LOCKED lets concurrent consumers claim disjoint rows without waiting on each other.
WITH picked AS (
    SELECT id FROM {schema}.pgqrs_messages
    WHERE queue_id = %(queue_id)s AND vt <= now()
    ORDER BY vt
    LIMIT %(count)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE {schema}.pgqrs_messages m
    SET vt = now() + make_interval(secs => %(lock_seconds)s::float8),
        read_ct = m.read_ct + 1,
        dequeued_at = now(),
        consumer_worker_id = %(worker_id)s
    FROM picked WHERE m.id = picked.id
    RETURNING m.id, m.queue_id, m.payload, m.enqueued_at, m.vt, m.read_ct, m.dequeued_at,
              m.producer_worker_id, m.consumer_worker_id
)
SELECT * FROM leased ORDER BY id;

-- name: archive_messages
-- A message leased by another worker (valid lease) is left alone: only its holder may ack it.
WITH moved AS (
    DELETE FROM {schema}.pgqrs_messages
    WHERE id = ANY(%(ids)s::int8[]) AND queue_id = %(queue_id)s
      AND (consumer_worker_id IS NULL OR consumer_worker_id = %(worker_id)s OR vt <= now())
    RETURNING id, queue_id, payload, vt, enqueued_at, read_ct, dequeued_at,
              producer_worker_id, consumer_worker_id
)
INSERT INTO {schema}.pgqrs_archive (original_msg_id, queue_id, payload, vt, enqueued_at,
                                    read_ct, dequeued_at, producer_worker_id,
                                    consumer_worker_id)
SELECT * FROM moved
RETURNING original_msg_id;

-- name: delete_messages
DELETE FROM {schema}.pgqrs_messages
WHERE id = ANY(%(ids)s::int8[]) AND queue_id = %(queue_id)s
  AND (consumer_worker_id IS NULL OR consumer_worker_id = %(worker_id)s OR vt <= now())
RETURNING id;

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
SELECT id, queue_id, payload, enqueued_at, vt, read_ct, dequeued_at, producer_worker_id,
       consumer_worker_id
FROM {schema}.pgqrs_messages
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_messages
SELECT count(*) FROM {schema}.pgqrs_messages
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8;

-- name: get_archived
SELECT id, original_msg_id, queue_id, payload, enqueued_at, vt, read_ct::int8, dequeued_at,
       producer_worker_id, consumer_worker_id, archived_at
FROM {schema}.pgqrs_archive WHERE id = %(id)s;

-- name: list_archive
SELECT id, original_msg_id, queue_id, payload, enqueued_at, vt, read_ct::int8, dequeued_at,
       producer_worker_id, consumer_worker_id, archived_at
FROM {schema}.pgqrs_archive
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_archive
SELECT count(*) FROM {schema}.pgqrs_archive
WHERE %(queue_id)s::int8 IS NULL OR queue_id = %(queue_id)s::int8;

-- name: install_lock
-- Serialises concurrent installs and uninstalls (transaction-scoped).
SELECT pg_advisory_xact_lock(hashtext('pgqrs.install'));
