-- Upgrade a version-1 pgqrs schema to version 2, in place (Admin.install() runs it in one
-- transaction with the other steps, under the install lock).
--
-- Workers record their kind, and the (hostname, port) uniqueness applies only to identities that
-- own leases, so one producer identity can serve several live processes.  Existing rows keep their
-- ids, states and heartbeats; their kind stays NULL (unknown), which registration treats like a
-- consumer's exclusive identity until a new registration takes the row over.

ALTER TABLE {schema}.pgqrs_workers
    ADD COLUMN IF NOT EXISTS kind text CHECK (kind IN ('producer', 'consumer'));

CREATE UNIQUE INDEX IF NOT EXISTS pgqrs_workers_identity_idx
    ON {schema}.pgqrs_workers (hostname, port)
    WHERE kind IS DISTINCT FROM 'producer' AND port <> 0;

CREATE INDEX IF NOT EXISTS pgqrs_workers_process_idx
    ON {schema}.pgqrs_workers (hostname, port, process_host, process_id);

-- After the partial index exists, so (hostname, port) is never unguarded for consumers.
ALTER TABLE {schema}.pgqrs_workers DROP CONSTRAINT IF EXISTS pgqrs_workers_hostname_port_key;

INSERT INTO {schema}.pgqrs_schema_version (version) VALUES (2) ON CONFLICT DO NOTHING;
