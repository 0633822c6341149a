"""Every rendered manifest validated offline, as an API server would see it.

Built-in kinds: ``kubernetes-validate --strict`` (its Python API) against the
schemas of Kubernetes 1.30.0 and 1.37.0, both bundled with kubernetes-validate
1.37.0; strict rejects fields the schema does not know. Custom resources, whose
CRDs kubernetes-validate does not ship:

- PrometheusRule: the schema restating prometheus-operator's CRD constraints
  that the codegen tests already use (tests/codegen/test_kubernetes_objects.py);
- PodMonitor and ServiceMonitor: a structural schema of exactly the fields these
  manifests use, with the operator CRD's types and required keys (``selector``,
  ``podMetricsEndpoints`` / ``endpoints``; ``port`` a string port name;
  durations in the operator's pattern); unknown fields are rejected;
- ScalingPolicy: the CRD itself (serving/crd, included by both overlays) is a
  built-in kind and validated above; every policy we ship (examples/policy.yaml
  and the ConfigMaps' policies) is validated, as a ScalingPolicy resource,
  against the CRD's openAPIV3Schema (as JSON Schema draft 4, ``nullable``
  admitting null), and
  malformed resources are shown to fail with the field's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.codegen.test_kubernetes_objects import PROMETHEUS_RULE_SCHEMA
from tests.deploy.manifests import OVERLAYS, documents

VERSIONS = ("1.30.0", "1.37.0")
CUSTOM = {"monitoring.coreos.com/v1", "controlplane.io/v1"}
REPO = Path(__file__).resolve().parents[2]

_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _LABELS},
    "required": ["matchLabels"],
}
_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {
        "port": {"type": "string", "minLength": 1},
        "path": {"type": "string", "pattern": "^/"},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "honorLabels": {"type": "boolean"},
    },
}
_META = {
    "type": "object",
    "required": ["name", "namespace"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": _LABELS},
}


def _monitor(kind: str, endpoints: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["selector", endpoints],
                "additionalProperties": False,
                "properties": {
                    "selector": _SELECTOR,
                    endpoints: {"type": "array", "minItems": 1, "items": _ENDPOINT},
                    **extra,
                },
            },
        },
    }


SCHEMAS = {
    "PodMonitor": _monitor("PodMonitor", "podMetricsEndpoints", {}),
    "ServiceMonitor": _monitor(
        "ServiceMonitor",
        "endpoints",
        {
            "namespaceSelector": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
            }
        },
    ),
    "PrometheusRule": PROMETHEUS_RULE_SCHEMA,
}


def _cases() -> list[Any]:
    return [
        pytest.param(overlay, i, id=f"{overlay}-{i}-{d['kind']}-{d['metadata']['name']}")
        for overlay in OVERLAYS
        for i, d in enumerate(documents(overlay))
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("overlay", "index"), _cases())
def test_manifest_is_valid(overlay: str, index: int, version: str) -> None:
    doc = documents(overlay)[index]
    if doc["apiVersion"] in CUSTOM:
        jsonschema.validate(doc, SCHEMAS[doc["kind"]])
        return
    kubernetes_validate.validate(doc, version, strict=True)


def test_validator_rejects_an_unknown_field_and_a_wrong_type() -> None:
    """The strict validation has teeth: the vLLM Deployment with one typo fails, the original passes."""
    dep = next(
        d
        for d in documents("production")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "vllm-chat"
    )
    kubernetes_validate.validate(dep, "1.37.0", strict=True)
    typo = yaml.safe_load(yaml.safe_dump(dep))
    typo["spec"]["template"]["spec"]["terminationGracePeriod"] = 180
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.37.0", strict=True)
    wrong = yaml.safe_load(yaml.safe_dump(dep))
    wrong["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, "1.30.0", strict=True)


def test_monitor_schema_rejects_a_misspelt_endpoint_field() -> None:
    monitor = next(d for d in documents("production") if d["kind"] == "PodMonitor")
    bad = yaml.safe_load(yaml.safe_dump(monitor))
    bad["spec"]["podMetricsEndpoints"][0]["intreval"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intreval"):
        jsonschema.validate(bad, SCHEMAS["PodMonitor"])


def test_bundled_schemas_cover_both_versions() -> None:
    """kubernetes-validate ships both versions we validate for (strict variants included)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    for v in VERSIONS:
        assert (root / f"v{v}-local-strict").is_dir(), f"kubernetes-validate has no strict schemas for {v}"


def _json_schema(node: Any) -> Any:
    """An OpenAPI v3.0 structural schema as JSON Schema draft 4 (whose boolean
    ``exclusiveMaximum`` OpenAPI 3.0 shares): ``nullable: true`` admits null."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _json_schema(v) for k, v in node.items() if k != "nullable" and not k.startswith("x-kubernetes-")
    }
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _crd_schema() -> dict[str, Any]:
    crd = next(d for d in documents("production") if d["kind"] == "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "scalingpolicies.controlplane.io"
    (version,) = crd["spec"]["versions"]
    return _json_schema(version["schema"]["openAPIV3Schema"])  # type: ignore[no-any-return]


def _resource(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy document as a ScalingPolicy resource: metadata.name is the policy name."""
    spec = {k: v for k, v in policy.items() if k != "name"}
    return {
        "apiVersion": "controlplane.io/v1",
        "kind": "ScalingPolicy",
        "metadata": {"name": policy["name"], "namespace": "llm-serving"},
        "spec": spec,
    }


def _shipped_policies() -> list[Any]:
    out = [
        pytest.param(yaml.safe_load((REPO / "examples/policy.yaml").read_text()), id="examples/policy.yaml")
    ]
    for overlay in OVERLAYS:
        cm = next(
            d
            for d in documents(overlay)
            if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "llm-controlplane-config"
        )
        for doc in yaml.safe_load_all(cm["data"]["policies.yaml"]):
            out.append(pytest.param(doc, id=f"{overlay}-policies.yaml-{doc['name']}"))
    return out


@pytest.mark.parametrize("policy", _shipped_policies())
def test_shipped_policies_are_valid_scaling_policy_resources(policy: dict[str, Any]) -> None:
    """Each policy we ship, as a ScalingPolicy resource, passes the CRD's schema (serving/crd)."""
    jsonschema.Draft4Validator(_crd_schema()).validate(_resource(policy))


@pytest.mark.parametrize(
    ("label", "change", "path"),
    [
        ("negative floor", {"min_replicas": -1}, ["spec", "min_replicas"]),
        ("unknown mode", {"mode": "dry"}, ["spec", "mode"]),
        (
            "bad deployment name",
            {"target": {"kind": "kubernetes", "deployment": "Chat_1"}},
            ["spec", "target", "deployment"],
        ),
    ],
)
def test_crd_schema_rejects_a_malformed_resource_naming_the_field(
    label: str, change: dict[str, Any], path: list[str]
) -> None:
    doc = {**yaml.safe_load((REPO / "examples/policy.yaml").read_text()), **change}
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.Draft4Validator(_crd_schema()).validate(_resource(doc))
    assert list(err.value.absolute_path) == path
