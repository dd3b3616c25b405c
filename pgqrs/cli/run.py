"""``pgqrs run module:function QUEUE``: a worker process around an async handler.

It imports the handler and runs :meth:`Consumer.consume` with it until SIGTERM or SIGINT.  The
first signal lets the batch in flight finish (handled and acknowledged), then the command exits
0; a second one cancels the running handlers, archives the messages whose handler finished,
releases the others and exits 0 as well.  Either way nothing is lost or archived twice.

Identity: ``--hostname`` defaults to the host name and ``--port`` to 0, "any free identity": any
number of ``pgqrs run`` processes on one host coexist, one worker row each, and a restarted
process takes over a stopped row of the identity instead of adding one.  A fixed ``--port``
makes the identity exclusive (a second live process on it is refused).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
import sys

from .._consume import check_handler
from ._common import (
    CommandError,
    Commands,
    Context,
    UsageError,
    add_identity,
    on_signals,
    positive_int,
)
from ._common import seconds as seconds_type

__all__ = ["import_handler", "register"]

log = logging.getLogger("pgqrs.cli")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def import_handler(spec: str, app_dir: str) -> object:
    """The object ``module:attribute`` names (``attribute`` may be dotted), imported with
    ``app_dir`` first on ``sys.path``.

    Raises:
        UsageError: ``spec`` is not of the form ``module:attribute``.
        CommandError: the module does not import or lacks the attribute.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"the handler must be given as module:function, not {spec!r}")
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        found: object = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error at import is theirs to see
        raise CommandError(
            f"cannot import module {module_name!r} (from {app_dir}): {type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(f"module {module_name!r} has no {attribute!r}") from None
    return found


class _Signals:
    """SIGTERM and SIGINT: the first sets ``stop``, the second cancels ``task``."""

    def __init__(self, stop: asyncio.Event, task: asyncio.Future[int]) -> None:
        self._stop = stop
        self._task = task
        self.forced = False

    def received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if not self._stop.is_set():
            log.info("%s: finishing the batch in flight, then exiting (again to stop now)", name)
            self._stop.set()
        elif not self.forced:
            log.info("%s again: cancelling the handlers; finished messages are archived", name)
            self.forced = True
            self._task.cancel()


async def run(ctx: Context) -> None:
    args = ctx.args
    handler = check_handler(import_handler(args.handler, args.app_dir))
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    stop = asyncio.Event()
    async with ctx.consumer(args.queue) as consumer:
        await consumer.heartbeat()  # registers: the queue exists and the identity is free
        log.info(
            "consuming %r with %s as worker %s (%r, %d), batches of %d, concurrency %d, pid %d",
            args.queue,
            args.handler,
            consumer.worker_id,
            args.hostname,
            args.port,
            args.batch_size,
            args.concurrency,
            os.getpid(),
        )
        task = asyncio.ensure_future(
            consumer.consume(
                handler,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                lock_seconds=args.lock,
                auto_extend=args.auto_extend,
                stop=stop,
            )
        )
        signals = _Signals(stop, task)
        with on_signals(signals.received):
            try:
                handled = await task
            except asyncio.CancelledError:
                if not signals.forced:
                    raise
                log.info("stopped (forced); finished messages archived, the others released")
                return
    log.info("stopped after handling %d messages", handled)


def register(commands: Commands) -> None:
    parser = commands.add(
        "run",
        run,
        help="run an async handler on every message of a queue until SIGTERM or SIGINT",
        description="Import HANDLER (module:function, an `async def handler(message)`; raising "
        "means retry later) and run Consumer.consume with it until SIGTERM or SIGINT. The first "
        "signal finishes the batch in flight and exits 0; a second one cancels the handlers, "
        "archives what finished and releases the rest. Handled messages are archived, failed "
        "ones released with an exponential delay, and after Config.max_read_ct deliveries they "
        "become dead letters. Identity: --hostname defaults to the host name and --port to 0, "
        "'any free identity', so several `pgqrs run` processes on one host coexist (one worker "
        "row each, reused after they stop); a fixed --port makes it exclusive. Logs go to "
        "stderr.",
        example=[
            "pgqrs run myapp.tasks:handle tasks --concurrency 8",
            "PGQRS_DSN=postgresql://app@db/app pgqrs run myapp.tasks:handle tasks --port 9000",
        ],
    )
    parser.add_argument("handler", metavar="HANDLER", help="module:function of the handler")
    parser.add_argument("queue", metavar="QUEUE")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="handlers at once (default 1)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        metavar="N",
        help="messages leased at once (default 100)",
    )
    parser.add_argument(
        "--lock",
        type=seconds_type,
        default=None,
        metavar="S",
        help="lease in seconds (default: 30)",
    )
    parser.add_argument(
        "--auto-extend",
        action="store_true",
        help="keep a batch's leases alive while its handlers run (for long handlers)",
    )
    parser.add_argument(
        "--app-dir",
        default=os.getcwd(),
        help="directory put first on sys.path to import HANDLER (default: the current one)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="logging on stderr (default info)",
    )
    add_identity(parser, hostname=socket.gethostname(), port=0, what="this host's name")
