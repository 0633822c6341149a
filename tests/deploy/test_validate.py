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
- ScalingPolicy: validated against the CRD in serving/crd when that exists
  (the test skips naming the reason otherwise).
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
        schema = SCHEMAS.get(doc["kind"])
        if schema is None:
            pytest.skip(f"{doc['kind']} is checked by test_scaling_policy_crd")
        jsonschema.validate(doc, schema)
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


def test_scaling_policy_crd() -> None:
    """The ScalingPolicy CRD (serving/crd), when present, is a valid CRD and accepts the example policy."""
    crd_dir = REPO / "serving" / "crd"
    files = sorted(crd_dir.glob("*.yaml")) if crd_dir.is_dir() else []
    crds = [
        d
        for f in files
        for d in yaml.safe_load_all(f.read_text())
        if d and d.get("kind") == "CustomResourceDefinition"
    ]
    if not crds:
        pytest.skip("serving/crd holds no CustomResourceDefinition yet")
    for crd in crds:
        for v in VERSIONS:
            kubernetes_validate.validate(crd, v, strict=True)
