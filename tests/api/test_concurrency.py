"""Concurrent writers and optimistic concurrency: every write answers with the version and body it
committed, and ``If-Match`` turns a write based on a stale read into 412 with the current version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.store import Database
from tests.api.conftest import POLICY, TestClient

BOTH_STORES = True  # every test here runs on SQLite and on a real PostgreSQL server

WRITERS = 20


def _with(**over: Any) -> dict[str, Any]:
    return {**POLICY, **over}


def _at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0..n-1)`` in n threads released together; results in index order."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _stored(client: TestClient, viewer: dict[str, str], version: int) -> dict[str, Any]:
    r = client.get(f"/v1/policies/chat/versions/{version}", headers=viewer)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()["policy"]
    return body


def test_concurrent_puts_each_answer_their_own_version(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    assert client.post("/v1/policies", json=POLICY, headers=admin).status_code == 201
    # writer i sends max_replicas 10 + i: each body is different from every other and from version 1
    answers = _at_once(
        WRITERS, lambda i: client.put("/v1/policies/chat", json=_with(max_replicas=10 + i), headers=admin)
    )
    assert [r.status_code for r in answers] == [200] * WRITERS
    versions = [r.json()["version"] for r in answers]
    assert sorted(versions) == list(range(2, 2 + WRITERS))
    for i, r in enumerate(answers):
        out = r.json()
        assert out["policy"]["max_replicas"] == 10 + i, f"writer {i} was told of another's write"
        assert out["policy"] == _stored(client, viewer, out["version"])
        assert r.headers["ETag"] == f'"{out["version"]}"'


def test_concurrent_rollbacks_each_answer_their_own_version(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    client.post("/v1/policies", json=_with(max_replicas=1), headers=admin)
    for n in range(2, 11):
        client.put("/v1/policies/chat", json=_with(max_replicas=n), headers=admin)
    # rollback i goes to version i + 1 (max_replicas i + 1); two of the ten may meet an unchanged body
    answers = _at_once(
        10, lambda i: client.post("/v1/policies/chat/rollback", json={"version": i + 1}, headers=admin)
    )
    for i, r in enumerate(answers):
        assert r.status_code == 200
        out = r.json()
        assert out["policy"]["max_replicas"] == i + 1, f"rollback to {i + 1} was told of another's write"
        assert out["policy"] == _stored(client, viewer, out["version"])


def test_concurrent_creates_one_wins_and_says_so(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    answers = _at_once(
        WRITERS, lambda i: client.post("/v1/policies", json=_with(max_replicas=10 + i), headers=admin)
    )
    won = [i for i, r in enumerate(answers) if r.status_code == 201]
    assert len(won) == 1 and {r.status_code for r in answers} == {201, 409}
    out = answers[won[0]].json()
    assert out["version"] == 1 and out["policy"]["max_replicas"] == 10 + won[0]
    assert out["policy"] == _stored(client, viewer, 1)


def test_reads_carry_the_version_as_etag(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    r = client.post("/v1/policies", json=POLICY, headers=admin)
    assert r.headers["ETag"] == '"1"'
    client.put("/v1/policies/chat", json=_with(max_replicas=3), headers=admin)
    assert client.get("/v1/policies/chat", headers=viewer).headers["ETag"] == '"2"'
    assert client.get("/v1/policies/chat/versions/1", headers=viewer).headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    "case,request_",
    [
        ("put", lambda c, h: c.put("/v1/policies/chat", json=_with(max_replicas=5), headers=h)),
        ("delete", lambda c, h: c.delete("/v1/policies/chat", headers=h)),
        ("rollback", lambda c, h: c.post("/v1/policies/chat/rollback", json={"version": 1}, headers=h)),
    ],
)
def test_stale_if_match_is_refused_with_the_current_version(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str], case: str, request_: Any
) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    tag = client.get("/v1/policies/chat", headers=viewer).headers["ETag"]  # operator A reads "1"
    client.put("/v1/policies/chat", json=_with(max_replicas=3), headers=admin)  # B writes version 2
    r = request_(client, {**admin, "If-Match": tag})
    assert r.status_code == 412, case
    assert r.json()["current_version"] == 2 and r.headers["ETag"] == '"2"', case
    after = client.get("/v1/policies/chat", headers=viewer)
    assert after.json()["version"] == 2 and after.json()["policy"]["max_replicas"] == 3, case
    # with the current tag the same write goes through
    assert request_(client, {**admin, "If-Match": '"2"'}).status_code in (200, 204), case


def test_if_match_current_star_and_missing(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    r = client.put("/v1/policies/chat", json=_with(max_replicas=3), headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    r = client.put("/v1/policies/chat", json=_with(max_replicas=4), headers={**admin, "If-Match": "*"})
    assert r.status_code == 200 and r.json()["version"] == 3
    # no If-Match: allowed unless the server requires it
    assert client.put("/v1/policies/chat", json=_with(max_replicas=5), headers=admin).json()["version"] == 4
    for bad in ("1", 'W/"4"', '"4", "5"', '"abc"'):
        r = client.put("/v1/policies/chat", json=_with(max_replicas=6), headers={**admin, "If-Match": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "If-Match", bad
    assert client.get("/v1/policies/chat", headers=viewer).json()["version"] == 4


def test_a_server_may_require_if_match(
    options: ApiOptions, db: Database, clock: FakeClock, admin: dict[str, str]
) -> None:
    app = create_app(ApiOptions(**{**options.__dict__, "require_if_match": True}), db, clock=clock)
    with TestClient(app) as client:
        client.post("/v1/policies", json=POLICY, headers=admin)
        r = client.put("/v1/policies/chat", json=_with(max_replicas=3), headers=admin)
        assert r.status_code == 428 and "If-Match" in r.json()["detail"]
        assert client.delete("/v1/policies/chat", headers=admin).status_code == 428
        r = client.put("/v1/policies/chat", json=_with(max_replicas=3), headers={**admin, "If-Match": '"1"'})
        assert r.status_code == 200
