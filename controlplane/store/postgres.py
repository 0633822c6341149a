"""The PostgreSQL backend (psycopg 3), for a store shared by several controller replicas.

Owns: :class:`PostgresBackend`. Statements arrive with ``?`` placeholders and are
rewritten to psycopg's ``%s`` once each. Every write transaction first takes one
transaction-scoped advisory lock, so writers from every replica run one at a
time, as SQLite's do: a version number read and then written inside a
transaction cannot be taken twice. Commits are durable with the server's
defaults (``fsync``, ``synchronous_commit``). A connection that breaks is opened
again on the next call; a read, and a write's BEGIN, are retried once on a fresh
connection, a write that had started never (its outcome is unknown), and both
raise :class:`StoreUnavailable` when the server cannot be reached. Every
statement, a wait for the writers' lock included, is cut at 30 s
(``statement_timeout``), so a stuck peer cannot hold a caller indefinitely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from controlplane.store.errors import StoreUnavailable
from controlplane.store.url import DatabaseUrl

__all__ = ["PostgresBackend", "PgRow", "to_format_style"]

WRITE_LOCK_KEY = 0x6370_6C61_6E65  # "cplane": one advisory lock for all of the store's writers
STATEMENT_TIMEOUT_S = 30.0


class PgRow:
    """A row by column name or position (the shape ``sqlite3.Row`` gives the SQLite backend)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    index = {col.name: i for i, col in enumerate(cursor.description or ())}
    return lambda values: PgRow(index, values)


@lru_cache(maxsize=512)
def to_format_style(sql: str) -> str:
    """``?`` placeholders outside quoted text become ``%s``; a literal ``%`` becomes ``%%``."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
        elif quote is not None:
            out.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class _Cursor:
    """A psycopg cursor that takes ``?`` placeholders."""

    def __init__(self, cur: psycopg.Cursor[PgRow]) -> None:
        self._cur = cur

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Cursor:
        self._cur.execute(to_format_style(sql), tuple(parameters))  # type: ignore[call-overload]
        return self

    def fetchone(self) -> PgRow | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[PgRow]:
        return self._cur.fetchall()


class PostgresBackend:
    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0) -> None:
        self._url = url
        self._shown = DatabaseUrl("postgresql", url).redacted
        self._timeout = max(1, int(connect_timeout_s))
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[PgRow] | None = None
        with self._lock:
            self._connection()

    def _connection(self) -> psycopg.Connection[PgRow]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
        try:
            self._conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=self._timeout,
                application_name="controlplane",
                row_factory=_row_factory,
            )
            # no statement (a wait for the writers' lock included) holds a caller for long
            self._conn.execute(f"SET statement_timeout = {int(STATEMENT_TIMEOUT_S * 1000)}")
        except psycopg.Error as exc:
            self._conn = None
            raise StoreUnavailable(f"database {self._shown} unreachable: {_first_line(exc)}") from exc
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[_Cursor]:
        with self._lock:
            raw = self._begin()
            committing = False
            try:
                yield _Cursor(raw)
                committing = True
                raw.execute("COMMIT")
            except psycopg.OperationalError as exc:
                _quietly(raw, "ROLLBACK")
                what = "the commit's outcome is unknown" if committing else "write not done"
                raise StoreUnavailable(f"database {self._shown}: {what}: {_first_line(exc)}") from exc
            except BaseException:
                _quietly(raw, "ROLLBACK")
                raise
            finally:
                raw.close()

    def _begin(self) -> psycopg.Cursor[PgRow]:
        """BEGIN and take the writers' lock; once more on a fresh connection if the old one had died
        (nothing of the caller's has run yet, so this retry is safe)."""
        for attempt in (1, 2):
            conn = self._connection()
            raw = conn.cursor()
            try:
                raw.execute("BEGIN")
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
                return raw
            except psycopg.OperationalError as exc:
                _quietly(raw, "ROLLBACK")  # a BEGIN that went through must not leave the session aborted
                raw.close()
                if attempt == 1 and conn.broken:
                    continue
                raise StoreUnavailable(f"database {self._shown}: write not done: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    with conn.cursor() as cur:
                        cur.execute(to_format_style(sql), tuple(params))  # type: ignore[call-overload]
                        return cur.fetchall()
                except psycopg.OperationalError as exc:
                    if attempt == 1 and conn.broken:
                        continue  # the server went away since the last call: one fresh connection
                    raise StoreUnavailable(f"database {self._shown}: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    def schema_version(self, cur: Any = None) -> int:
        def run(sql: str) -> list[Any]:
            return list(cur.execute(sql).fetchall()) if cur is not None else self.query(sql, ())

        if not run("SELECT to_regclass('controlplane_schema') IS NOT NULL")[0][0]:
            return 0
        rows = run("SELECT version FROM controlplane_schema")
        return int(rows[0][0]) if rows else 0

    def set_schema_version(self, cur: Any, version: int) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS controlplane_schema (version INTEGER NOT NULL)")
        cur.execute("DELETE FROM controlplane_schema")
        cur.execute("INSERT INTO controlplane_schema (version) VALUES (?)", (int(version),))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _quietly(raw: psycopg.Cursor[PgRow], sql: str) -> None:
    try:
        raw.execute(sql)
    except psycopg.Error:
        pass  # the connection is gone or the transaction already ended: nothing is left to undo


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
