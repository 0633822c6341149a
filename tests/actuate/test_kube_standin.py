"""The API server stand-in answers the official client the way kube-apiserver does.

These pin the behaviours the actuator and elector tests rely on: resourceVersion
preconditions, Status bodies, RBAC denials, validation, patch types, the scale
subresource, managedFields, and the generic custom-object store.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.harness.kube_standin import SCALING_POLICIES

MERGE = "application/merge-patch+json"


def status_of(exc: client.ApiException) -> dict:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == exc.status
    return body


@pytest.fixture
def apps(api):
    return client.AppsV1Api(api)


def test_every_write_bumps_the_resource_version_and_stale_puts_conflict(kube, apps):
    kube.add_deployment("chat", 2)
    first = apps.read_namespaced_deployment_scale("chat", "default")
    first.spec.replicas = 3
    second = apps.replace_namespaced_deployment_scale("chat", "default", first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    # the same body again carries the old resourceVersion
    with pytest.raises(client.ApiException) as err:
        apps.replace_namespaced_deployment_scale("chat", "default", first)
    body = status_of(err.value)
    assert (body["reason"], body["code"]) == ("Conflict", 409)
    assert body["message"].startswith('Operation cannot be fulfilled on deployments.apps "chat"')
    assert kube.replicas("chat") == 3


@pytest.mark.parametrize(
    "label, content_type, body, want",
    [
        ("merge patch", MERGE, {"spec": {"replicas": 5}}, 5),
        ("strategic merge patch", "application/strategic-merge-patch+json", {"spec": {"replicas": 6}}, 6),
        (
            "json patch",
            "application/json-patch+json",
            [{"op": "replace", "path": "/spec/replicas", "value": 7}],
            7,
        ),
    ],
)
def test_scale_patch_types(kube, apps, label, content_type, body, want):
    kube.add_deployment("chat", 2)
    out = apps.patch_namespaced_deployment_scale(
        "chat", "default", body, field_manager="tester", _content_type=content_type
    )
    assert out.spec.replicas == want and kube.replicas("chat") == want, label
    assert kube.replicas_manager("chat") == "tester"
    assert kube.requests("PATCH")[0].field_manager == "tester"


def test_manager_defaults_to_the_user_agent_product(kube, apps):
    kube.add_deployment("chat", 2)
    apps.patch_namespaced_deployment_scale("chat", "default", {"spec": {"replicas": 3}}, _content_type=MERGE)
    # the test client's User-Agent is "llm-controlplane-test/1"
    assert kube.replicas_manager("chat") == "llm-controlplane-test"


@pytest.mark.parametrize(
    "label, call, code, reason, message",
    [
        (
            "missing deployment",
            lambda a: a.read_namespaced_deployment("nope", "default"),
            404,
            "NotFound",
            'deployments.apps "nope" not found',
        ),
        (
            "negative replicas",
            lambda a: a.patch_namespaced_deployment_scale(
                "chat", "default", {"spec": {"replicas": -2}}, _content_type=MERGE
            ),
            422,
            "Invalid",
            'Scale.autoscaling "chat" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0',
        ),
        (
            "apply patch not served",
            lambda a: a.patch_namespaced_deployment_scale(
                "chat", "default", {"spec": {"replicas": 2}}, _content_type="application/apply-patch+yaml"
            ),
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format",
        ),
    ],
)
def test_errors_are_status_objects(kube, apps, label, call, code, reason, message):
    kube.add_deployment("chat", 2)
    with pytest.raises(client.ApiException) as err:
        call(apps)
    body = status_of(err.value)
    assert (body["code"], body["reason"]) == (code, reason), label
    assert message in body["message"]


def test_rbac_denial_names_verb_resource_and_namespace(kube, apps):
    kube.add_deployment("chat", 2)
    kube.deny("patch", "deployments/scale")
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment_scale(
            "chat", "default", {"spec": {"replicas": 3}}, _content_type=MERGE
        )
    body = status_of(err.value)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'deployments.apps "chat" is forbidden: User "system:serviceaccount:default:llm-controlplane" '
        'cannot patch resource "deployments/scale" in API group "apps" in the namespace "default"'
    )
    # reads stay allowed, and allow() lifts the denial
    assert apps.read_namespaced_deployment_scale("chat", "default").spec.replicas == 2
    kube.allow("patch", "deployments/scale")
    apps.patch_namespaced_deployment_scale("chat", "default", {"spec": {"replicas": 3}}, _content_type=MERGE)


def test_injected_failures_are_consumed_in_order(kube, apps):
    kube.add_deployment("chat", 2)
    kube.fail_next(2, code=503, method="GET", path="/scale")
    codes = []
    for _ in range(3):
        try:
            apps.read_namespaced_deployment_scale("chat", "default")
            codes.append(200)
        except client.ApiException as exc:
            codes.append(exc.status)
    assert codes == [503, 503, 200]
    assert [r.status for r in kube.requests("GET")] == codes


def test_deployment_status_follows_the_readiness_model(kube, apps, clock):
    kube.add_deployment("chat", 3, readiness_delay_s=30.0)
    # created at T0: 0 of 3 ready; after 30 s, 3 of 3
    assert apps.read_namespaced_deployment("chat", "default").status.ready_replicas == 0
    clock.advance(30.0)
    dep = apps.read_namespaced_deployment("chat", "default")
    assert (dep.status.replicas, dep.status.updated_replicas, dep.status.ready_replicas) == (3, 3, 3)


def test_hpas_are_listed_with_their_target(kube, api):
    kube.add_hpa("chat-hpa", target="chat", min_replicas=2, max_replicas=6)
    hpas = client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler("default").items
    assert [(h.metadata.name, h.spec.scale_target_ref.name, h.spec.max_replicas) for h in hpas] == [
        ("chat-hpa", "chat", 6)
    ]


def test_custom_objects_store_scaling_policies(kube, api):
    crd = client.CustomObjectsApi(api)
    g, v, plural = SCALING_POLICIES.group, SCALING_POLICIES.version, SCALING_POLICIES.plural
    body = {
        "apiVersion": "controlplane.io/v1",
        "kind": "ScalingPolicy",
        "metadata": {"name": "chat", "labels": {"tier": "chat"}},
        "spec": {"target": {"deployment": "chat"}, "max_replicas": 6},
    }
    made = crd.create_namespaced_custom_object(g, v, "prod", plural, body)
    assert made["metadata"]["namespace"] == "prod" and made["metadata"]["resourceVersion"]
    made["spec"]["max_replicas"] = 8
    crd.replace_namespaced_custom_object(g, v, "prod", plural, "chat", made)
    with pytest.raises(client.ApiException) as err:
        crd.replace_namespaced_custom_object(g, v, "prod", plural, "chat", made)  # stale rv
    assert err.value.status == 409
    listed = crd.list_namespaced_custom_object(g, v, "prod", plural, label_selector="tier=chat")
    assert [o["spec"]["max_replicas"] for o in listed["items"]] == [8]
    assert crd.list_cluster_custom_object(g, v, plural)["items"][0]["metadata"]["name"] == "chat"
    crd.delete_namespaced_custom_object(g, v, "prod", plural, "chat")
    assert crd.list_namespaced_custom_object(g, v, "prod", plural)["items"] == []


def test_unknown_resource_is_not_found(kube, api):
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(api).list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert status_of(err.value)["message"] == "the server could not find the requested resource"
