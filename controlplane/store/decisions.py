"""The decision log: every decision with its full explanation and what the actuator did."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controlplane.policy.decision import Decision
from controlplane.protocols import ScaleResult
from controlplane.store.db import Database

__all__ = ["DecisionLog", "DecisionRecord"]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    decision: Decision
    patched: bool
    actuation: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.decision.to_dict(), "patched": self.patched, "actuation": self.actuation}


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, decision: Decision, result: ScaleResult | None = None) -> int:
        actuation = None
        if result is not None:
            actuation = {
                "patched": result.patched,
                "replicas": result.replicas,
                "detail": result.detail,
                "attempts": result.attempts,
                "error": result.error,
            }
        with self.db.transaction() as cur:
            row = cur.execute(
                "INSERT INTO decisions (target, policy, at, valid, current, desired, binding, patched, actuation, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    decision.target,
                    decision.policy,
                    decision.at,
                    int(decision.valid),
                    decision.current,
                    decision.desired,
                    decision.binding,
                    int(bool(result and result.patched)),
                    json.dumps(actuation) if actuation else None,
                    json.dumps(decision.to_dict(), default=str),
                ),
            ).fetchone()
            return int(row[0])

    def list(
        self,
        target: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        only_changes: bool = False,
    ) -> list[DecisionRecord]:
        where: list[str] = []
        params: list[object] = []
        if target:
            where.append("target = ?")
            params.append(target)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at <= ?")
            params.append(until)
        if only_changes:
            where.append("desired != current")
        sql = "SELECT * FROM decisions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        params.append(int(limit))
        return [self._record(row) for row in self.db.query(sql, params)]

    def prune(self, before: float, batch: int = 5000) -> int:
        """Delete decisions made before ``before`` (Unix s), ``batch`` rows per transaction so
        the writers' lock is never held for long; the number deleted."""
        deleted = 0
        while True:
            with self.db.transaction() as cur:
                rows = cur.execute(
                    "DELETE FROM decisions WHERE id IN"
                    " (SELECT id FROM decisions WHERE at < ? ORDER BY id LIMIT ?) RETURNING id",
                    (float(before), int(batch)),
                ).fetchall()
            deleted += len(rows)
            if len(rows) < batch:
                return deleted

    def get(self, record_id: int) -> DecisionRecord | None:
        row = self.db.query_one("SELECT * FROM decisions WHERE id = ?", (record_id,))
        return self._record(row) if row else None

    def count(self, target: str | None = None, only_changes: bool = False) -> int:
        where = (["target = ?"] if target else []) + (["desired != current"] if only_changes else [])
        sql = "SELECT COUNT(*) FROM decisions" + (" WHERE " + " AND ".join(where) if where else "")
        row = self.db.query_one(sql, [target] if target else [])
        return int(row[0]) if row else 0

    @staticmethod
    def _record(row: Any) -> DecisionRecord:
        return DecisionRecord(
            id=int(row["id"]),
            decision=Decision.from_dict(json.loads(row["body"])),
            patched=bool(row["patched"]),
            actuation=json.loads(row["actuation"]) if row["actuation"] else None,
        )
