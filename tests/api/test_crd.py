"""ScalingPolicy custom resources: the CRD manifest (kubernetes-validate, committed = generated,
sample resources against its schema) and the syncer against the Kubernetes API stand-in."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from controlplane.actuate.kubeclient import make_api_client
from controlplane.clock import FakeClock
from controlplane.crd import GROUP, VERSION, crd_manifest, render_crd
from controlplane.sources.crd import CrdSyncer
from controlplane.store import Database
from controlplane.store.policies import PolicyRepository
from tests.api.conftest import POLICY, TestClient
from tests.harness.kube_standin import SCALING_POLICIES, KubeStandIn

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "serving" / "crd" / "scalingpolicy.yaml"

SPEC: dict[str, Any] = {
    "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
    "max_replicas": 6,
}


def cr(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ScalingPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_committed_crd_is_generated_and_valid() -> None:
    assert CRD_FILE.read_text() == render_crd(), (
        "stale: python3 -m controlplane api crd -o serving/crd/scalingpolicy.yaml"
    )
    doc = yaml.safe_load(CRD_FILE.read_text())
    assert kubernetes_validate.validate(doc, "1.30.0", strict=True) == "1.30"
    assert (doc["spec"]["group"], doc["spec"]["versions"][0]["name"], doc["spec"]["names"]["plural"]) == (
        SCALING_POLICIES.group,
        SCALING_POLICIES.version,
        SCALING_POLICIES.plural,
    )


def _draft4(schema: Any) -> Any:
    """``nullable: true`` is OpenAPI's spelling of a null-admitting type in JSON Schema draft 4."""
    if isinstance(schema, dict):
        out = {k: _draft4(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable"):
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_draft4(v) for v in schema]
    return schema


@pytest.mark.parametrize(
    "case,spec,valid",
    [
        ("example", SPEC, True),
        (
            "local target and schedule",
            {
                "target": {"kind": "local", "group": "g"},
                "schedule": [
                    {
                        "name": "day",
                        "start": "08:00",
                        "end": "20:00",
                        "timezone": "Europe/Berlin",
                        "min_replicas": 2,
                    }
                ],
            },
            True,
        ),
        ("a disabled signal", {**SPEC, "signals": {"kv_cache_usage": None}}, True),
        ("negative max", {**SPEC, "max_replicas": -1}, False),
        ("unknown target kind", {"target": {"kind": "ecs", "deployment": "x"}}, False),
        ("objective of 1", {**SPEC, "slo": {"objective": 1.0}}, False),
        ("bad start time", {**SPEC, "schedule": [{"name": "d", "start": "8am", "end": "20:00"}]}, False),
        ("no target", {"max_replicas": 3}, False),
    ],
)
def test_crd_schema_checks_fields(case: str, spec: dict[str, Any], valid: bool) -> None:
    schema = _draft4(crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(cr("chat", spec)))
    assert (not errors) == valid, (case, [e.message for e in errors])


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn(clock=FakeClock(1_795_521_600.0)) as server:
        yield server


@pytest.fixture
def kapi(kube: KubeStandIn) -> Iterator[client.ApiClient]:
    c = make_api_client(kube.url, user_agent="llm-controlplane-test/1")
    yield c
    c.close()


BOTH_STORES = True  # the store-backed tests run on SQLite and on a real PostgreSQL server


@pytest.fixture
def repo(db: Database) -> PolicyRepository:
    return PolicyRepository(db)


def _patch_spec(kube: KubeStandIn, ns: str, name: str, spec: dict[str, Any]) -> None:
    with kube.store.lock:
        current = kube.store.get(SCALING_POLICIES, ns, name)
        kube.store.write(SCALING_POLICIES, ns, name, current, {**copy.deepcopy(current), "spec": spec})


def test_sync_creates_updates_refuses_and_deletes(
    kube: KubeStandIn, kapi: client.ApiClient, repo: PolicyRepository
) -> None:
    syncer = CrdSyncer(kapi, repo, FakeClock(1_795_521_600.0))
    kube.put_object(SCALING_POLICIES, "prod", cr("chat", SPEC))
    report = syncer.sync_once()
    assert report.created == ["chat"] and report.error is None
    rec = repo.get("chat")
    assert (rec.managed_by, rec.source, rec.version, rec.body["max_replicas"]) == ("crd", "prod/chat", 1, 6)
    # an unchanged resource writes nothing
    assert syncer.sync_once().updated == [] and repo.get("chat").version == 1
    _patch_spec(kube, "prod", "chat", {**SPEC, "max_replicas": 9})
    assert syncer.sync_once().updated == ["chat"] and repo.get("chat").body["max_replicas"] == 9

    # malformed: min above max, which only the syncer can see; the running version stays
    _patch_spec(kube, "prod", "chat", {**SPEC, "min_replicas": 7, "max_replicas": 3})
    report = syncer.sync_once()
    assert report.rejected == {"prod/chat": "spec.min_replicas: min_replicas must not exceed max_replicas"}
    assert repo.get("chat").version == 2 and repo.get("chat").body["max_replicas"] == 9
    events = kube.events("prod")
    assert len(events) == 1 and events[0]["reason"] == "InvalidPolicy" and events[0]["type"] == "Warning"
    assert (
        events[0]["involvedObject"]["kind"] == "ScalingPolicy" and "spec.min_replicas" in events[0]["message"]
    )
    # recorded once per resourceVersion: another interval adds no Event and no audit row
    syncer.sync_once()
    assert len(kube.events("prod")) == 1
    assert [r["field"] for r in repo.rejections()] == ["spec.min_replicas"]

    # fixed again: applied, the rejection cleared
    _patch_spec(kube, "prod", "chat", {**SPEC, "max_replicas": 5})
    assert syncer.sync_once().updated == ["chat"] and repo.rejections() == []

    kube.store.delete(SCALING_POLICIES, "prod", "chat")
    assert syncer.sync_once().deleted == ["chat"]
    assert repo.get_policy("chat") is None


@pytest.mark.parametrize(
    "case,spec,field",
    [
        ("name in spec", {**SPEC, "name": "other"}, "spec.name"),
        ("spec not an object", "chat", "spec"),
        (
            "bad deployment",
            {**SPEC, "target": {"kind": "kubernetes", "deployment": "Bad_Name"}},
            "spec.target.deployment",
        ),
        ("panic window", {**SPEC, "windows": {"panic_s": 120}}, "spec.windows.panic_s"),
        ("unknown field", {**SPEC, "maxReplicas": 3}, "spec.maxReplicas"),
    ],
)
def test_malformed_resources_name_the_field(
    kube: KubeStandIn, kapi: client.ApiClient, repo: PolicyRepository, case: str, spec: Any, field: str
) -> None:
    kube.put_object(SCALING_POLICIES, "prod", cr("chat", spec))
    report = CrdSyncer(kapi, repo, FakeClock()).sync_once()
    assert report.rejected["prod/chat"].split(":")[0] == field, case
    assert repo.list() == []


def test_name_clashes_are_refused(kube: KubeStandIn, kapi: client.ApiClient, repo: PolicyRepository) -> None:
    from controlplane.policy.model import parse_policy
    from controlplane.store.audit import Actor

    repo.create(parse_policy({**POLICY, "name": "api-owned"}), Actor("alice", "admin"), 1.0)
    kube.put_object(SCALING_POLICIES, "prod", cr("api-owned", SPEC))
    kube.put_object(SCALING_POLICIES, "prod", cr("chat", SPEC))
    kube.put_object(SCALING_POLICIES, "staging", cr("chat", SPEC))
    report = CrdSyncer(kapi, repo, FakeClock()).sync_once()
    assert report.created == ["chat"]
    assert report.rejected == {
        "prod/api-owned": "metadata.name: policy 'api-owned' is managed by the api; delete it there before managing it here",
        "staging/chat": "metadata.name: policy 'chat' is already managed by ScalingPolicy prod/chat",
    }
    assert repo.get("api-owned").managed_by == "api"


def test_a_failed_list_changes_nothing(
    kube: KubeStandIn, kapi: client.ApiClient, repo: PolicyRepository
) -> None:
    syncer = CrdSyncer(kapi, repo, FakeClock())
    kube.put_object(SCALING_POLICIES, "prod", cr("chat", SPEC))
    syncer.sync_once()
    kube.deny("list", "scalingpolicies")
    report = syncer.sync_once()
    assert report.error is not None and "403" in report.error
    assert repo.get("chat").managed_by == "crd"


def test_api_refuses_to_edit_a_crd_managed_policy(
    kube: KubeStandIn, kapi: client.ApiClient, options: Any, admin: dict[str, str], db: Database
) -> None:
    from controlplane.api import create_app

    repo = PolicyRepository(db)
    kube.put_object(SCALING_POLICIES, "prod", cr("chat", SPEC))
    CrdSyncer(kapi, repo, FakeClock()).sync_once()
    with TestClient(create_app(options, db, clock=FakeClock())) as c:
        body = {"name": "chat", **SPEC, "max_replicas": 2}
        for method, path, doc in [
            ("PUT", "/v1/policies/chat", body),
            ("DELETE", "/v1/policies/chat", None),
            ("POST", "/v1/policies/chat/rollback", {"version": 1}),
        ]:
            r = c.request(method, path, json=doc, headers=admin)
            assert r.status_code == 409, (method, r.text)
            assert r.json()["detail"] == (
                "policy 'chat' is managed by crd by prod/chat; change it there, not through the api"
            )
        got = c.get("/v1/policies/chat", headers=admin).json()
        assert (got["managed_by"], got["source"]) == ("crd", "prod/chat")
