"""The API beside a running loop: overrides reach the next tick and lapse by themselves, dry-run
decides without patching, decisions come back with their explanation, forecasts and anomalies are
served as the loop recorded them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.loop import ControlLoop
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.store.insights import Insights
from controlplane.store.overrides import OverrideAdvisor, OverrideStore
from controlplane.store.policies import PolicyRepository
from controlplane.telemetry import ControllerMetrics
from tests.api.conftest import POLICY, TestClient
from tests.api.fakes import FakeActuator, FakeSource

BOTH_STORES = True  # overrides, decisions and dry-run on SQLite and on a real PostgreSQL server


class Wired:
    def __init__(self, options: ApiOptions, clock: FakeClock, db: Database) -> None:
        self.db = db
        self.clock = clock
        self.source = FakeSource()
        self.actuator = FakeActuator(spec=2)
        self.insights = Insights()
        self.loop = ControlLoop(
            policies=PolicyRepository(self.db),
            source=self.source,
            actuator=self.actuator,
            log=DecisionLog(self.db),
            metrics=ControllerMetrics(),
            clock=clock,
            advisors=[OverrideAdvisor(OverrideStore(self.db), clock)],
            on_decision=self.insights.record_decision,
        )
        self.app = create_app(options, self.db, self.loop, insights=self.insights)


@pytest.fixture
def wired(options: ApiOptions, clock: FakeClock, db: Database) -> Wired:
    return Wired(options, clock, db)


@pytest.fixture
def c(wired: Wired) -> Iterator[TestClient]:
    with TestClient(wired.app) as client:
        yield client


def test_pin_reaches_the_next_tick_and_lapses_by_itself(
    wired: Wired, c: TestClient, admin: dict[str, str], operator: dict[str, str], viewer: dict[str, str]
) -> None:
    c.post("/v1/policies", json=POLICY, headers=admin)
    r = c.post(
        "/v1/overrides",
        json={"target": "ml/vllm", "kind": "pin", "replicas": 5, "ttl_s": 600, "reason": "launch day"},
        headers=operator,
    )
    assert r.status_code == 201 and r.json()["expires_at"] == wired.clock.now() + 600
    (decision,) = wired.loop.tick()
    assert decision.desired == 5 and wired.actuator.patches == [5]
    # a second override for the same target is refused while the first is in force
    again = {"target": "ml/vllm", "kind": "pause", "ttl_s": 60, "reason": "x"}
    assert c.post("/v1/overrides", json=again, headers=operator).status_code == 409
    wired.clock.advance(600)  # expires_at is exclusive: at exactly +600 s it no longer applies
    assert c.get("/v1/overrides", headers=viewer).json() == []
    lapsed = c.get("/v1/overrides", params={"all": True}, headers=viewer).json()
    assert [(o["id"], o["active"], o["ended_at"]) for o in lapsed] == [(1, False, None)]
    (decision,) = wired.loop.tick()
    assert "override" not in decision.binding
    assert c.post("/v1/overrides", json=again, headers=operator).status_code == 201


def test_delete_ends_an_override_now(
    wired: Wired, c: TestClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    body = {
        "target": "ml/vllm",
        "kind": "pause",
        "expires_at": wired.clock.now() + 3600,
        "reason": "incident",
    }
    oid = c.post("/v1/overrides", json=body, headers=operator).json()["id"]
    assert c.delete(f"/v1/overrides/{oid}", headers=operator).status_code == 204
    assert c.delete(f"/v1/overrides/{oid}", headers=operator).status_code == 404
    assert c.get("/v1/overrides", headers=viewer).json() == []
    audit = c.get("/v1/audit", params={"kind": "override"}, headers=viewer).json()
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("delete", "operator-static"),
        ("create", "operator-static"),
    ]
    assert audit[0]["before"]["active"] is True and audit[0]["after"]["active"] is False


@pytest.mark.parametrize(
    "case,body,field",
    [
        ("both expiries", {"kind": "pause", "ttl_s": 60, "expires_at": 2e9}, "expires_at"),
        ("no expiry", {"kind": "pause"}, "expires_at"),
        ("expiry in the past", {"kind": "pause", "expires_at": 1.0}, "expires_at"),
        ("pin without replicas", {"kind": "pin", "ttl_s": 60}, "replicas"),
        ("pause with replicas", {"kind": "pause", "replicas": 3, "ttl_s": 60}, "replicas"),
        ("ttl over 30 days", {"kind": "pause", "ttl_s": 31 * 86400}, "ttl_s"),
        ("bad target", {"kind": "pause", "ttl_s": 60, "target": "vllm"}, "target"),
    ],
)
def test_bad_override_is_422_naming_the_field(
    c: TestClient, operator: dict[str, str], case: str, body: dict[str, Any], field: str
) -> None:
    doc = {"target": "ml/vllm", "reason": "test", **body}
    r = c.post("/v1/overrides", json=doc, headers=operator)
    assert r.status_code == 422, case
    assert r.json()["detail"][0]["field"] == field, case


def test_dry_run_decides_without_patching_or_recording(
    wired: Wired, c: TestClient, admin: dict[str, str], operator: dict[str, str]
) -> None:
    c.post("/v1/policies", json=POLICY, headers=admin)
    # 12 queued requests at 2 per replica ask for ceil(12 / 2) = 6 replicas; 6 >= panic threshold 2 x 2
    # ready, so the decider panics and asks 6; up-steps allow +max(4 pods, 100% of 2) = +4, so 6.
    wired.source.waiting = 12.0
    r = c.post("/v1/policies/chat/dry-run", headers=operator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"]["valid"] is True and body["decision"]["current"] == 2
    assert body["decision"]["desired"] == 6 and body["decision"]["binding"] == "waiting_requests"
    assert body["would_patch"] is True
    assert wired.actuator.patches == [] and wired.loop.log.count() == 0


def test_dry_run_sees_an_active_override(
    wired: Wired, c: TestClient, admin: dict[str, str], operator: dict[str, str]
) -> None:
    c.post("/v1/policies", json=POLICY, headers=admin)
    c.post(
        "/v1/overrides",
        json={"target": "ml/vllm", "kind": "pin", "replicas": 3, "ttl_s": 60, "reason": "r"},
        headers=operator,
    )
    body = c.post("/v1/policies/chat/dry-run", headers=operator).json()
    assert body["decision"]["desired"] == 3 and body["override"]["replicas"] == 3


def test_dry_run_without_a_loop_is_503(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/v1/policies", json=POLICY, headers=admin)
    r = client.post("/v1/policies/chat/dry-run", headers=admin)
    assert r.status_code == 503 and "signal source" in r.json()["detail"]


def test_decisions_with_explanations_and_filters(
    wired: Wired, c: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    c.post("/v1/policies", json=POLICY, headers=admin)
    t0 = wired.clock.now()
    for _ in range(3):
        wired.loop.tick()
        wired.clock.advance(15)
    rows = c.get("/v1/decisions", headers=viewer).json()
    assert len(rows) == 3 and rows[0]["at"] == t0 + 30  # newest first
    assert rows[0]["target"] == "ml/vllm" and rows[0]["reasons"] and rows[0]["proposals"]
    assert len(c.get("/v1/decisions", params={"since": t0 + 15}, headers=viewer).json()) == 2
    assert len(c.get("/v1/decisions", params={"until": t0}, headers=viewer).json()) == 1
    assert len(c.get("/v1/decisions", params={"limit": 1}, headers=viewer).json()) == 1
    assert c.get("/v1/decisions", params={"target": "other/x"}, headers=viewer).json() == []
    # a misspelt filter is refused, not ignored (which would list everything)
    r = c.get("/v1/decisions", params={"targte": "ml/vllm"}, headers=viewer)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "targte"
    r = c.get("/v1/decisions", params={"since": "inf"}, headers=viewer)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "since"
    r = c.get("/v1/decisions?limit=1&limit=2", headers=viewer)
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == "given more than once"


def test_forecasts_and_anomalies_empty_until_recorded(
    wired: Wired, c: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    c.post("/v1/policies", json=POLICY, headers=admin)
    (decision,) = wired.loop.tick()
    assert c.get("/v1/forecasts/ml/vllm", headers=viewer).json() == []
    assert c.get("/v1/anomalies", headers=viewer).json() == []
    # what a forecasting and an anomaly advisor would add to a decision
    wired.insights.record_decision(
        replace(
            decision, forecast={"q90_rps": [4.0, float("nan")]}, anomalies=("ttft_p95 spike (score 0.97)",)
        )
    )
    f = c.get("/v1/forecasts/ml/vllm", headers=viewer).json()
    assert f == [
        {"target": "ml/vllm", "policy": "chat", "at": decision.at, "forecast": {"q90_rps": [4.0, None]}}
    ]
    a = c.get("/v1/anomalies", params={"target": "ml/vllm"}, headers=viewer).json()
    assert [x["description"] for x in a] == ["ttft_p95 spike (score 0.97)"]


def test_readyz_reports_prometheus_down(wired: Wired, c: TestClient) -> None:
    assert c.get("/readyz").status_code == 200
    wired.source.healthy = False
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["prometheus"]["ok"] is False
    assert c.get("/healthz").status_code == 200
    assert "controlplane_ticks_total" in c.get("/metrics").text
