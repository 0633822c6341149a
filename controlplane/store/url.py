"""Where the store lives: a SQLite file or a PostgreSQL server, from one setting.

Owns: :func:`parse_database` and :class:`DatabaseUrl`. Accepted forms:

- a file path (``controlplane.db``, ``/data/controlplane.db``) or ``:memory:``;
- ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://:memory:``;
- ``postgresql://user@host:5432/dbname?sslmode=require`` (also ``postgres://``),
  any libpq connection URI. Leave the password out of the URL and give it as
  ``PGPASSWORD`` (or a ``PGPASSFILE``) from a Secret: libpq reads both.

Errors are ``ValueError`` starting with the setting's name. Does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DatabaseUrl", "parse_database", "DIALECTS"]

DIALECTS = ("sqlite", "postgresql")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    dialect: str
    target: str
    """the SQLite file (or ``:memory:``), or the libpq connection URI"""

    @property
    def redacted(self) -> str:
        """Safe to log and show: a password in the URI is replaced by ``***``."""
        if self.dialect == "sqlite":
            return self.target
        parts = urlsplit(self.target)
        if parts.password is None:
            return self.target
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_database(value: str, field: str = "database") -> DatabaseUrl:
    """``value`` as a :class:`DatabaseUrl`; ``ValueError`` naming ``field`` when it is not one."""
    text = (value or "").strip()
    if not text:
        raise ValueError(f"{field}: empty; give a SQLite file path or a postgresql:// URL")
    m = _SCHEME.match(text)
    if m is None:
        return DatabaseUrl("sqlite", text)
    scheme = m.group(1).lower()
    if scheme == "sqlite":
        rest = text[m.end() :]
        if rest == ":memory:":
            return DatabaseUrl("sqlite", ":memory:")
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"{field}: write sqlite:///relative/file.db or sqlite:////absolute/file.db, not {text!r}")
        return DatabaseUrl("sqlite", rest[1:])
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(text)
        if not parts.path.strip("/") and "dbname=" not in parts.query:
            raise ValueError(f"{field}: the PostgreSQL URL names no database (postgresql://user@host:5432/DBNAME)")
        return DatabaseUrl("postgresql", text)
    raise ValueError(f"{field}: unsupported scheme {scheme!r}; use a SQLite file path or a postgresql:// URL")
