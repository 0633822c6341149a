"""The SQLite backend: one file in WAL mode with ``synchronous=FULL``.

A write acknowledged to a caller has reached the disk, so a killed process loses
nothing it confirmed. One connection guarded by a lock serves the control loop
and the API threads; ``BEGIN IMMEDIATE`` takes the write lock up front.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SqliteBackend"]


class SqliteBackend:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
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

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def schema_version(self, cur: Any = None) -> int:
        with self._lock:
            row = (cur or self._conn).execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, cur: Any, version: int) -> None:
        cur.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
