"""The ``pgqrs`` command (also ``python -m pgqrs``): install the schema, operate queues, messages,
workers and dead letters, prune the archive and check the tables' health, load JSON-lines
files, run workers and watch queues without writing Python.

One module per command group (``schema``, ``queues``, ``messages`` with its file loader
``load``, ``workers``, ``dlq``, ``maintenance``, ``run``, ``top``, ``demo``, ``bench``);
``_main`` builds the parser and turns errors into exit statuses, ``_output`` prints tables
and JSON, ``_records`` turns the API's objects into their rows, ``_common`` holds what the
commands share.  Only this package imports rich (tables, progress bars, the live view), so
``import pgqrs`` does not load it.
"""

from ._main import main

__all__ = ["main"]
