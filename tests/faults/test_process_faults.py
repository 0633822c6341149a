"""Fault matrix (h) and (i): controller processes (``python3 -m controlplane run``)
killed by PID, against the Kubernetes stand-in and the real Prometheus.

(h) Two processes elect on one Lease (2 s lease, 1.5 s renew deadline, 0.3 s
retry); the leader is SIGKILLed; the standby must take the Lease within lease
duration + retry period of the dead leader's last renewal and must not repeat the
patch the dead leader made.
(i) One process is SIGKILLed in the middle of a tick (its Prometheus queries held
by a delaying proxy) and started again on the same SQLite file: the log is intact
and the restarted controller does not scale down before it has a window of its own.
"""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3

import pytest

from tests.faults.procs import ControllerProcess, decisions, start_controller
from tests.faults.rig import DelayProxy, policy, wait_for

# Bounded: a case that hangs fails at 90 s instead of holding the suite (all run in CI, none opt-in).
pytestmark = pytest.mark.timeout(90)

SCALE = "/deployments/chat/scale"
LEASE = "llm-controlplane-leader"
LEASE_S, RETRY_S = 2.0, 0.3


def _t(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_h_leader_killed_standby_takes_over_without_double_patch(world, kube, tmp_path) -> None:
    doc = policy("chat", min_replicas=3).to_dict()
    procs = {
        name: start_controller(
            name,
            tmp_path,
            kube_url=kube.url,
            prometheus_url=world.prometheus.url,
            policies=[doc],
            leader=True,
        )
        for name in ("ctl-a", "ctl-b")
    }
    try:

        def holder() -> str:
            lease = kube.lease(LEASE)
            return str(lease["spec"].get("holderIdentity", "")) if lease else ""

        wait_for("a leader", lambda: holder() in procs, timeout_s=30)
        wait_for("the leader's patch 2 -> 3", lambda: kube.replicas("chat") == 3, timeout_s=20)
        leader = procs[holder()]
        standby = next(p for p in procs.values() if p is not leader)
        assert len(kube.requests("PATCH", SCALE)) == 1
        wait_for("both /metrics", lambda: standby.metric("controlplane_leader{") is not None, timeout_s=10)
        assert leader.metric("controlplane_leader{") == 1
        assert standby.metric("controlplane_leader{") == 0
        assert leader.healthz() == standby.healthz() == 200, "a standby ticks too, so it is healthy"

        leader.proc.send_signal(signal.SIGKILL)  # by PID: no chance to release the Lease
        leader.proc.wait(10)
        last_renew = _t(kube.lease(LEASE)["spec"]["renewTime"])
        wait_for("the standby to take the Lease", lambda: holder() == standby.name, timeout_s=15)
        spec = kube.lease(LEASE)["spec"]
        gap = _t(spec["acquireTime"]) - last_renew
        print(
            f"take-over {gap:.2f} s after the dead leader's last renewal (bound {LEASE_S + RETRY_S:g} s + 1 s)"
        )
        # 1 s of slack: the standby sees a renewal up to one retry period late, and two Python
        # processes share a busy 2-core machine with the test.
        assert gap <= LEASE_S + RETRY_S + 1.0
        assert spec["leaseTransitions"] == 1

        # The new leader adopts 3 (what the old leader set): its ticks send no second patch.
        ticks_before = len(decisions(standby.db))
        wait_for(
            "three ticks by the new leader",
            lambda: len(decisions(standby.db)) >= ticks_before + 3,
            timeout_s=20,
        )
        assert len(kube.requests("PATCH", SCALE)) == 1
        assert kube.replicas("chat") == 3
        assert standby.metric("controlplane_leader{") == 1
        patched = {p.name: sum(r["patched"] for r in decisions(p.db)) for p in procs.values()}
        assert patched == {leader.name: 1, standby.name: 0}

        standby.proc.terminate()  # SIGTERM by PID: a clean stop releases the Lease
        assert standby.proc.wait(15) == 0
        assert holder() == ""
    finally:
        for p in procs.values():
            p.stop()
            print(p.name, p.log_tail())  # shown by pytest only when the case fails


def test_i_killed_mid_tick_restarts_cautiously_with_an_intact_log(world, kube, tmp_path) -> None:
    doc = policy("chat", min_replicas=1).to_dict()
    with DelayProxy(world.prometheus.url, delay_s=0.08) as proxy:

        def start() -> ControllerProcess:
            return start_controller(
                "ctl", tmp_path, kube_url=kube.url, prometheus_url=proxy.url, policies=[doc], leader=False
            )

        first = start()
        try:
            wait_for("a first recorded decision", lambda: len(decisions(first.db)) >= 1, timeout_s=30)
            seen = proxy.requests
            wait_for("the next tick's queries", lambda: proxy.requests > seen + 2, timeout_s=10)
            first.proc.send_signal(signal.SIGKILL)  # mid-collect of the second tick
            first.proc.wait(10)
        finally:
            first.stop()
        before = decisions(first.db)
        con = sqlite3.connect(first.db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
        assert before and kube.replicas("chat") == 2
        assert kube.requests("PATCH") == []

        second = start()
        try:
            # the decision is recorded after its patch: wait for the record, not for the replica count
            wait_for(
                "the restarted controller's recorded scale-down",
                lambda: any(r["patched"] for r in decisions(second.db)[len(before) :]),
                timeout_s=40,
            )
            after = decisions(second.db)
        finally:
            second.stop()
    assert after[: len(before)] == before, "rows written before the kill are unchanged"
    restarted = after[len(before) :]
    first_down = next(i for i, r in enumerate(restarted) if r["patched"])
    # Idle emulator: the signals ask for 1 from the first tick; the restarted decider holds 2
    # until a stable window (4 s) of its own data has passed, then steps 2 -> 1 once.
    assert first_down >= 1, restarted
    assert all(r["desired"] >= r["current"] for r in restarted[:first_down]), restarted
    assert any(r["binding"] == "cautious_start" for r in restarted[:first_down]), restarted
    assert kube.replicas("chat") == 1
    assert [(p.body["spec"]["replicas"]) for p in kube.requests("PATCH", SCALE)] == [1]
