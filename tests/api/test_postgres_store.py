"""The store on a real PostgreSQL server: migrations, precision, replicas sharing it, and outages.

Real component: PostgreSQL from Debian's ``postgresql`` package (``tests/harness/postgres.py``),
on 127.0.0.1, one server for the session and a fresh database per test; the outage tests start
their own server so that killing it touches no other test.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.policy.decision import Decision
from controlplane.policy.model import parse_policy
from controlplane.policy.override import Override
from controlplane.store import Database
from controlplane.store.audit import Actor, AuditLog
from controlplane.store.decisions import DecisionLog
from controlplane.store.errors import StoreUnavailable
from controlplane.store.overrides import OverrideStore
from controlplane.store.policies import PolicyRepository
from tests.api.conftest import POLICY, STATIC, TestClient, bearer
from tests.harness.postgres import PostgresServer

ALICE = Actor("alice", "admin")


def _policy(**over: Any) -> Any:
    return parse_policy({**POLICY, **over})


def test_migrates_once_and_reopens_at_the_same_version(postgres_url: str) -> None:
    db = Database(postgres_url)
    assert (db.dialect, db.schema_version) == ("postgresql", 2)
    tables = {r[0] for r in db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"decisions", "policies", "policy_versions", "audit", "overrides", "crd_rejections"} <= tables
    db.close()
    again = Database(postgres_url)
    assert again.schema_version == 2 and again.migrate() == 2
    again.close()


def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    opened: list[Database] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        barrier.wait()
        try:
            opened.append(Database(postgres_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(opened) == 4
    assert {d.schema_version for d in opened} == {2}
    for d in opened:
        d.close()


def test_times_keep_double_precision(postgres_url: str) -> None:
    db = Database(postgres_url)
    at = 1_795_521_600.123456
    rid = DecisionLog(db).append(
        Decision(target="ml/vllm", policy="chat", at=at, valid=True, current=2, desired=3, binding="signals",
                 reasons=("queue above target",))
    )
    got = DecisionLog(db).get(rid)
    assert got is not None and got.decision.at == at and got.decision.desired == 3
    assert DecisionLog(db).list(target="ml/vllm", since=at, until=at)[0].id == rid
    db.close()


def test_two_replicas_writing_one_policy_get_distinct_versions(postgres_url: str) -> None:
    """Writers on separate connections are serialised: version = MAX + 1 is never taken twice."""
    a, b = Database(postgres_url), Database(postgres_url)
    PolicyRepository(a).create(_policy(), ALICE, 100.0)
    errors: list[BaseException] = []
    per_writer = 25

    def write(db: Database, offset: int) -> None:
        repo = PolicyRepository(db)
        for i in range(per_writer):
            try:
                repo.update("chat", _policy(max_replicas=2 + offset + 2 * i), ALICE, 200.0 + i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(a, 0)), threading.Thread(target=write, args=(b, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    versions = [v.version for v in PolicyRepository(b).versions("chat")]
    assert versions == list(range(1, 2 + 2 * per_writer))
    audit = AuditLog(a).list(kind="policy", name="chat", limit=1000)
    assert len(audit) == len(versions)
    a.close()
    b.close()


def test_replicas_behind_one_service_see_one_store(postgres_url: str, options: ApiOptions) -> None:
    """A change made through one replica's API is what the other replica serves and its loop reads."""
    clock = FakeClock(1_795_521_600.0)
    db_a, db_b = Database(postgres_url), Database(postgres_url)
    admin, operator = bearer(STATIC["admin"]), bearer(STATIC["operator"])
    with TestClient(create_app(options, db_a, clock=clock)) as a, TestClient(create_app(options, db_b, clock=clock)) as b:
        assert a.post("/v1/policies", json=POLICY, headers=admin).status_code == 201
        assert b.put("/v1/policies/chat", json={**POLICY, "max_replicas": 5}, headers=admin).json()["version"] == 2
        assert a.get("/v1/policies/chat", headers=admin).json()["policy"]["max_replicas"] == 5
        r = b.post("/v1/overrides", json={"target": "ml/vllm", "kind": "pause", "ttl_s": 600, "reason": "x"},
                   headers=operator)  # fmt: skip
        assert r.status_code == 201, r.text
        assert [o["id"] for o in a.get("/v1/overrides", headers=admin).json()] == [r.json()["id"]]
        assert [e["action"] for e in a.get("/v1/audit", headers=admin).json()] == ["create", "update", "create"]
    assert PolicyRepository(db_a).get_policy("chat").max_replicas == 5  # type: ignore[union-attr]
    assert OverrideStore(db_a).active_for("ml/vllm", clock.now()) is not None
    db_a.close()
    db_b.close()


