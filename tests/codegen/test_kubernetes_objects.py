"""serving/monitoring/: ConfigMaps validated strictly by kubernetes-validate; the PrometheusRule,
whose CRD kubernetes-validate does not know, checked against the CRD's published schema.

The PrometheusRule schema below restates the constraints of prometheus-operator's CRD
``monitoring.coreos.com_prometheusrules.yaml`` (v1): groups need a non-empty ``name``;
rules need ``expr``; ``interval`` and ``for`` match the operator's duration pattern;
``labels`` and ``annotations`` are string maps. Stricter than the CRD on purpose: unknown
fields are rejected (the API server would silently prune them), and each rule sets exactly
one of ``record`` and ``alert`` (the CRD says so in prose only).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

_DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "properties": {
        "alert": {"type": "string", "pattern": r"^[A-Z][A-Za-z0-9]+$"},
        "record": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "expr": {"type": "string", "minLength": 1},
        "for": {"type": "string", "pattern": _DURATION},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
        },
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "rules": {"type": "array", "items": _RULE},
                        },
                    },
                }
            },
        },
    },
}


def _docs(generated: dict[str, str], rel: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(generated[rel]) if d]


def test_dashboard_configmaps_validate_strictly(generated: dict[str, str]) -> None:
    maps = _docs(generated, "serving/monitoring/dashboards-configmap.yaml")
    assert len(maps) == 3
    for doc in maps:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        (name, text), = doc["data"].items()
        assert text == generated[f"dashboards/{name}"]
        json.loads(text)


def test_kubernetes_validate_does_not_know_the_crd(generated: dict[str, str]) -> None:
    # Documented limit: why the PrometheusRule is checked against the schema below instead.
    (rule,) = _docs(generated, "serving/monitoring/prometheusrule.yaml")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(rule, kubernetes_validate.latest_version(), strict=True)


def test_prometheus_rule_matches_the_crd_schema(generated: dict[str, str]) -> None:
    (rule,) = _docs(generated, "serving/monitoring/prometheusrule.yaml")
    jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)


def test_prometheus_rule_holds_every_rule_file_group(generated: dict[str, str]) -> None:
    (rule,) = _docs(generated, "serving/monitoring/prometheusrule.yaml")
    from_files = [
        g for rel in sorted(generated) if rel.startswith("alert_rules/") and rel.count("/") == 1
        and rel != "alert_rules/alertmanager.yaml" for g in yaml.safe_load(generated[rel])["groups"]
    ]
    assert sorted(g["name"] for g in rule["spec"]["groups"]) == sorted(g["name"] for g in from_files)
    by_name = {g["name"]: g for g in rule["spec"]["groups"]}
    for g in from_files:
        assert by_name[g["name"]] == g


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.pop("expr"), id="rule-without-expr"),
        pytest.param(lambda r: r.update({"for": "10 minutes"}), id="bad-duration"),
        pytest.param(lambda r: r.update({"record": "x:y:z"}), id="alert-and-record"),
        pytest.param(lambda r: r.update({"severity": "page"}), id="label-at-rule-level"),
    ],
)
def test_schema_rejects_broken_rules(generated: dict[str, str], mutate: Any) -> None:
    (rule,) = _docs(generated, "serving/monitoring/prometheusrule.yaml")
    alert = next(r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r)
    mutate(alert)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)
