"""Fault matrix (f), (g), (j): the Kubernetes API answers 409, 5xx or nothing, and
an HPA appears on a managed Deployment.

Each case warms the controller (real Prometheus, emulator) at 2 replicas, then
raises min_replicas to 3, so the next tick's decision is a valid 2 -> 3 that must
reach the stand-in exactly once whatever the API does to the first attempts.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.rig import controller, metric, policy, set_policy, warm

# Bounded: a case that hangs fails at 90 s instead of holding the suite (all run in CI, none opt-in).
pytestmark = pytest.mark.timeout(90)

SCALE = "/deployments/chat/scale"
LV = {"policy": "chat", "target": "default/chat"}


def _scale_calls(kube) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in kube.requests(path_contains=SCALE)]


def _scale_up_once(ctl, kube) -> Any:
    kube.clear_log()
    set_policy(ctl, policy("chat", min_replicas=3))
    return ctl.loop.tick()[0]


def test_f_conflict_is_retried_after_a_fresh_read(world, kube, tmp_path) -> None:
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl)
        # Another writer changes the Deployment between our read and our write: our rv is stale.
        kube.before_next(lambda: kube.touch("chat"), method="PATCH", path=SCALE)
        d = _scale_up_once(ctl, kube)
        assert (d.valid, d.desired) == (True, 3)
        assert _scale_calls(kube) == [("GET", 200), ("PATCH", 409), ("GET", 200), ("PATCH", 200)]
        first, second = kube.requests("PATCH", SCALE)
        assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
        assert kube.replicas("chat") == 3
        assert metric(ctl, "controlplane_scale_events_total", **LV, direction="up") == 1
        assert metric(ctl, "controlplane_step_errors_total", step="actuate") is None
    finally:
        ctl.stop()


# (label, fault arguments, expected scale calls). The actuator re-reads the scale
# after every failed or unanswered write before it sends anything else.
TRANSIENT = [
    (
        "503 twice on the patch",
        {"count": 2, "code": 503, "method": "PATCH"},
        [("GET", 200), ("PATCH", 503), ("GET", 200), ("PATCH", 503), ("GET", 200), ("PATCH", 200)],
    ),
    (
        "500 on the read",
        {"count": 1, "code": 500, "method": "GET"},
        [("GET", 500), ("GET", 200), ("PATCH", 200)],
    ),
    (
        # held 1.5 s, dropped unapplied; the client gives up at its 1 s timeout
        "patch times out unapplied",
        {"count": 1, "kind": "timeout", "delay_s": 1.5, "method": "PATCH"},
        [("GET", 200), ("PATCH", 0), ("GET", 200), ("PATCH", 200)],
    ),
    (
        # applied, answer held past the timeout (logged as unanswered, 0): the re-read sees 3, no second patch
        "patch applied, answer lost",
        {"count": 1, "kind": "slow", "delay_s": 1.5, "method": "PATCH"},
        [("GET", 200), ("PATCH", 0), ("GET", 200)],
    ),
]


@pytest.mark.parametrize(("label", "fault", "calls"), TRANSIENT, ids=[t[0] for t in TRANSIENT])
def test_g_transient_failures_back_off_without_duplicate_patches(
    world, kube, tmp_path, label, fault, calls
) -> None:

    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl, ticks=2)
        kube.fail_next(path=SCALE, **fault)
        d = _scale_up_once(ctl, kube)
        assert (d.valid, d.desired) == (True, 3), (d.binding, d.reasons)
        assert _scale_calls(kube) == calls
        assert kube.replicas("chat") == 3
        # Later ticks with the same ask send nothing: the count is already there.
        patches = len(kube.requests("PATCH", SCALE))
        for _ in range(2):
            ctl.loop.tick()
        assert len(kube.requests("PATCH", SCALE)) == patches
        assert metric(ctl, "controlplane_scale_events_total", **LV, direction="up") == 1
    finally:
        ctl.stop()


def test_g_persistent_5xx_gives_up_and_records_the_error(world, kube, tmp_path) -> None:
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl, ticks=2)
        kube.fail_next(20, code=503, method="PATCH", path=SCALE)
        _scale_up_once(ctl, kube)
        # max_attempts 5: four back-offs (0.1, 0.2, 0.4, 0.4 s capped), then the tick gives up.
        assert [s for m, s in _scale_calls(kube) if m == "PATCH"] == [503] * 5
        assert kube.replicas("chat") == 2
        record = ctl.loop.log.list(target="default/chat", limit=1)[0]
        assert not record.patched and "503" in (record.actuation or {}).get("error", "")
        assert metric(ctl, "controlplane_scale_events_total", **LV, direction="up") is None
        # the give-up is a failed step: what the ControlplaneStepErrors alert counts
        assert metric(ctl, "controlplane_step_errors_total", step="actuate") == 1
    finally:
        ctl.stop()


def test_j_hpa_appears_hand_off_with_event_and_metric(world, kube, tmp_path) -> None:
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl, ticks=2)
        d = _scale_up_once(ctl, kube)
        assert d.valid and kube.replicas("chat") == 3
        kube.add_hpa("chat-hpa", target="chat")
        kube.clear_log()
        set_policy(ctl, policy("chat", min_replicas=4))
        decisions = [ctl.loop.tick()[0] for _ in range(3)]
        for d in decisions:
            assert not d.valid and d.binding == "invalid:owner_conflict", (d.binding, d.reasons)
        assert kube.requests("PATCH") == [], "handed off: no more patches"
        assert kube.replicas("chat") == 3
        assert metric(ctl, "controlplane_owner_conflict", **LV) == 1
        events = [e for e in kube.events() if e.get("reason") == "ScalingOwnerConflict"]
        assert len(events) == 1, "one Event, not one per tick"
        assert events[0]["type"] == "Warning" and "chat-hpa" in events[0]["message"]
        assert events[0]["involvedObject"]["name"] == "chat"
    finally:
        ctl.stop()
