"""Scaling policies with their full version history, and the loop's view of them.

Owns: the ``policies`` and ``policy_versions`` tables. Every change (create,
update, rollback, delete) is one transaction that writes the new version, moves
the policy's ``current_version`` and appends the audit row, so a reader never
sees a version without its policy or a change without its audit entry.

A policy is ``managed_by`` one source: ``api`` (the admin API and CLI) or
``crd`` (the ScalingPolicy custom resources the syncer copies in). A write from
one source to a policy the other owns raises :class:`ManagedElsewhere`.

Deleting keeps the history (the audit trail points into it); creating the same
name again continues its version numbers. :class:`PolicyRepository` is also the
loop's :class:`~controlplane.protocols.PolicyStore`: the loop reads the current
versions every tick, so an API change takes effect on the next tick.
Must not import: any web framework.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from controlplane.policy.model import ScalingPolicy, parse_policy
from controlplane.store.audit import Actor, AuditLog
from controlplane.store.db import Cursor, Database, Row
from controlplane.store.errors import Conflict, ManagedElsewhere, NotFound, StaleVersion

__all__ = ["PolicyRecord", "PolicyVersion", "PolicyRepository", "MANAGERS"]

log = logging.getLogger(__name__)

MANAGERS = ("api", "crd")


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    name: str
    version: int
    body: dict[str, Any]
    created_at: float
    created_by: str
    comment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "policy": self.body,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    name: str
    version: int
    managed_by: str
    source: str | None
    created_at: float
    updated_at: float
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "managed_by": self.managed_by,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "policy": self.body,
        }


_CURRENT = (
    "SELECT p.name, p.current_version, p.managed_by, p.source, p.created_at, p.updated_at, p.deleted_at, v.body"
    " FROM policies p JOIN policy_versions v ON v.name = p.name AND v.version = p.current_version"
)


class PolicyRepository:
    """Versioned policies in the database; each mutation is all-or-nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._parsed: dict[tuple[str, int], ScalingPolicy] = {}
        self._parsed_lock = threading.Lock()

    # reads

    def get(self, name: str) -> PolicyRecord:
        row = self.db.query_one(_CURRENT + " WHERE p.name = ? AND p.deleted_at IS NULL", (name,))
        if row is None:
            raise NotFound(f"policy {name!r} not found")
        return _record(row)

    def list(self) -> builtins.list[PolicyRecord]:
        return [_record(r) for r in self.db.query(_CURRENT + " WHERE p.deleted_at IS NULL ORDER BY p.name")]

    def versions(self, name: str) -> builtins.list[PolicyVersion]:
        """Every version, oldest first; kept after a delete."""
        rows = self.db.query("SELECT * FROM policy_versions WHERE name = ? ORDER BY version", (name,))
        if not rows:
            raise NotFound(f"policy {name!r} has no history")
        return [_version(r) for r in rows]

    def version(self, name: str, version: int) -> PolicyVersion:
        row = self.db.query_one(
            "SELECT * FROM policy_versions WHERE name = ? AND version = ?", (name, version)
        )
        if row is None:
            raise NotFound(f"policy {name!r} has no version {version}")
        return _version(row)

    # PolicyStore, for the control loop

    def list_policies(self) -> builtins.list[ScalingPolicy]:
        out = []
        for rec in self.list():
            policy = self._policy(rec)
            if policy is not None:
                out.append(policy)
        return out

    def get_policy(self, name: str) -> ScalingPolicy | None:
        try:
            return self._policy(self.get(name))
        except NotFound:
            return None

    def _policy(self, rec: PolicyRecord) -> ScalingPolicy | None:
        key = (rec.name, rec.version)
        with self._parsed_lock:
            cached = self._parsed.get(key)
        if cached is not None:
            return cached
        try:
            policy = parse_policy(rec.body)
        except ValueError:
            # A stored body that no longer validates (the model got stricter) is skipped, not guessed at.
            log.exception("stored policy %s version %d does not validate; skipped", rec.name, rec.version)
            return None
        with self._parsed_lock:
            self._parsed = {k: v for k, v in self._parsed.items() if k[0] != rec.name}
            self._parsed[key] = policy
        return policy

    # writes

    def create(
        self,
        policy: ScalingPolicy,
        actor: Actor,
        now: float,
        *,
        managed_by: str = "api",
        source: str | None = None,
        comment: str = "",
    ) -> PolicyRecord:
        body = policy.to_dict()
        with self.db.transaction() as cur:
            row = _current(cur, policy.name)
            if row is not None and row["deleted_at"] is None:
                raise Conflict(
                    f"policy {policy.name!r} already exists (version {row['current_version']}); use PUT"
                )
            version = _next_version(cur, policy.name)
            if row is None:
                # the parent row first: the version's foreign key is checked per statement
                cur.execute(
                    "INSERT INTO policies (name, current_version, managed_by, source, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (policy.name, version, managed_by, source, now, now),
                )
                _write_version(cur, policy.name, version, body, now, actor, comment or "created")
            else:
                _write_version(cur, policy.name, version, body, now, actor, comment or "created")
                cur.execute(
                    "UPDATE policies SET current_version = ?, managed_by = ?, source = ?, created_at = ?,"
                    " updated_at = ?, deleted_at = NULL WHERE name = ?",
                    (version, managed_by, source, now, now, policy.name),
                )
            AuditLog.record(
                cur,
                at=now,
                actor=actor,
                action="create",
                kind="policy",
                name=policy.name,
                after=body,
                detail=f"version {version}; managed_by {managed_by}",
            )
            return _committed(cur, policy.name)

    def update(
        self,
        name: str,
        policy: ScalingPolicy,
        actor: Actor,
        now: float,
        *,
        managed_by: str = "api",
        source: str | None = None,
        expected_version: int | None = None,
        comment: str = "",
        action: str = "update",
    ) -> tuple[PolicyRecord, bool]:
        """Store ``policy`` as the next version; ``(record, changed)``. An identical body is no change."""
        if policy.name != name:
            from controlplane.policy.model import PolicyError

            raise PolicyError("name", f"the body names {policy.name!r} but the path names {name!r}")
        with self.db.transaction() as cur:
            return self._replace(
                cur, name, policy.to_dict(), actor, now, managed_by, source, expected_version, comment, action
            )

    def rollback(
        self, name: str, version: int, actor: Actor, now: float, *, expected_version: int | None = None
    ) -> PolicyRecord:
        """A new version whose body is that of ``version`` (history only grows)."""
        with self.db.transaction() as cur:
            old = cur.execute(
                "SELECT * FROM policy_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if old is None:
                raise NotFound(f"policy {name!r} has no version {version}")
            body = parse_policy(json.loads(old["body"])).to_dict()
            record, _ = self._replace(
                cur,
                name,
                body,
                actor,
                now,
                "api",
                None,
                expected_version,
                f"rollback to version {version}",
                "rollback",
            )
        return record

    def _replace(
        self,
        cur: Cursor,
        name: str,
        body: dict[str, Any],
        actor: Actor,
        now: float,
        managed_by: str,
        source: str | None,
        expected_version: int | None,
        comment: str,
        action: str,
    ) -> tuple[PolicyRecord, bool]:
        row = self._owned(cur, name, managed_by)
        _check_version(name, row, expected_version)
        before = json.loads(row["body"])
        if before == body and row["source"] == source:
            return _record(row), False
        version = _next_version(cur, name)
        _write_version(cur, name, version, body, now, actor, comment or action)
        cur.execute(
            "UPDATE policies SET current_version = ?, source = ?, updated_at = ? WHERE name = ?",
            (version, source, now, name),
        )
        AuditLog.record(
            cur,
            at=now,
            actor=actor,
            action=action,
            kind="policy",
            name=name,
            before=before,
            after=body,
            detail=f"version {row['current_version']} -> {version}",
        )
        return _committed(cur, name), True

    def delete(
        self,
        name: str,
        actor: Actor,
        now: float,
        *,
        managed_by: str = "api",
        expected_version: int | None = None,
    ) -> PolicyRecord:
        with self.db.transaction() as cur:
            row = self._owned(cur, name, managed_by)
            _check_version(name, row, expected_version)
            record = _record(row)
            cur.execute("UPDATE policies SET deleted_at = ?, updated_at = ? WHERE name = ?", (now, now, name))
            AuditLog.record(
                cur,
                at=now,
                actor=actor,
                action="delete",
                kind="policy",
                name=name,
                before=record.body,
                detail=f"version {record.version}",
            )
        return record

    # custom resources the syncer refused

    def record_rejection(
        self,
        namespace: str,
        name: str,
        resource_version: str,
        field: str,
        message: str,
        actor: Actor,
        now: float,
    ) -> bool:
        """Remember a refused custom resource with its audit row; False when this exact
        resourceVersion was already recorded (a syncer re-listing it every interval)."""
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT resource_version FROM crd_rejections WHERE namespace = ? AND name = ?",
                (namespace, name),
            ).fetchone()
            if row is not None and row["resource_version"] == resource_version:
                return False
            cur.execute(
                "INSERT INTO crd_rejections (namespace, name, resource_version, field, message, at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET"
                " resource_version = excluded.resource_version, field = excluded.field,"
                " message = excluded.message, at = excluded.at",
                (namespace, name, resource_version, field, message, now),
            )
            AuditLog.record(
                cur,
                at=now,
                actor=actor,
                action="reject",
                kind="scalingpolicy",
                name=f"{namespace}/{name}",
                after={"field": field, "message": message, "resource_version": resource_version},
                detail=f"{field}: {message}",
            )
        return True

    def clear_rejection(self, namespace: str, name: str) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM crd_rejections WHERE namespace = ? AND name = ?", (namespace, name))

    def rejections(self) -> builtins.list[dict[str, Any]]:
        return [{k: r[k] for k in r.keys()} for r in self.db.query("SELECT * FROM crd_rejections ORDER BY namespace, name")]

    @staticmethod
    def _owned(cur: Cursor, name: str, managed_by: str) -> Row:
        row = _current(cur, name)
        if row is None or row["deleted_at"] is not None:
            raise NotFound(f"policy {name!r} not found")
        if row["managed_by"] != managed_by:
            where = f" by {row['source']}" if row["source"] else ""
            raise ManagedElsewhere(
                f"policy {name!r} is managed by {row['managed_by']}{where}; change it there, not through the {managed_by}"
            )
        return row


