"""The database: one handle over a SQLite file or a PostgreSQL server, with migrations.

Owns: :class:`Database`, the only entry point the store's tables use, and the
:class:`Cursor` and :class:`Row` shapes they rely on. Every table module writes
one SQL text with ``?`` placeholders and ``RETURNING id``; the backends
(:mod:`controlplane.store.sqlite`, :mod:`controlplane.store.postgres`) run it.
Both give the same guarantees: a transaction is all-or-nothing, writers are
serialised (SQLite's write lock; a PostgreSQL advisory lock held to commit, so
several controller replicas can share one server), and a write acknowledged to
a caller is on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from controlplane.store.migrations import render
from controlplane.store.url import DatabaseUrl, parse_database

__all__ = ["Database", "Cursor", "Row"]


class Row(Protocol):
    """A result row: by column name or position, like ``sqlite3.Row``."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Backend(Protocol):
    dialect: str

    def transaction(self) -> AbstractContextManager[Cursor]: ...

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    def schema_version(self, cur: Cursor | None = None) -> int: ...

    def set_schema_version(self, cur: Cursor, version: int) -> None: ...

    def close(self) -> None: ...


class Database:
    """``Database("controlplane.db")``, ``Database(":memory:")`` or
    ``Database("postgresql://controlplane@db:5432/controlplane")``; migrated on open."""

    def __init__(self, path: str | Path = ":memory:", *, field: str = "database") -> None:
        self.url: DatabaseUrl = parse_database(str(path), field)
        self._backend: Backend
        if self.url.dialect == "postgresql":
            from controlplane.store.postgres import PostgresBackend

            self._backend = PostgresBackend(self.url.target)
        else:
            from controlplane.store.sqlite import SqliteBackend

            self._backend = SqliteBackend(self.url.target)
        self.migrate()

    @property
    def dialect(self) -> str:
        return self._backend.dialect

    @property
    def path(self) -> str:
        """The SQLite file, or the PostgreSQL URL with its password hidden."""
        return self.url.redacted

    @property
    def schema_version(self) -> int:
        return self._backend.schema_version()

    def migrate(self) -> int:
        """Apply every migration newer than the stored schema version, each in its own transaction.

        The version is read again inside each transaction (under the write lock), so
        replicas starting together against one server apply each migration once."""
        for version, statements in enumerate(render(self.dialect), start=1):
            with self._backend.transaction() as cur:
                if version <= self._backend.schema_version(cur):
                    continue
                for sql in statements:
                    cur.execute(sql)
                self._backend.set_schema_version(cur, version)
        return self.schema_version

    def transaction(self) -> AbstractContextManager[Cursor]:
        """All-or-nothing, writers serialised; rolled back on any exception."""
        return self._backend.transaction()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._backend.query(sql, params)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._backend.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self._backend.close()
