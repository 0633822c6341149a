"""``controlplane backup`` and ``controlplane restore`` on a real SQLite store.

The backup is taken while a writer thread keeps appending decisions (the
controller's situation): the copy is consistent, integrity-checked, and a
restore brings back exactly the rows it holds. Refusals name the argument.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.policy.decision import Decision
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog


def _decision(i: int) -> Decision:
    return Decision(
        target="default/chat", policy="chat", at=1_700_000_000.0 + i, valid=True, current=2, desired=2,
        binding="test", reasons=(f"decision {i}",),
    )  # fmt: skip


def _rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT id, at, binding FROM decisions ORDER BY id").fetchall()
    finally:
        con.close()


def test_online_backup_then_restore(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db_path = tmp_path / "cp.db"
    db = Database(db_path)
    log = DecisionLog(db)
    for i in range(50):
        log.append(_decision(i))
    stop = threading.Event()
    written = [50]

    def writer() -> None:
        while not stop.is_set() and written[0] < 5000:
            log.append(_decision(written[0]))
            written[0] += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        assert main(["backup", "--db", str(db_path), "--out", str(tmp_path / "b.db")]) == 0
    finally:
        stop.set()
        t.join(timeout=10)
    out = capsys.readouterr().out
    assert "schema" in out and "decisions" in out
    backed = _rows(tmp_path / "b.db")
    # A snapshot: the first 50 at least, ids contiguous from 1 (no torn or partial rows).
    assert len(backed) >= 50 and [r[0] for r in backed] == list(range(1, len(backed) + 1))
    assert not (tmp_path / "b.db-wal").exists(), "the backup is one self-contained file"
    db.close()

    restored = tmp_path / "restored" / "cp.db"
    assert main(["restore", "--backup", str(tmp_path / "b.db"), "--db", str(restored)]) == 0
    assert _rows(restored) == backed
    # The controller opens the restored file as usual (same schema, WAL on).
    again = Database(restored)
    assert len(DecisionLog(again).list(target="default/chat", limit=10_000)) == len(backed)
    again.close()


@pytest.mark.parametrize(
    ("label", "argv", "message"),
    [
        (
            "backup of a missing db",
            ["backup", "--db", "{tmp}/none.db", "--out", "{tmp}/b.db"],
            "db: no database file",
        ),
        ("backup over an existing file", ["backup", "--db", "{tmp}/cp.db", "--out", "{tmp}/cp.db"], "out: "),
        ("restore over a live db", ["restore", "--backup", "{tmp}/b.db", "--db", "{tmp}/cp.db"], "db: "),
        ("restore of garbage", ["restore", "--backup", "{tmp}/junk.db", "--db", "{tmp}/new.db"], "backup: "),
        (
            "restore of a newer schema",
            ["restore", "--backup", "{tmp}/future.db", "--db", "{tmp}/new.db"],
            "newer",
        ),
        (
            "backup of a PostgreSQL store",
            ["backup", "--db", "postgresql://cp:pw@db/cp", "--out", "{tmp}/b2.db"],
            "db: postgresql://cp:***@db/cp is not a SQLite file; back a PostgreSQL store up with pg_dump",
        ),
        (
            "restore into a PostgreSQL store",
            ["restore", "--backup", "{tmp}/b.db", "--db", "postgresql://cp@db/cp"],
            "db: postgresql://cp@db/cp is not a SQLite file",
        ),
    ],
)
def test_refusals_name_the_argument(
    tmp_path: Path, capsys, label: str, argv: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    db = Database(tmp_path / "cp.db")
    DecisionLog(db).append(_decision(0))
    db.close()
    assert main(["backup", "--db", str(tmp_path / "cp.db"), "--out", str(tmp_path / "b.db")]) == 0
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    con = sqlite3.connect(tmp_path / "future.db")
    con.execute("PRAGMA user_version = 999")
    con.close()
    capsys.readouterr()
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "new.db").exists()
