"""The Kubernetes actuator with the official client against the API server stand-in.

Every assertion about what was sent reads the stand-in's request log, so "one
patch" means one PATCH reached the (stand-in) API server.
"""

from __future__ import annotations

import random

import pytest
from kubernetes import client

from controlplane.actuate.kubernetes import ActuationError, ActuatorSettings, KubernetesActuator
from tests.actuate.cases import T0, decision, policy
from tests.harness.kube_standin import KubeStandIn

SCALE = "/apis/apps/v1/namespaces/default/deployments/chat/scale"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def actuator(api: client.ApiClient, sleeps: Sleeps | None = None, **settings: float) -> KubernetesActuator:
    cfg = ActuatorSettings(**settings)  # type: ignore[arg-type]
    return KubernetesActuator(
        api, cfg, sleep=sleeps if sleeps is not None else Sleeps(), rng=random.Random(7)
    )


def patches(kube: KubeStandIn) -> list[int]:
    return [r.body["spec"]["replicas"] for r in kube.requests("PATCH", SCALE)]


@pytest.mark.parametrize(
    "label, spec, delay_s, pinned, advance_s, want",
    [
        # 3 replicas created at T0, ready 60 s later: at T0 none ready, all 3 pending
        ("all starting", 3, 60.0, None, 0.0, (3, 0, 3)),
        # 59 s in: still none; 60 s in: all ready
        ("one second short", 3, 60.0, None, 59.0, (3, 0, 3)),
        ("delay elapsed", 3, 60.0, None, 60.0, (3, 3, 0)),
        # a test pins readyReplicas at 1 of 4: 4 - 1 = 3 pending
        ("pinned", 4, 0.0, 1, 0.0, (4, 1, 3)),
    ],
)
def test_status_reports_spec_ready_pending(kube, api, clock, label, spec, delay_s, pinned, advance_s, want):
    kube.add_deployment("chat", spec, readiness_delay_s=delay_s)
    kube.set_ready("chat", pinned)
    clock.advance(advance_s)
    st = actuator(api).status(policy(), clock.now())
    assert (st.spec, st.ready, st.pending) == want, label
    assert st.owner_conflict is None


def test_pending_after_scale_up_counts_only_new_replicas(kube, api, clock):
    kube.add_deployment("chat", 2, readiness_delay_s=120.0)
    clock.advance(120.0)
    act = actuator(api)
    assert act.scale(policy(), decision(2, 5), clock.now()).patched
    # 2 old replicas ready, 3 new ones wait 120 s: pending 5 - 2 = 3
    st = act.status(policy(), clock.now())
    assert (st.spec, st.ready, st.pending) == (5, 2, 3)
    clock.advance(120.0)
    assert act.status(policy(), clock.now()).pending == 0


@pytest.mark.parametrize(
    "label, spec, desired, want_patches",
    [
        ("scale up 2 -> 4", 2, 4, [4]),
        ("scale down 4 -> 3", 4, 3, [3]),
        ("equal: no patch", 3, 3, []),
    ],
)
def test_patches_only_on_change(kube, api, label, spec, desired, want_patches):
    kube.add_deployment("chat", spec)
    res = actuator(api).scale(policy(), decision(spec, desired), T0)
    assert patches(kube) == want_patches, label
    assert res.patched == bool(want_patches)
    assert kube.replicas("chat") == desired
    for rec in kube.requests("PATCH"):
        assert rec.field_manager == "llm-controlplane"
        assert rec.content_type == "application/merge-patch+json"
        assert rec.body["metadata"]["resourceVersion"], "every patch is conditional on what was read"
    if want_patches:
        assert kube.replicas_manager("chat") == "llm-controlplane"


