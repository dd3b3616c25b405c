"""Connection strings without their secrets, for everything pgqrs shows: reprs, errors, logs.

A password can reach pgqrs in a URL's user info (``postgresql://u:pw@h/db``), a ``?password=``
query parameter, a ``password=pw`` keyword (quoted or not), as ``sslpassword`` (the client key's
passphrase), or in ``$PGPASSWORD``.  libpq's own parser (``psycopg.conninfo``) finds them in every
form.  A string it cannot parse is never shown, and because libpq's messages about such a string
quote pieces of it, those pieces are masked in any text that mentions them.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["MASK", "Redactor", "mask_dsn"]

#: What a secret is replaced with.
MASK = "***"
#: Shown instead of a connection string that libpq cannot parse.
UNPARSABLE = "<connection string not shown: libpq cannot parse it>"

SECRET_KEYS = frozenset({"password", "sslpassword"})
PASSWORD_ENV = "PGPASSWORD"

# The raw spellings of a secret, as written in a string (percent-encoded, quoted, escaped):
# libpq quotes those, not the decoded values, when it cannot parse the string.
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)([^\s/?#@]*)(@)")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:ssl)?password=)([^&#\s\"']*)()")
_KEYWORD_SECRET = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s'\"]+)()")
_SECRET_PATTERNS = (_URL_USERINFO, _QUERY_SECRET, _KEYWORD_SECRET)
_QUOTED = re.compile(r'"([^"]*)"')

E = TypeVar("E", bound=BaseException)


def mask_dsn(dsn: str) -> str:
    """``dsn`` with every secret replaced by ``***``.

    A string with a secret comes back in libpq's ``key=value`` form; one without is returned
    unchanged, and one that libpq cannot parse is not shown at all.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return UNPARSABLE
    if SECRET_KEYS.isdisjoint(params):
        return dsn
    return make_conninfo("", **{k: MASK if k in SECRET_KEYS else v for k, v in params.items()})


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    return frozenset(opt.keyword.decode() for opt in psycopg.pq.Conninfo.get_defaults())


class Redactor:
    """Masks the secrets of one connection string, and ``$PGPASSWORD``, in text and exceptions.

    Args:
        dsn: the connection string pgqrs connects with (``None``: only ``$PGPASSWORD``).
    """

    def __init__(self, dsn: str | None) -> None:
        secrets = {os.environ.get(PASSWORD_ENV, "")}
        self._unparsable: str | None = None
        if dsn:
            for pattern in _SECRET_PATTERNS:
                for match in pattern.finditer(dsn):
                    raw = match[2]
                    secrets.update((raw, raw.strip("'")))
            try:
                params = conninfo_to_dict(dsn)
            except psycopg.Error:
                self._unparsable = dsn
            else:
                secrets.update(str(v) for k, v in params.items() if k in SECRET_KEYS)
        secrets.discard("")
        # Longest first: a secret that contains another is masked whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with the secrets masked, and any other DSN's passwords too."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if self._unparsable is not None:
            text = _QUOTED.sub(self._quoted, text)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(rf"\g<1>{MASK}\g<3>", text)
        return text

    def _quoted(self, match: re.Match[str]) -> str:
        # A piece quoted from the unparsable string may be its password: libpq's "missing "="
        # after "S3cret"" cannot tell.  Single characters, option names and words written as
        # keys (``name=``) are kept, as they say what is wrong.
        piece = match[1]
        dsn = self._unparsable
        assert dsn is not None
        if len(piece) <= 1 or piece in _libpq_keywords() or piece not in dsn:
            return match[0]
        if re.fullmatch(r"\w+", piece) and re.search(rf"(?:^|[\s?&]){piece}=", dsn):
            return match[0]
        return f'"{MASK}"'

    def exception(self, exc: E) -> E:
        """Mask the secrets in the messages (and notes) of ``exc`` and of every exception it
        chains to, in place, so that tracebacks and ``__cause__`` chains are clean too."""
        seen: set[int] = set()
        todo: list[BaseException | None] = [exc]
        while todo:
            current = todo.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            current.args = tuple(self.text(a) if isinstance(a, str) else a for a in current.args)
            notes = getattr(current, "__notes__", None)
            if isinstance(notes, list):
                current.__notes__ = [self.text(n) if isinstance(n, str) else n for n in notes]
            todo += (current.__cause__, current.__context__)
        return exc
