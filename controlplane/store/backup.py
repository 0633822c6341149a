"""Online backup and restore of the SQLite store, with sqlite3's backup API.

Owns: :func:`backup` and :func:`restore`. The backup API copies a consistent
snapshot page by page while the controller keeps writing (WAL mode), so a backup
needs no stop; the copy is checked (``PRAGMA integrity_check``), written as one
self-contained file (rollback journal, no ``-wal`` beside it) and renamed into
place only when complete. A restore replaces a database wholesale and must run
with the controller stopped; it refuses a damaged file and one written by a newer
schema than this version knows. Errors are ``ValueError`` naming the argument.
A PostgreSQL store is refused here: ``pg_dump`` and ``pg_restore`` do that job.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from controlplane.store.migrations import MIGRATIONS
from controlplane.store.url import parse_database

__all__ = ["BackupInfo", "backup", "restore", "describe"]


@dataclass(frozen=True)
class BackupInfo:
    path: str
    schema_version: int
    rows: dict[str, int]

    def summary(self) -> str:
        counts = ", ".join(f"{t} {n}" for t, n in sorted(self.rows.items()))
        return f"{self.path}: schema {self.schema_version}; rows: {counts or 'no tables'}"


def describe(path: str | Path, what: str = "db") -> BackupInfo:
    """Check ``path`` is a sound database of a schema we know; its row counts."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: no database file at {p}")
    try:
        with closing(sqlite3.connect(p)) as con:
            status = con.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise ValueError(f"{what}: {p} fails the integrity check: {status}")
            version = int(con.execute("PRAGMA user_version").fetchone()[0])
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            rows = {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{what}: {p} is not a SQLite database: {exc}") from exc
    if version > len(MIGRATIONS):
        raise ValueError(
            f"{what}: {p} has schema {version}, newer than this version's {len(MIGRATIONS)}; "
            "use the release that wrote it"
        )
    return BackupInfo(str(p), version, rows)


def backup(db: str | Path, out: str | Path, *, overwrite: bool = False, pages: int = 256) -> BackupInfo:
    """Copy the live database ``db`` to ``out`` (``pages`` per step, so writers are not starved)."""
    src_path, out_path = _sqlite_file(db), Path(out)
    if not src_path.is_file():
        raise ValueError(f"db: no database file at {src_path}")
    if out_path.exists() and not overwrite:
        raise ValueError(f"out: {out_path} exists; choose another name or pass --overwrite")
    partial = out_path.with_name(out_path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(src_path, timeout=30)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst, pages=pages)
            # one self-contained file: the snapshot's WAL flag would otherwise come along
            dst.execute("PRAGMA journal_mode=DELETE")
        info = describe(partial, "out")
        os.replace(partial, out_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupInfo(str(out_path), info.schema_version, info.rows)


def restore(backup_file: str | Path, db: str | Path, *, force: bool = False) -> BackupInfo:
    """Replace ``db`` with the checked contents of ``backup_file`` (the controller must be stopped)."""
    target = _sqlite_file(db)
    describe(backup_file, "backup")
    if target.exists() and not force:
        raise ValueError(f"db: {target} exists; stop the controller and pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(backup_file)) as src, closing(sqlite3.connect(target, timeout=30)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    return describe(target, "db")


def _sqlite_file(db: str | Path) -> Path:
    url = parse_database(str(db), "db")
    if url.dialect != "sqlite" or url.target == ":memory:":
        raise ValueError(
            f"db: {url.redacted} is not a SQLite file; back a PostgreSQL store up with pg_dump"
            " and restore it with pg_restore"
        )
    return Path(url.target)