def test_stale_resource_version_conflict_rereads_then_succeeds(kube, api):
    kube.add_deployment("chat", 2)
    # someone annotates the Deployment between our read and our patch: its rv moves, replicas do not
    kube.before_next(lambda: kube.touch("chat"), method="PATCH", path="/scale")
    res = actuator(api).scale(policy(), decision(2, 4), T0)
    assert res.patched and res.attempts == 2
    log = [(r.method, r.status) for r in kube.requests(path_contains=SCALE)]
    assert log == [("GET", 200), ("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    assert kube.replicas("chat") == 4


def test_conflicts_are_bounded(kube, api):
    kube.add_deployment("chat", 2)
    kube.fail_next(10, code=409, method="PATCH", path=SCALE)
    sleeps = Sleeps()
    res = actuator(api, sleeps, max_conflicts=3).scale(policy(), decision(2, 4), T0)
    # the first patch and 3 retries conflict, then it gives up with the server's reason
    assert not res.patched and res.attempts == 4
    assert res.error is not None and res.error.startswith("Conflict (409)")
    assert sleeps == []


@pytest.mark.parametrize(
    "label, code, failures",
    [("503 twice", 503, 2), ("500 once", 500, 1), ("429 three times", 429, 3)],
)
def test_server_errors_back_off_then_succeed(kube, api, label, code, failures):
    kube.add_deployment("chat", 2)
    kube.fail_next(failures, code=code, method="PATCH", path=SCALE)
    sleeps = Sleeps()
    res = actuator(api, sleeps).scale(policy(), decision(2, 4), T0)
    assert res.patched and res.attempts == failures + 1, label
    # base 0.5 s doubling, each drawn from [delay/2, delay] (jitter 0.5): [0.25, 0.5], [0.5, 1], [1, 2]
    assert len(sleeps) == failures
    for k, s in enumerate(sleeps):
        assert 0.5 * 2**k / 2 <= s <= 0.5 * 2**k
    assert kube.replicas("chat") == 4
    # after each failed patch the scale is read again before the next one
    methods = [r.method for r in kube.requests(path_contains=SCALE)]
    assert methods == ["GET", "PATCH"] * (failures + 1)


def test_server_errors_give_up_after_max_attempts(kube, api):
    kube.add_deployment("chat", 2)
    kube.fail_next(5, code=503, method="PATCH", path=SCALE)
    sleeps = Sleeps()
    res = actuator(api, sleeps, max_attempts=5).scale(policy(), decision(2, 4), T0)
    # 5 patches, 4 back-offs between them (0.5, 1, 2, 4 s before jitter)
    assert not res.patched and res.attempts == 5 and len(sleeps) == 4
    assert res.error is not None and "ServiceUnavailable (503)" in res.error
    assert kube.replicas("chat") == 2


def test_lost_request_is_sent_again_after_a_fresh_read(kube, api):
    kube.add_deployment("chat", 2)
    # the first patch is held 1.5 s and dropped without being applied; the client gives up at 0.3 s
    kube.fail_next(1, kind="timeout", delay_s=1.5, method="PATCH", path=SCALE)
    res = actuator(api, request_timeout_s=0.3).scale(policy(), decision(2, 4), T0)
    assert res.patched and res.attempts == 2
    assert patches(kube) == [4, 4]
    assert kube.replicas("chat") == 4


def test_committed_write_with_lost_answer_is_not_repeated(kube, api):
    kube.add_deployment("chat", 2)
    # the patch is applied, but its answer comes 1.5 s late, after the client gave up at 0.3 s
    kube.fail_next(1, kind="slow", delay_s=1.5, method="PATCH", path=SCALE)
    res = actuator(api, request_timeout_s=0.3).scale(policy(), decision(2, 4), T0)
    assert res.patched and "confirmed by re-read" in res.detail
    assert patches(kube) == [4], "the re-read showed 4: no second patch"


def test_same_decision_is_never_patched_twice(kube, api):
    kube.add_deployment("chat", 2)
    act = actuator(api)
    d = decision(2, 4)
    assert act.scale(policy(), d, T0).patched
    again = act.scale(policy(), d, T0 + 10)
    assert not again.patched and again.attempts == 0
    assert patches(kube) == [4]
    # a later decision for the same count reads, sees 4 and sends nothing
    assert not act.scale(policy(), decision(4, 4, at=T0 + 15), T0 + 15).patched
    assert patches(kube) == [4]


@pytest.mark.parametrize(
    "label, setup, reason, want_patches",
    [
        ("RBAC forbids the patch", lambda k: k.deny("patch", "deployments/scale"), "Forbidden (403)", 1),
        (
            "deployment missing",
            lambda k: k.store.delete(k.resource("apps", "v1", "deployments"), "default", "chat"),
            "NotFound (404)",
            0,
        ),
        (
            "admission rejects the count",
            lambda k: k.fail_next(
                1,
                code=422,
                method="PATCH",
                message='Scale.autoscaling "chat" is invalid: spec.replicas: Invalid value: 4: exceeds quota',
            ),
            "Invalid (422)",
            1,
        ),
    ],
)
def test_client_errors_are_reported_without_retry(kube, api, label, setup, reason, want_patches):
    kube.add_deployment("chat", 2)
    setup(kube)
    sleeps = Sleeps()
    res = actuator(api, sleeps).scale(policy(), decision(2, 4), T0)
    assert not res.patched, label
    assert res.error is not None and res.error.startswith(reason), res.error
    assert sleeps == [] and len(kube.requests("PATCH")) == want_patches


def test_stand_in_rejects_negative_replicas_with_invalid_status(kube, api):
    kube.add_deployment("chat", 2)
    apps = client.AppsV1Api(api)
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment_scale(
            "chat", "default", {"spec": {"replicas": -1}}, _content_type="application/merge-patch+json"
        )
    assert err.value.status == 422
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in err.value.body


@pytest.mark.parametrize(
    "label, dec, pol",
    [
        ("decision in shadow", decision(2, 4, shadow=True), policy()),
        ("policy in shadow", decision(2, 4), policy(mode="shadow")),
        ("invalid decision", decision(2, 1, valid=False), policy()),
        ("above the GPU budget", decision(2, 9), policy(max_replicas=8)),
        ("decision for another target", decision(2, 4, deployment="other"), policy()),
    ],
)
def test_nothing_is_sent_when_the_decision_must_not_act(kube, api, label, dec, pol):
    kube.add_deployment("chat", 2)
    res = actuator(api).scale(pol, dec, T0)
    assert not res.patched and res.attempts == 0, label
    assert kube.requests() == [], "not even a read"
    assert kube.replicas("chat") == 2


def test_hpa_on_the_same_deployment_is_an_owner_conflict(kube, api):
    kube.add_deployment("chat", 2)
    kube.add_hpa("chat-hpa", target="chat")
    act = actuator(api)
    st = act.status(policy(), T0)
    assert st.owner_conflict is not None and "HorizontalPodAutoscaler chat-hpa" in st.owner_conflict
    res = act.scale(policy(), decision(2, 4), T0)
    assert not res.patched and res.error is not None and res.error.startswith("OwnerConflict")
    assert kube.requests("PATCH") == []
    events = kube.events()
    assert len(events) == 1, "one Event per conflict, not per tick"
    ev = events[0]
    assert (ev["reason"], ev["type"], ev["involvedObject"]["kind"], ev["involvedObject"]["name"]) == (
        "ScalingOwnerConflict",
        "Warning",
        "Deployment",
        "chat",
    )
    assert ev["involvedObject"]["uid"] == kube.deployment("chat")["metadata"]["uid"]
    # released while the HPA still exists: the next look latches it again
    assert act.release("default/chat")
    assert act.status(policy(), T0 + 10).owner_conflict is not None
    # HPA removed, then released: scaling resumes
    kube.delete_hpa("chat-hpa")
    assert act.release("default/chat")
    assert act.scale(policy(), decision(2, 4, at=T0 + 20), T0 + 20).patched


def test_hpa_on_another_deployment_is_not_a_conflict(kube, api):
    kube.add_deployment("chat", 2)
    kube.add_hpa("batch-hpa", target="batch")
    assert actuator(api).status(policy(), T0).owner_conflict is None


def test_outside_change_hands_the_target_off_until_released(kube, api):
    kube.add_deployment("chat", 2)
    act = actuator(api)
    assert act.scale(policy(), decision(2, 4), T0).patched
    kube.set_replicas("chat", 6, manager="kubectl")
    st = act.status(policy(), T0 + 10)
    assert (
        st.owner_conflict == "replicas changed outside the control plane by kubectl: spec 6, last set by us 4"
    )
    res = act.scale(policy(), decision(6, 5, at=T0 + 10), T0 + 10)
    assert not res.patched and patches(kube) == [4]
    assert act.conflicts() == {"default/chat": st.owner_conflict}
    assert [e["reason"] for e in kube.events()] == ["ScalingOwnerConflict"]
    assert act.release("default/chat")
    # after release the current 6 is adopted and the next decision acts
    assert act.status(policy(), T0 + 20).owner_conflict is None
    assert act.scale(policy(), decision(6, 5, at=T0 + 20), T0 + 20).patched
    assert patches(kube) == [4, 5]


def test_outside_change_during_a_conflict_retry_is_a_hand_off(kube, api):
    kube.add_deployment("chat", 2)
    act = actuator(api)
    assert act.scale(policy(), decision(2, 3), T0).patched
    # between our read and our patch someone scales to 7: our patch conflicts, the re-read shows 7
    kube.before_next(lambda: kube.set_replicas("chat", 7), method="PATCH", path=SCALE)
    res = act.scale(policy(), decision(3, 4, at=T0 + 10), T0 + 10)
    assert not res.patched and res.error is not None and res.error.startswith("OwnerConflict")
    assert kube.replicas("chat") == 7


class Switch:
    """A leadership that the test flips by hand."""

    def __init__(self, leader: bool) -> None:
        self.is_leader = leader


def test_follower_reports_but_neither_latches_nor_patches(kube, api):
    kube.add_deployment("chat", 2)
    kube.add_hpa("chat-hpa", target="chat")
    act = KubernetesActuator(api, leadership=Switch(False), sleep=Sleeps())
    st = act.status(policy(), T0)
    assert st.owner_conflict is not None and "chat-hpa" in st.owner_conflict
    assert act.conflicts() == {} and kube.events() == [], "only the leader records a conflict"
    res = act.scale(policy(), decision(2, 4), T0)
    assert not res.patched and res.detail == "not the leader: nothing sent"
    assert kube.requests("PATCH") == [] and kube.requests(path_contains="/scale") == []


def test_new_leader_adopts_counts_set_by_the_previous_leader(kube, api):
    kube.add_deployment("chat", 2)
    role = Switch(True)
    act = KubernetesActuator(api, leadership=role, sleep=Sleeps())
    assert act.scale(policy(), decision(2, 4), T0).patched
    role.is_leader = False
    # another replica leads meanwhile and sets 6 with the same field manager
    kube.set_replicas("chat", 6, manager="llm-controlplane")
    assert act.status(policy(), T0 + 10).owner_conflict is None, (
        "a follower does not judge the leader's writes"
    )
    role.is_leader = True
    assert act.status(policy(), T0 + 20).owner_conflict is None, "6 is adopted on taking over"
    assert act.scale(policy(), decision(6, 5, at=T0 + 20), T0 + 20).patched
    assert patches(kube) == [4, 5] and kube.events() == []


def test_status_raises_a_classified_error_when_it_cannot_read(kube, api):
    kube.add_deployment("chat", 2)
    kube.deny("get", "deployments")
    with pytest.raises(ActuationError) as err:
        actuator(api).status(policy(), T0)
    assert err.value.failure.reason == "Forbidden" and err.value.failure.kind == "fatal"
    assert 'cannot get resource "deployments" in API group "apps"' in str(err.value)


def test_local_target_is_refused_with_the_field_named(api):
    from controlplane.policy.model import LocalTarget, ScalingPolicy

    local = ScalingPolicy(name="chat", target=LocalTarget(group="chat"))
    with pytest.raises(ValueError, match="policy.target"):
        actuator(api).status(local, T0)


def test_status_read_timeout_is_a_transient_actuation_error(kube, api):
    kube.add_deployment("chat", 2)
    kube.fail_next(1, kind="timeout", delay_s=1.0, method="GET", path="/deployments/chat")
    with pytest.raises(ActuationError) as err:
        actuator(api, request_timeout_s=0.3).status(policy(), T0)
    assert (err.value.failure.kind, err.value.failure.reason) == ("transient", "Timeout")


@pytest.mark.parametrize(
    "label, kw, field",
    [
        ("empty manager", dict(field_manager=""), "field_manager"),
        ("no attempts", dict(max_attempts=0), "max_attempts"),
        ("negative conflicts", dict(max_conflicts=-1), "max_conflicts"),
        ("zero timeout", dict(request_timeout_s=0.0), "request_timeout_s"),
        ("cap below base", dict(backoff_base_s=2.0, backoff_max_s=1.0), "backoff_max_s"),
        ("jitter of 1 could sleep 0", dict(jitter=1.0), "jitter"),
    ],
)
def test_settings_errors_name_the_field(label, kw, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        ActuatorSettings(**kw)
