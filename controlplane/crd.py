"""The ScalingPolicy CustomResourceDefinition, generated from the policy model.

Owns: :func:`crd_manifest`, which turns :class:`~controlplane.policy.model.ScalingPolicy`'s
JSON schema into a structural ``openAPIV3Schema`` (references inlined, ``X | None``
as ``nullable``, the discriminated ``target`` as one object whose ``kind`` is an
enum), and the resource's coordinates. The committed
``serving/crd/scalingpolicy.yaml`` is this output; a test regenerates it.

A custom resource's ``metadata.name`` is the policy name and its ``spec`` holds
every other policy field with the same snake_case names as the API and the CLI's
YAML, so one policy document works in all three places. The API server checks
types, ranges and patterns; the cross-field rules (``min_replicas <= max_replicas``,
``panic_s < stable_s`` ...) are checked by the syncer, which refuses the resource
with the field named.
"""

from __future__ import annotations

from typing import Any

import yaml

from controlplane.policy.model import ScalingPolicy

__all__ = ["GROUP", "VERSION", "PLURAL", "KIND", "crd_manifest", "render_crd"]

GROUP = "controlplane.io"
VERSION = "v1"
PLURAL = "scalingpolicies"
KIND = "ScalingPolicy"

_KEEP = (
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "description",
    "minItems",
    "maxItems",
)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(defs[node["$ref"].split("/")[-1]], defs)
    return node


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        concrete = [_resolve(v, defs) for v in variants if v.get("type") != "null"]
        nullable = len(concrete) < len(variants)
        if len(concrete) == 1:
            merged = _structural(
                {**concrete[0], **{k: v for k, v in node.items() if k == "description"}}, defs
            )
        else:
            merged = _union(concrete, defs)
        if nullable:
            merged["nullable"] = True
        return merged
    out: dict[str, Any] = {k: node[k] for k in _KEEP if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
        out.setdefault("type", "string")
    # Kubernetes (JSON Schema draft 4) spells exclusive bounds as booleans beside minimum/maximum.
    if "exclusiveMinimum" in out:
        out["minimum"], out["exclusiveMinimum"] = out["exclusiveMinimum"], True
    if "exclusiveMaximum" in out:
        out["maximum"], out["exclusiveMaximum"] = out["exclusiveMaximum"], True
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        props = node.get("properties", {})
        out["properties"] = {k: _structural(v, defs) for k, v in props.items()}
        if node.get("required"):
            out["required"] = list(node["required"])
    if node.get("type") == "array":
        out["items"] = _structural(node.get("items", {}), defs)
    return out


def _union(variants: list[dict[str, Any]], defs: dict[str, Any]) -> dict[str, Any]:
    """Object variants told apart by ``kind``: one object with every variant's properties."""
    props: dict[str, Any] = {}
    kinds: list[str] = []
    for v in variants:
        for key, schema in v.get("properties", {}).items():
            s = _structural(schema, defs)
            if key == "kind":
                kinds.extend(s.get("enum", []))
                continue
            props.setdefault(key, s)
    props["kind"] = {"type": "string", "enum": kinds, "description": "which variant: " + ", ".join(kinds)}
    return {"type": "object", "properties": dict(sorted(props.items())), "required": ["kind"]}


def crd_manifest() -> dict[str, Any]:
    schema = ScalingPolicy.model_json_schema()
    defs = schema.get("$defs", {})
    spec = _structural(schema, defs)
    spec["properties"].pop("name")
    spec["required"] = [r for r in spec.get("required", []) if r != "name"]
    spec["description"] = "A scaling policy; metadata.name is the policy name."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "scalingpolicy", "kind": KIND, "shortNames": ["sp"]},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                            },
                            "required": ["spec"],
                        }
                    },
                    "additionalPrinterColumns": [
                        {"name": "Min", "type": "integer", "jsonPath": ".spec.min_replicas"},
                        {"name": "Max", "type": "integer", "jsonPath": ".spec.max_replicas"},
                        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


def render_crd() -> str:
    header = "# Generated by controlplane.crd from the ScalingPolicy model; do not edit.\n"
    return header + yaml.safe_dump(crd_manifest(), sort_keys=False, width=120)
