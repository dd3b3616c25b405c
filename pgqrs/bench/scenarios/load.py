"""Loading a JSON-lines file: ``pgqrs message enqueue QUEUE --file`` (the command's loader, run
in process) vs ``Producer.enqueue_batch`` of the same payloads, already in memory, in batches of
the same size."""

from __future__ import annotations

import gc
import os
import tempfile

import orjson

from ...cli.load import load
from ..harness import Case, Scenario, Target
from ..schema import BenchSchema, check_drained, make_payloads

__all__ = ["LOAD_TARGET", "EnqueueBatches", "FileLoad", "file_load_scenario"]

LOAD_TARGET = Target(0.80, "≥ 0.80")


class FileLoad(Case):
    """The loader of ``pgqrs message enqueue --file`` on a file of ``messages`` JSON lines
    (written once, before the rounds), ``batch`` lines per ``enqueue_batch``; each round starts
    from an empty table."""

    def __init__(self, schema: BenchSchema, batch: int, messages: int) -> None:
        self.label = "enqueue --file"
        self.schema, self.batch, self.messages = schema, batch, messages
        self._path = ""

    async def open(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="pgqrs-bench-", suffix=".jsonl")
        with os.fdopen(fd, "wb") as out:
            out.writelines(orjson.dumps(p) + b"\n" for p in make_payloads(self.messages))
        self._producer = self.schema.producer("bench-file")

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        # As the command does: the loader reads in slices between its awaits.
        with open(self._path, "rb") as stream:  # noqa: ASYNC230
            done = await load(self._producer, stream, batch_size=self.batch)
        check_drained(done.messages, self.messages)

    async def close(self) -> None:
        if self._path:
            os.unlink(self._path)


class EnqueueBatches(Case):
    """``Producer.enqueue_batch`` of the same ``messages`` payloads, ``batch`` at a time."""

    def __init__(self, schema: BenchSchema, batch: int, messages: int) -> None:
        self.label = "enqueue_batch"
        self.schema, self.batch, self.messages = schema, batch, messages

    async def open(self) -> None:
        payloads = make_payloads(self.messages)
        self._batches = [payloads[i : i + self.batch] for i in range(0, len(payloads), self.batch)]
        # Out of the collector's sight: the command's process never holds these, and every
        # collection the loader's allocations trigger would otherwise walk them all.
        gc.collect()
        gc.freeze()
        self._producer = self.schema.producer("bench-batches")

    async def prepare(self) -> None:
        await self.schema.truncate_messages()

    async def run(self) -> None:
        for batch in self._batches:
            await self._producer.enqueue_batch(batch)

    async def close(self) -> None:
        gc.unfreeze()


def file_load_scenario(
    dsn: str, batch: int, messages: int, *, group: str = "enqueue_file"
) -> Scenario:
    """A JSON-lines file of ``messages`` lines through the command's loader vs
    ``enqueue_batch`` of the same payloads, both ``batch`` per call."""
    schema = BenchSchema(dsn, f"file{batch}")
    return Scenario(
        key=f"{group}@{batch}",
        title=f"message enqueue --file, {batch:,}/batch vs enqueue_batch, same payloads",
        pgqrs=FileLoad(schema, batch, messages),
        baseline=EnqueueBatches(schema, batch, messages),
        target=LOAD_TARGET,
        schemas=[schema],
        note=f"{messages:,} lines per round, read and parsed from the file (page cache)",
    )
