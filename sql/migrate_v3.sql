-- Upgrade a version-2 pgqrs schema to version 3, in place (Admin.install() runs it in one
-- transaction with the other steps, under the install lock).
--
-- Queues may keep no archive; the archive becomes a table partitioned into rotating slots, with
-- the version-2 table, every row in it, as slot 0; retention and maintenance get their tables.
-- The windows are recorded as NULL, keep everything: this database had an archive before pgqrs
-- pruned one, and nothing of it goes until someone sets a retention (Admin.set_retention).

ALTER TABLE {schema}.pgqrs_queues
    ADD COLUMN IF NOT EXISTS keep_archive boolean NOT NULL DEFAULT true;

CREATE TABLE IF NOT EXISTS {schema}.pgqrs_retention (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    archive_retention interval DEFAULT interval '1 day'
        CHECK (archive_retention > interval '0'),
    dead_letter_retention interval DEFAULT interval '14 days'
        CHECK (dead_letter_retention > interval '0'),
    current_slot smallint NOT NULL DEFAULT 0 CHECK (current_slot BETWEEN 0 AND 7),
    rotated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO {schema}.pgqrs_retention (archive_retention, dead_letter_retention)
VALUES (NULL, NULL) ON CONFLICT DO NOTHING;

-- The version-2 archive becomes slot 0.  Its identity, keys and indexes make way for those of
-- the partitioned table, which gives them back to it under the same names as a fresh install.
ALTER TABLE {schema}.pgqrs_archive RENAME TO pgqrs_archive_0;
ALTER TABLE {schema}.pgqrs_archive_0 ALTER COLUMN id DROP IDENTITY;
ALTER TABLE {schema}.pgqrs_archive_0 DROP CONSTRAINT pgqrs_archive_pkey;
ALTER TABLE {schema}.pgqrs_archive_0 DROP CONSTRAINT pgqrs_archive_queue_id_fkey;
DROP INDEX {schema}.pgqrs_archive_queue_archived_idx;
DROP INDEX {schema}.pgqrs_archive_dead_letters_idx;
-- A constant default fills the column without rewriting the table.
ALTER TABLE {schema}.pgqrs_archive_0 ADD COLUMN slot smallint NOT NULL DEFAULT 0;
ALTER TABLE {schema}.pgqrs_archive_0 ALTER COLUMN slot DROP DEFAULT;

CREATE TABLE {schema}.pgqrs_archive (
    id bigint GENERATED ALWAYS AS IDENTITY,
    original_msg_id bigint NOT NULL,
    -- No foreign key, as on pgqrs_messages: its check ran once per archived row and cost a third
    -- of an archive insert's server time (pgbench, 10-row inserts: 6,036 against 9,660 tps).
    -- Admin.delete_queue deletes the queue's archive itself.
    queue_id bigint NOT NULL,
    payload jsonb NOT NULL,
    vt timestamptz NOT NULL,
    enqueued_at timestamptz NOT NULL,
    read_ct integer NOT NULL,
    dequeued_at timestamptz,
    producer_worker_id bigint,
    consumer_worker_id bigint,
    archived_at timestamptz NOT NULL DEFAULT now(),
    dead_lettered_at timestamptz,
    dead_letter_reason text,
    slot smallint NOT NULL,
    PRIMARY KEY (id, slot)
) PARTITION BY LIST (slot);

ALTER TABLE {schema}.pgqrs_archive ATTACH PARTITION {schema}.pgqrs_archive_0 FOR VALUES IN (0);

-- New archive ids continue after the kept ones.
SELECT setval(pg_get_serial_sequence({archive_table}, 'id'), coalesce(max(id), 0) + 1,
              false)
FROM {schema}.pgqrs_archive;

-- schema.sql (run next) adds the other slots, the indexes and the maintenance table.

INSERT INTO {schema}.pgqrs_schema_version (version) VALUES (3) ON CONFLICT DO NOTHING;
