"""The audit log: who changed what, when, with the state before and after.

Owns: the ``audit`` table. Rows are written with the caller's cursor, inside the
same transaction as the change they describe, so a change is never stored
without its audit row and an audit row never describes a change that was rolled
back. Must not import: any web framework (the API calls in with an :class:`Actor`).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from controlplane.store.db import Cursor, Database, Row

__all__ = ["Actor", "AuditEntry", "AuditLog", "SYSTEM"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: ``subject`` from the token (JWT ``sub`` or the static token's name) and its role."""

    subject: str
    role: str


SYSTEM = Actor("controlplane", "system")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    role: str
    action: str
    kind: str
    name: str
    before: Any
    after: Any
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
        }


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def record(
        cur: Cursor,
        *,
        at: float,
        actor: Actor,
        action: str,
        kind: str,
        name: str,
        before: Any = None,
        after: Any = None,
        detail: str = "",
    ) -> int:
        """Append one row with the transaction's cursor (never on its own)."""
        row = cur.execute(
            "INSERT INTO audit (at, actor, role, action, kind, name, before, after, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                at,
                actor.subject,
                actor.role,
                action,
                kind,
                name,
                None if before is None else json.dumps(before, sort_keys=True),
                None if after is None else json.dumps(after, sort_keys=True),
                detail,
            ),
        ).fetchone()
        return int(row[0])

    def list(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        """Newest first."""
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, value in (("kind", kind), ("name", name), ("actor", actor)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at <= ?")
            params.append(until)
        sql = "SELECT * FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        return [_entry(row) for row in self.db.query(sql, params)]


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=float(row["at"]),
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        kind=row["kind"],
        name=row["name"],
        before=json.loads(row["before"]) if row["before"] is not None else None,
        after=json.loads(row["after"]) if row["after"] is not None else None,
        detail=row["detail"],
    )
