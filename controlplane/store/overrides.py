"""Operator overrides in the database, and the advisor that hands them to the loop.

Owns: the ``overrides`` table and :class:`OverrideAdvisor`. An override pins a
target (``namespace/deployment`` or ``local/group``) to a replica count or
pauses its scaling until ``expires_at``. Nothing deletes an expired override:
every read filters by the time it is given, so it lapses on its own even if
the process was down when it expired. One active override per target: a second
one is refused until the first ends or lapses.
Must not import: any web framework.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from controlplane.clock import Clock
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.override import Override
from controlplane.protocols import Advice, ReplicaStatus
from controlplane.signals import Signals
from controlplane.store.audit import Actor, AuditLog
from controlplane.store.db import Database, Row
from controlplane.store.errors import Conflict, NotFound

__all__ = ["OverrideRecord", "OverrideStore", "OverrideAdvisor", "MAX_OVERRIDE_S"]

MAX_OVERRIDE_S = 30 * 86_400.0
"""Longest an override may stay in force (s), however it is given (``expires_at`` or ``ttl_s``):
a pin forgotten for longer should come back to someone's attention by lapsing."""


@dataclass(frozen=True, slots=True)
class OverrideRecord:
    id: int
    target: str
    override: Override
    created_at: float
    ended_at: float | None

    def active(self, now: float) -> bool:
        return self.ended_at is None and self.override.active(now)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            **self.override.to_dict(),
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "active": self.active(now),
        }


class OverrideStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, target: str, override: Override, actor: Actor, now: float) -> OverrideRecord:
        from controlplane.policy.override import OverrideError

        if not override.active(now):
            raise OverrideError("expires_at", "is not in the future: the override would never be in force")
        if override.expires_at - now > MAX_OVERRIDE_S:
            raise OverrideError(
                "expires_at",
                f"is more than {MAX_OVERRIDE_S / 86_400:.0f} days ahead (at most {now + MAX_OVERRIDE_S:.0f} now)",
            )
        with self.db.transaction() as cur:
            existing = cur.execute(
                "SELECT id, expires_at FROM overrides WHERE target = ? AND ended_at IS NULL AND expires_at > ?",
                (target, now),
            ).fetchone()
            if existing is not None:
                raise Conflict(
                    f"target {target!r} already has override {existing['id']} until {existing['expires_at']:.0f};"
                    " delete it first"
                )
            inserted = cur.execute(
                "INSERT INTO overrides (target, kind, replicas, expires_at, reason, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    target,
                    override.kind,
                    override.replicas,
                    override.expires_at,
                    override.reason,
                    actor.subject,
                    now,
                ),
            ).fetchone()
            oid = int(inserted[0])
            record = OverrideRecord(oid, target, override, now, None)
            AuditLog.record(
                cur,
                at=now,
                actor=actor,
                action="create",
                kind="override",
                name=str(oid),
                after=record.to_dict(now),
                detail=f"{override.kind} {target}",
            )
        return record

    def end(self, override_id: int, actor: Actor, now: float) -> OverrideRecord:
        """End an override now (kept for the record); an already ended or lapsed one is not found."""
        with self.db.transaction() as cur:
            row = cur.execute("SELECT * FROM overrides WHERE id = ?", (override_id,)).fetchone()
            if row is None:
                raise NotFound(f"override {override_id} not found")
            record = _record(row)
            if not record.active(now):
                raise NotFound(f"override {override_id} is no longer active")
            cur.execute("UPDATE overrides SET ended_at = ? WHERE id = ?", (now, override_id))
            ended = OverrideRecord(record.id, record.target, record.override, record.created_at, now)
            AuditLog.record(
                cur,
                at=now,
                actor=actor,
                action="delete",
                kind="override",
                name=str(override_id),
                before=record.to_dict(now),
                after=ended.to_dict(now),
                detail=f"{record.override.kind} {record.target} ended early",
            )
        return ended

    def get(self, override_id: int) -> OverrideRecord:
        row = self.db.query_one("SELECT * FROM overrides WHERE id = ?", (override_id,))
        if row is None:
            raise NotFound(f"override {override_id} not found")
        return _record(row)

    def list(
        self, now: float, *, include_inactive: bool = False, target: str | None = None
    ) -> builtins.list[OverrideRecord]:
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if not include_inactive:
            where.append("ended_at IS NULL AND expires_at > ?")
            params.append(now)
        if target is not None:
            where.append("target = ?")
            params.append(target)
        sql = "SELECT * FROM overrides"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT 1000"
        return [_record(r) for r in self.db.query(sql, params)]

    def active_for(self, target: str, now: float) -> Override | None:
        records = self.list(now, target=target)
        return records[0].override if records else None


class OverrideAdvisor:
    """Feeds the active override of each policy's target into the loop (``Advice.override``).

    ``required``: when the overrides cannot be read (the database is down), the
    loop makes the decision invalid rather than scale a target that may be pinned
    or paused.
    """

    required = True

    def __init__(self, store: OverrideStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        return Advice(override=self.store.active_for(policy.target_key, now))


def _record(row: Row) -> OverrideRecord:
    return OverrideRecord(
        id=int(row["id"]),
        target=row["target"],
        override=Override(
            kind=row["kind"],
            replicas=row["replicas"],
            expires_at=float(row["expires_at"]),
            reason=row["reason"],
            created_by=row["created_by"],
        ),
        created_at=float(row["created_at"]),
        ended_at=float(row["ended_at"]) if row["ended_at"] is not None else None,
    )
