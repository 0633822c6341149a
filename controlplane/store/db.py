"""The database connection and schema migrations.

SQLite in WAL mode with ``synchronous=FULL``: a write acknowledged to a caller
has reached the disk, so a killed process loses nothing it confirmed. One
connection guarded by a lock serves the control loop and the API threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controlplane.store.migrations import MIGRATIONS

__all__ = ["Database"]


class Database:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    @property
    def schema_version(self) -> int:
        row = self.query_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Apply every migration newer than the stored schema version, each in its own transaction."""
        with self._lock:
            current = self.schema_version
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                with self.transaction() as cur:
                    for sql in statements:
                        cur.execute(sql)
                    cur.execute(f"PRAGMA user_version = {version}")
            return self.schema_version

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """All-or-nothing: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
            return row  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