def _current(cur: Cursor, name: str) -> Row | None:
    row: Row | None = cur.execute(_CURRENT + " WHERE p.name = ?", (name,)).fetchone()
    return row


def _committed(cur: Cursor, name: str) -> PolicyRecord:
    """The policy as this transaction left it: what the write acknowledges, whatever commits next."""
    row = _current(cur, name)
    assert row is not None, "read inside the transaction that wrote it"
    return _record(row)


def _check_version(name: str, row: Row, expected_version: int | None) -> None:
    current = int(row["current_version"])
    if expected_version is not None and expected_version != current:
        raise StaleVersion(
            f"policy {name!r} is at version {current}, not {expected_version}; re-read and retry", current
        )


def _next_version(cur: Cursor, name: str) -> int:
    row = cur.execute("SELECT MAX(version) FROM policy_versions WHERE name = ?", (name,)).fetchone()
    return int(row[0] or 0) + 1


def _write_version(
    cur: Cursor, name: str, version: int, body: dict[str, Any], now: float, actor: Actor, comment: str
) -> None:
    cur.execute(
        "INSERT INTO policy_versions (name, version, body, created_at, created_by, comment) VALUES (?, ?, ?, ?, ?, ?)",
        (name, version, json.dumps(body, sort_keys=True), now, actor.subject, comment),
    )


def _record(row: Row) -> PolicyRecord:
    return PolicyRecord(
        name=row["name"],
        version=int(row["current_version"]),
        managed_by=row["managed_by"],
        source=row["source"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        body=json.loads(row["body"]),
    )


def _version(row: Row) -> PolicyVersion:
    return PolicyVersion(
        name=row["name"],
        version=int(row["version"]),
        body=json.loads(row["body"]),
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        comment=row["comment"],
    )
