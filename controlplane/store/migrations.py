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
    # 2: the admin API's policies with their versions, the audit log, operator overrides,
    # and the ScalingPolicy custom resources the syncer refused
    [
        """
        CREATE TABLE policies (
            name TEXT PRIMARY KEY,
            current_version INTEGER NOT NULL,
            managed_by TEXT NOT NULL DEFAULT 'api',
            source TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            deleted_at REAL
        )
        """,
        """
        CREATE TABLE policy_versions (
            name TEXT NOT NULL REFERENCES policies (name),
            version INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (name, version)
        )
        """,
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            before TEXT,
            after TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX audit_at ON audit (at)",
        "CREATE INDEX audit_kind_name ON audit (kind, name)",
        """
        CREATE TABLE overrides (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            replicas INTEGER,
            expires_at REAL NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            ended_at REAL
        )
        """,
        "CREATE INDEX overrides_target ON overrides (target, expires_at)",
        """
        CREATE TABLE crd_rejections (
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            resource_version TEXT NOT NULL,
            field TEXT NOT NULL,
            message TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (namespace, name)
        )
        """,
    ],
]
