"""Lease leader election: two electors, one stand-in API server, one fake clock.

Defaults as in client-go: lease 15 s, renew deadline 10 s, retry period 2 s.
Each test moves the fake clock by hand; nothing here waits on real time except
the background-runner test, which polls with a bound.
"""

from __future__ import annotations

import time

import pytest

from controlplane.actuate.kubeclient import make_api_client
from controlplane.actuate.leader import LeaderElectionConfig, LeaderElector

LEASE = "llm-controlplane-leader"


@pytest.fixture
def electors(kube, clock):
    made = []

    def make(identity: str, **kw) -> LeaderElector:
        api = make_api_client(kube.url, user_agent=f"llm-controlplane/{identity}")
        calls: list[str] = []
        el = LeaderElector(
            api,
            LeaderElectionConfig(identity=identity, **kw),
            clock=clock,
            on_started_leading=lambda: calls.append("started"),
            on_stopped_leading=lambda: calls.append("stopped"),
        )
        el.calls = calls  # type: ignore[attr-defined]
        made.append(api)
        return el

    yield make
    for api in made:
        api.close()


def test_first_candidate_creates_the_lease_and_leads(kube, electors, clock):
    a, b = electors("a"), electors("b")
    assert a.step() is True
    assert b.step() is False
    spec = kube.lease(LEASE)["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"], spec["leaseTransitions"]) == ("a", 15, 0)
    assert a.calls == ["started"] and b.calls == []
    assert b.holder == "a"


def test_leader_renews_every_retry_period_and_keeps_the_lease(kube, electors, clock):
    a, b = electors("a"), electors("b")
    a.step()
    b.step()
    # 30 s of renewals every 2 s: b never sees an expired record
    for _ in range(15):
        clock.advance(2.0)
        assert a.step() and not b.step()
    spec = kube.lease(LEASE)["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert spec["renewTime"].startswith("2023-11-14T22:13:50")  # T0 + 30 s


def test_follower_takes_over_within_lease_plus_retry_after_leader_stops(kube, electors, clock):
    a, b = electors("a"), electors("b")
    a.step()
    b.step()  # b first sees a's record at t = 0
    taken_at = None
    for _ in range(20):
        clock.advance(2.0)  # a is gone: only b keeps trying
        assert not (a.is_leader and b.is_leader), "never two leaders"
        if b.step():
            taken_at = clock.monotonic()
            break
    # the record last changed at t = 0; expired from t = 15; b's first try after that is t = 16 <= 15 + 2
    assert taken_at is not None and taken_at - 1_700_000_000.0 == 16.0
    spec = kube.lease(LEASE)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert spec["acquireTime"].startswith("2023-11-14T22:13:36")  # T0 + 16 s
    # a stopped acting at its renew deadline (t = 10), before b could take over
    assert not a.is_leader


@pytest.mark.parametrize(
    "label, fault",
    [
        ("server errors", dict(code=503)),
        ("forbidden", dict(code=403)),
        ("timeouts", dict(kind="timeout", delay_s=0.3)),
    ],
)
def test_leader_steps_down_when_it_cannot_renew_before_the_deadline(kube, electors, clock, label, fault):
    a = electors("a", request_timeout_s=0.1)
    assert a.step()
    kube.fail_next(100, method="PUT", path="/leases/", **fault)
    # renewals at t = 2, 4, 6, 8 fail but the last success (t = 0) is younger than 10 s
    for _ in range(4):
        clock.advance(2.0)
        assert a.step(), label
    clock.advance(2.0)  # t = 10: deadline reached
    assert not a.step()
    assert a.calls == ["started", "stopped"]


def test_is_leader_expires_even_when_no_step_runs(electors, clock):
    a = electors("a")
    assert a.step()
    clock.advance(9.9)
    assert a.is_leader
    clock.advance(0.1)  # 10 s since the last renewal: a renew call that hangs cannot keep us acting
    assert not a.is_leader


def test_create_race_lost_with_already_exists(kube, electors):
    a, b = electors("a"), electors("b")
    # b creates the lease just before a's create reaches the server
    kube.before_next(b.step, method="POST", path="/leases")
    assert a.step() is False
    assert b.is_leader and kube.lease(LEASE)["spec"]["holderIdentity"] == "b"
    assert [r.status for r in kube.requests("POST", "/leases")] == [201, 409]


def test_takeover_race_lost_with_conflict(kube, electors, clock):
    a, b, c = electors("a"), electors("b"), electors("c")
    a.step()
    b.step()
    c.step()
    clock.advance(16.0)  # a's lease expired for both b and c
    kube.before_next(c.step, method="PUT", path="/leases")
    # b read the lease, c replaced it in between: b's write carries a stale resourceVersion
    assert b.step() is False
    assert c.is_leader and not b.is_leader
    assert [r.status for r in kube.requests("PUT", "/leases")] == [200, 409]
    assert kube.lease(LEASE)["spec"]["leaseTransitions"] == 1


def test_leader_that_sees_another_holder_steps_down_at_once(kube, electors, clock):
    a = electors("a")
    a.step()
    lease = kube.lease(LEASE)
    lease["spec"]["holderIdentity"] = "intruder"
    kube.store.replace(kube.resource("coordination.k8s.io", "v1", "leases"), "default", LEASE, lease)
    clock.advance(2.0)
    assert a.step() is False and a.calls == ["started", "stopped"]


def test_stop_releases_the_lease_for_an_immediate_successor(kube, electors, clock):
    a, b = electors("a"), electors("b")
    a.step()
    b.step()
    a.stop()
    assert kube.lease(LEASE)["spec"]["holderIdentity"] == ""
    clock.advance(2.0)  # b's next retry, 13 s before a's lease would have expired
    assert b.step()
    assert kube.lease(LEASE)["spec"]["leaseTransitions"] == 1
    assert a.calls == ["started", "stopped"]


@pytest.mark.parametrize(
    "label, kw, field",
    [
        ("lease not longer than deadline", dict(lease_duration_s=10.0), "lease_duration_s"),
        (
            "deadline not longer than retry",
            dict(renew_deadline_s=2.0, retry_period_s=2.0),
            "renew_deadline_s",
        ),
        ("zero retry", dict(retry_period_s=0.0), "retry_period_s"),
        ("no identity", dict(identity=""), "identity"),
    ],
)
def test_config_errors_name_the_field(label, kw, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        LeaderElectionConfig(**kw)


def test_background_runner_leads_and_releases_on_stop(kube):
    api = make_api_client(kube.url)
    cfg = LeaderElectionConfig(
        identity="runner", lease_duration_s=3.0, renew_deadline_s=2.0, retry_period_s=0.2
    )
    el = LeaderElector(api, cfg)
    el.start()
    try:
        deadline = time.monotonic() + 10.0
        while not el.is_leader and time.monotonic() < deadline:
            time.sleep(0.05)
        assert el.is_leader
    finally:
        el.stop()
        api.close()
    assert not el.is_leader
    assert kube.lease(LEASE)["spec"]["holderIdentity"] == ""
