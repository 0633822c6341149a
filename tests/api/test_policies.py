"""Policies through the API: versions on every change, history, diff, rollback, 422 naming the field,
409 on duplicates, and no half-written change when a step of a mutation fails."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from controlplane.store import Database
from controlplane.store.audit import Actor
from controlplane.store.policies import PolicyRepository
from tests.api.conftest import POLICY, TestClient

BOTH_STORES = True  # every test here runs on SQLite and on a real PostgreSQL server


def _with(**over: Any) -> dict[str, Any]:
    return {**POLICY, **over}


def test_every_change_is_a_new_version_with_history_and_diff(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    assert client.post("/v1/policies", json=POLICY, headers=admin).status_code == 201
    r = client.put("/v1/policies/chat", json=_with(max_replicas=12), headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.put("/v1/policies/chat", json=_with(max_replicas=12, slo={"ttft_p95_s": 1.5}), headers=admin)
    assert r.json()["version"] == 3
    # the same body again is no change: no version 4
    assert (
        client.put(
            "/v1/policies/chat", json=_with(max_replicas=12, slo={"ttft_p95_s": 1.5}), headers=admin
        ).json()["version"]
        == 3
    )
    history = client.get("/v1/policies/chat/versions", headers=viewer).json()
    assert [v["version"] for v in history] == [1, 2, 3]
    assert [v["created_by"] for v in history] == ["admin-static"] * 3
    diff = client.get("/v1/policies/chat/diff", params={"from": 1, "to": 3}, headers=viewer).json()
    assert diff["changes"] == [
        {"field": "max_replicas", "before": 8, "after": 12, "change": "changed"},
        {"field": "slo.ttft_p95_s", "before": 2.0, "after": 1.5, "change": "changed"},
    ]
    # rollback to 1 is version 4 with version 1's content; the diff 1 -> 4 is empty
    r = client.post("/v1/policies/chat/rollback", json={"version": 1}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 4 and r.json()["policy"]["max_replicas"] == 8
    assert client.get("/v1/policies/chat/diff", params={"from": 1}, headers=viewer).json()["changes"] == []
    actions = [e["action"] for e in client.get("/v1/audit", params={"kind": "policy"}, headers=viewer).json()]
    assert actions == ["rollback", "update", "update", "create"]


def test_delete_keeps_history_and_recreate_continues_versions(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    assert client.delete("/v1/policies/chat", headers=admin).status_code == 204
    assert client.get("/v1/policies/chat", headers=viewer).status_code == 404
    assert client.get("/v1/policies", headers=viewer).json() == []
    assert len(client.get("/v1/policies/chat/versions", headers=viewer).json()) == 1
    r = client.post("/v1/policies", json=_with(max_replicas=4), headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 2
    audit = client.get("/v1/audit", params={"name": "chat"}, headers=viewer).json()
    assert (
        audit[1]["action"] == "delete"
        and audit[1]["before"]["max_replicas"] == 8
        and audit[1]["after"] is None
    )


@pytest.mark.parametrize(
    "case,body,field",
    [
        ("min above max", _with(min_replicas=9, max_replicas=3), "min_replicas"),
        ("zero min without scale-to-zero", _with(min_replicas=0), "min_replicas"),
        ("panic window not shorter", _with(windows={"panic_s": 90}), "windows.panic_s"),
        (
            "bad deployment name",
            _with(target={"kind": "kubernetes", "deployment": "Chat!"}),
            "target.deployment",
        ),
        ("unknown field", _with(max_replica=3), "max_replica"),
        ("negative ttft", _with(slo={"ttft_p95_s": -1}), "slo.ttft_p95_s"),
        (
            "schedule timezone",
            _with(
                schedule=[
                    {
                        "name": "day",
                        "start": "08:00",
                        "end": "20:00",
                        "timezone": "Mars/Olympus",
                        "min_replicas": 2,
                    }
                ]
            ),
            "schedule.0.timezone",
        ),
        ("missing target", {"name": "chat"}, "target"),
        ("kv ratio over 1", _with(signals={"kv_cache_usage": 1.5}), "signals.kv_cache_usage"),
    ],
)
def test_invalid_policy_is_422_naming_the_field(
    client: TestClient, admin: dict[str, str], case: str, body: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/policies", json=body, headers=admin)
    assert r.status_code == 422, case
    first = r.json()["detail"][0]
    assert first["field"] == field, case
    assert first["msg"]
    assert client.get("/v1/policies", headers=admin).json() == []


def test_put_whose_body_names_another_policy_is_422_on_name(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    r = client.put("/v1/policies/chat", json=_with(name="other"), headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "name"


@pytest.mark.parametrize(
    "case,method,path,body,status",
    [
        ("duplicate create", "POST", "/v1/policies", POLICY, 409),
        ("update missing", "PUT", "/v1/policies/nope", _with(name="nope"), 404),
        ("delete missing", "DELETE", "/v1/policies/nope", None, 404),
        ("rollback to a missing version", "POST", "/v1/policies/chat/rollback", {"version": 7}, 404),
        ("diff from a missing version", "GET", "/v1/policies/chat/diff?from=9", None, 404),
        ("history of a missing policy", "GET", "/v1/policies/nope/versions", None, 404),
        # past SQLite's 64-bit integers: refused before the store sees it
        ("version beyond 2^53", "GET", "/v1/policies/chat/versions/99999999999999999999999", None, 422),
        ("diff beyond 2^53", "GET", "/v1/policies/chat/diff?from=99999999999999999999999", None, 422),
        ("override id beyond 2^53", "DELETE", "/v1/overrides/99999999999999999999999", None, 422),
    ],
)
def test_conflicts_and_missing(
    client: TestClient, admin: dict[str, str], case: str, method: str, path: str, body: Any, status: int
) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    assert client.request(method, path, json=body, headers=admin).status_code == status, case


def test_a_failing_audit_write_leaves_nothing_behind(db: Database) -> None:
    """The audit insert is the last statement of create and update; making it fail must roll back all."""
    repo = PolicyRepository(db)
    from controlplane.policy.model import parse_policy

    who = Actor("alice", "admin")
    repo.create(parse_policy(POLICY), who, 100.0)
    db.query("SELECT 1")
    refused: type[Exception]
    with db.transaction() as cur:
        if db.dialect == "sqlite":
            cur.execute(
                "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
            refused = sqlite3.IntegrityError
        else:
            import psycopg

            cur.execute(
                "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
            )
            cur.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit()")
            refused = psycopg.errors.RaiseException
    with pytest.raises(refused, match="audit refused"):
        repo.update("chat", parse_policy(_with(max_replicas=3)), who, 101.0)
    with pytest.raises(refused, match="audit refused"):
        repo.create(parse_policy(_with(name="other")), who, 102.0)
    assert repo.get("chat").version == 1
    assert [v.version for v in repo.versions("chat")] == [1]
    assert db.query_one("SELECT COUNT(*) FROM policies")[0] == 1  # type: ignore[index]
    assert db.query_one("SELECT COUNT(*) FROM policy_versions")[0] == 1  # type: ignore[index]


def test_loop_reads_the_current_versions(db: Database) -> None:
    from controlplane.policy.model import parse_policy

    repo = PolicyRepository(db)
    who = Actor("alice", "admin")
    repo.create(parse_policy(POLICY), who, 100.0)
    assert [p.max_replicas for p in repo.list_policies()] == [8]
    repo.update("chat", parse_policy(_with(max_replicas=5)), who, 101.0)
    assert repo.get_policy("chat").max_replicas == 5  # type: ignore[union-attr]
    repo.delete("chat", who, 102.0)
    assert repo.list_policies() == [] and repo.get_policy("chat") is None
