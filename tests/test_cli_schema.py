"""The ``pgqrs`` command as a whole, and its schema commands: help with an example everywhere,
exit statuses, global options before or after the command, errors without traceback or
password; ``install``, ``verify``, ``uninstall`` and ``sql`` against a real PostgreSQL."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from pgqrs.cli._main import build_parser, main

from pgqrs_command import PGQRS, clean_env, new_queue, pgqrs


def test_import_pgqrs_loads_no_cli_library() -> None:
    code = "import pgqrs, sys; assert 'rich' not in sys.modules and 'pgqrs.cli' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env())


def _leaf_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                # Aliases (watch = top) are the same command; bench parses its own arguments.
                if sub.prog.split()[-1] == name and not sub.get_default("pgqrs_passthrough"):
                    yield from _leaf_commands(sub, (*prefix, name))
            return
    yield prefix


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    leaves = list(_leaf_commands(build_parser()))
    assert len(leaves) >= 30
    assert ("message", "enqueue") in leaves
    assert ("dlq", "replay") in leaves
    for command in leaves:
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
        shown = capsys.readouterr().out
        assert "example:\n  pgqrs " in shown, command
    done = subprocess.run([str(PGQRS), "--help"], capture_output=True, text=True, check=True)
    assert "example:" in done.stdout
    assert "queue" in done.stdout
    assert "top (watch)" in done.stdout


def test_usage_errors_exit_2_with_the_pgqrs_error_line(module_dsn: str) -> None:
    pgqrs("queue", dsn=module_dsn).failed("required", status=2)
    pgqrs("nonsense", dsn=module_dsn).failed("invalid choice", status=2)
    pgqrs("message", "dequeue", "q", "--count", "0", dsn=module_dsn).failed(
        "must be a positive integer", status=2
    )
    pgqrs("message", "enqueue", "q", "{not json", dsn=module_dsn).failed("not valid JSON", status=2)
    pgqrs("message", "enqueue", "q", dsn=module_dsn).failed("--file", status=2)
    pgqrs("dlq", "replay", dsn=module_dsn).failed("--queue Q --all", status=2)
    pgqrs("run", "no_colon", "q", dsn=module_dsn).failed("module:function", status=2)


def test_global_options_before_or_after_the_command_and_from_the_environment(
    module_dsn: str,
) -> None:
    queue = new_queue(module_dsn)
    before = pgqrs("--format", "json", "queue", "list", dsn=module_dsn).ok()
    after = pgqrs("queue", "list", "--dsn", module_dsn, "--format", "json").ok()
    env = pgqrs("queue", "list", "--format", "json", env=clean_env(PGQRS_DSN=module_dsn)).ok()
    assert before.json_lines() == after.json_lines() == env.json_lines()
    assert queue in {q["queue_name"] for q in env.json_lines()}
    table = pgqrs("queue", "list", dsn=module_dsn).ok()
    assert queue in table.stdout
    assert "created (UTC)" in table.stdout


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_server_down_is_one_error_line_without_the_password() -> None:
    dsn = f"postgresql://someone:S3cretPw@127.0.0.1:{closed_port()}/db"
    given = pgqrs("queue", "list", dsn=dsn).failed("cannot", "connection")
    from_env = pgqrs("queue", "list", env=clean_env(PGQRS_DSN=dsn)).failed("cannot")
    for shown in (given, from_env):
        assert "S3cretPw" not in shown.stdout + shown.stderr


def test_schema_not_installed_is_an_error_naming_it(dsn: str, bare_schema: str) -> None:
    bare = bare_schema
    pgqrs("verify", "--schema", bare, dsn=dsn).failed(bare, "missing")
    pgqrs("queue", "list", "--schema", bare, dsn=dsn).failed(bare, "not installed")
    pgqrs("queue", "create", "q", "--schema", bare, dsn=dsn).failed("not installed")
    pgqrs("top", "--once", "--schema", bare, dsn=dsn).failed("not installed")


def test_install_verify_uninstall(dsn: str, bare_schema: str) -> None:
    bare = bare_schema
    done = pgqrs("install", "--schema", bare, dsn=dsn).ok()
    assert done.stdout == f"pgqrs is installed in schema {bare!r}\n"
    assert pgqrs("install", "--schema", bare, "--format", "json", dsn=dsn).ok().json() == {
        "schema": bare,
        "installed": True,
    }
    assert "complete" in pgqrs("verify", "--schema", bare, dsn=dsn).ok().stdout
    verified = pgqrs("verify", "--schema", bare, "--format", "json", dsn=dsn).ok()
    assert verified.json() == {"schema": bare, "verified": True}
    pgqrs("queue", "create", "kept", "--schema", bare, dsn=dsn).ok()

    refused = pgqrs("uninstall", "--schema", bare, input="n\n", dsn=dsn)
    refused.failed("not confirmed", "nothing was dropped")
    assert "[y/N]" in refused.stderr
    assert "kept" in pgqrs("queue", "list", "--schema", bare, dsn=dsn).ok().stdout
    pgqrs("uninstall", "--schema", bare, input="", dsn=dsn).failed("not confirmed")

    gone = pgqrs("uninstall", "--schema", bare, input="y\n", dsn=dsn).ok()
    assert "uninstalled" in gone.stdout
    pgqrs("verify", "--schema", bare, dsn=dsn).failed("missing")
    pgqrs("install", "--schema", bare, dsn=dsn).ok()
    quiet = pgqrs("uninstall", "--yes", "--schema", bare, "--format", "json", dsn=dsn).ok()
    assert quiet.json() == {"schema": bare, "uninstalled": True}
    assert quiet.stderr == ""  # --yes asks nothing
    pgqrs("verify", "--schema", bare, dsn=dsn).failed("missing")


def test_sql_prints_what_install_runs_for_a_dba(dsn: str, bare_schema: str) -> None:
    bare = bare_schema
    text = pgqrs("sql", "--schema", bare).ok().stdout  # no --dsn: it does not connect
    assert f'CREATE SCHEMA IF NOT EXISTS "{bare}"' in text
    as_json = pgqrs("sql", "--schema", bare, "--format", "json").ok().json()
    assert as_json["schema"] == bare
    assert as_json["sql"].strip() == text.strip()
    with psycopg.connect(dsn) as conn:  # what `pgqrs sql | psql -1` does
        conn.execute(text.encode())
    pgqrs("verify", "--schema", bare, dsn=dsn).ok()
