"""``pgqrs install``, ``verify``, ``uninstall`` and ``sql``: the pgqrs tables of one schema."""

from __future__ import annotations

import sys

from ._common import CommandError, Commands, Context

__all__ = ["register"]


async def install(ctx: Context) -> None:
    async with ctx.admin() as admin:
        await admin.install()
    schema = ctx.config().schema
    ctx.out.document(
        {"schema": schema, "installed": True}, f"pgqrs is installed in schema {schema!r}"
    )


async def verify(ctx: Context) -> None:
    async with ctx.admin() as admin:
        await admin.verify()  # SchemaError says what is missing or of which version
    schema = ctx.config().schema
    ctx.out.document(
        {"schema": schema, "verified": True},
        f"pgqrs in schema {schema!r} is complete and of the version this pgqrs expects",
    )


def _confirmed(schema: str) -> bool:
    sys.stderr.write(
        f"Drop every pgqrs table of schema {schema!r}, with all its queues, messages, archives "
        "and workers? [y/N] "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # no terminal echoed the answer's newline
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


async def uninstall(ctx: Context) -> None:
    schema = ctx.config().schema
    if not ctx.args.yes and not _confirmed(schema):
        raise CommandError("not confirmed: nothing was dropped (--yes skips the question)")
    async with ctx.admin() as admin:
        await admin.uninstall()
    ctx.out.document(
        {"schema": schema, "uninstalled": True},
        f"pgqrs is uninstalled from schema {schema!r} (the schema itself is kept)",
    )


def sql(ctx: Context) -> None:
    text = ctx.admin().install_sql()
    if ctx.out.json:
        ctx.out.document({"schema": ctx.config().schema, "sql": text})
    else:
        ctx.out.stream.write(text if text.endswith("\n") else text + "\n")


def register(commands: Commands) -> None:
    commands.add(
        "install",
        install,
        help="create the pgqrs tables in --schema, or upgrade older ones in place",
        description="Create the pgqrs tables, indexes and types in --schema (and the schema "
        "itself), or upgrade an older pgqrs schema in place. Harmless when already installed.",
        example=["pgqrs install", "pgqrs --dsn postgresql://app@db/app install --schema jobs"],
    )
    commands.add(
        "verify",
        verify,
        help="check that every pgqrs object exists, of the expected version",
        description="Check that every pgqrs table, index and type exists in --schema and "
        "that the schema version is the one this pgqrs expects. Exit status 1 names what is "
        "missing or which version was found.",
        example="pgqrs verify --schema jobs",
    )
    parser = commands.add(
        "uninstall",
        uninstall,
        help="drop every pgqrs table of --schema, with all queues and messages",
        description="Drop every pgqrs table and type of --schema, with all queues, messages, "
        "archives and workers (the schema itself is kept). Asks first, unless --yes.",
        example=["pgqrs uninstall", "pgqrs uninstall --schema jobs --yes"],
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    commands.add(
        "sql",
        sql,
        help="print the SQL that install runs, for a DBA to apply",
        description="Print the SQL that `pgqrs install` runs on a database without pgqrs, "
        "for --schema, without connecting. Apply it in one transaction (psql -1). A database "
        "holding an older pgqrs schema is upgraded by `pgqrs install` instead.",
        example="pgqrs sql --schema jobs | psql -1 postgresql://admin@db/app",
    )
