"""Schema migrations, applied in order; the list index + 1 is the schema version.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[list[str]] = [
    # 1: the decision log
    [
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            target TEXT NOT NULL,
            policy TEXT NOT NULL,
            at REAL NOT NULL,
            valid INTEGER NOT NULL,
            current INTEGER NOT NULL,
            desired INTEGER NOT NULL,
            binding TEXT NOT NULL,
            patched INTEGER NOT NULL DEFAULT 0,
            actuation TEXT,
            body TEXT NOT NULL
        )
        """,
        "CREATE INDEX decisions_target_at ON decisions (target, at)",
        "CREATE INDEX decisions_at ON decisions (at)",
    ],
]