def test_an_outage_is_503_then_the_store_reconnects_with_every_commit(
    postgres_own_server: PostgresServer, options: ApiOptions
) -> None:
    url = postgres_own_server.create_database()
    db = Database(url)
    clock = FakeClock(1_795_521_600.0)
    admin, viewer = bearer(STATIC["admin"]), bearer(STATIC["viewer"])
    with TestClient(create_app(options, db, clock=clock)) as c:
        assert c.post("/v1/policies", json=POLICY, headers=admin).status_code == 201
        assert c.get("/readyz").status_code == 200

        postgres_own_server.kill()
        r = c.put("/v1/policies/chat", json={**POLICY, "max_replicas": 3}, headers=admin)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
        assert "unreachable" in r.json()["detail"] or "write not done" in r.json()["detail"]
        assert c.get("/v1/policies/chat", headers=viewer).status_code == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["store"]["ok"] is False
        with pytest.raises(StoreUnavailable):
            OverrideStore(db).create(
                "ml/vllm", Override(kind="pause", replicas=None, expires_at=clock.now() + 60, reason="r",
                                    created_by="alice"), ALICE, clock.now(),
            )  # fmt: skip

        postgres_own_server.restart()
        # the first call after the restart is a write: its BEGIN finds the dead connection and reconnects
        r = c.put("/v1/policies/chat", json={**POLICY, "max_replicas": 4}, headers=admin)
        assert r.status_code == 200 and r.json()["version"] == 2, r.text  # the refused write never happened
        assert c.get("/readyz").status_code == 200
        assert [v["policy"]["max_replicas"] for v in c.get("/v1/policies/chat/versions", headers=viewer).json()] == [8, 4]
    db.close()


def test_a_write_after_a_restart_nobody_saw_reconnects(postgres_own_server: PostgresServer) -> None:
    """The server restarted between two calls (a failover): the held connection is dead, the write
    is not lost to it: BEGIN fails before anything of the write ran, and runs again on a new one."""
    db = Database(postgres_own_server.create_database())
    repo = PolicyRepository(db)
    repo.create(_policy(), ALICE, 100.0)
    postgres_own_server.kill()
    postgres_own_server.restart()
    record, changed = repo.update("chat", _policy(max_replicas=6), ALICE, 101.0)
    assert changed and record.version == 2
    postgres_own_server.kill()
    postgres_own_server.restart()
    assert [v.body["max_replicas"] for v in repo.versions("chat")] == [8, 6]  # a read: retried the same way
    db.close()


def test_a_server_that_is_down_at_start_is_named_without_its_password(postgres_own_server: PostgresServer) -> None:
    url = postgres_own_server.create_database().replace("controlplane@", "controlplane:hunter22@")
    postgres_own_server.stop(remove=False)
    with pytest.raises(StoreUnavailable) as err:
        Database(url)
    assert "controlplane:***@127.0.0.1" in str(err.value) and "hunter22" not in str(err.value)


def test_decisions_command_reads_a_postgresql_store(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.cli import main

    db = Database(postgres_url)
    for i, desired in enumerate((2, 3, 3)):
        DecisionLog(db).append(
            Decision(target="ml/vllm", policy="chat", at=1_795_521_600.0 + 15 * i, valid=True, current=2,
                     desired=desired, binding="signals", reasons=(f"tick {i}",))
        )  # fmt: skip
    db.close()
    assert main(["decisions", "--db", postgres_url, "--target", "ml/vllm", "--changes"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:4].isdigit()]  # the header names the target too
    assert len(rows) == 2 and all("ml/vllm" in r for r in rows) and "tick 1" in out and "tick 0" not in out


def test_a_command_on_an_unreachable_store_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.cli import main
    from controlplane.ports import free_port

    url = f"postgresql://cp:hunter22@127.0.0.1:{free_port()}/cp"  # nothing listens there
    assert main(["decisions", "--db", url]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: database postgresql://cp:***@127.0.0.1:") and "unreachable" in err
    assert "hunter22" not in err and "Traceback" not in err


def test_a_writer_waiting_on_a_stuck_peer_is_cut_off(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer holding the writers' lock (a transaction that never ends) blocks a write only until
    the statement timeout; the blocked write is refused as not done and nothing of it is stored."""
    import psycopg

    from controlplane.store import postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_S", 0.5)
    db = Database(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as peer:
        peer.execute("BEGIN")
        peer.execute("SELECT pg_advisory_xact_lock(%s)", (postgres.WRITE_LOCK_KEY,))
        with pytest.raises(StoreUnavailable, match="write not done: canceling statement due to statement timeout"):
            PolicyRepository(db).create(_policy(), ALICE, 100.0)
        peer.execute("ROLLBACK")
    assert PolicyRepository(db).list() == []
    PolicyRepository(db).create(_policy(), ALICE, 101.0)
    assert PolicyRepository(db).get("chat").version == 1
    db.close()
