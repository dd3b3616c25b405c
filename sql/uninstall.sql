-- Removes every pgqrs object from `{schema}` (the schema itself stays: it may hold other tables).
DROP TABLE IF EXISTS {schema}.pgqrs_archive;
DROP TABLE IF EXISTS {schema}.pgqrs_messages;
DROP TABLE IF EXISTS {schema}.pgqrs_workers;
DROP TABLE IF EXISTS {schema}.pgqrs_queues;
DROP TABLE IF EXISTS {schema}.pgqrs_retention;
DROP TABLE IF EXISTS {schema}.pgqrs_maintenance;
DROP TABLE IF EXISTS {schema}.pgqrs_schema_version;
DROP TYPE IF EXISTS {schema}.worker_status;
