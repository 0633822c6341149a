"""Kubernetes delivery of the generated monitoring: a PrometheusRule and dashboard ConfigMaps.

Owns: :func:`prometheus_rule` (prometheus-operator's ``monitoring.coreos.com/v1``
PrometheusRule holding every rule group) and :func:`dashboards_configmaps`
(one ConfigMap per dashboard, labelled ``grafana_dashboard: "1"`` for the Grafana
sidecar that loads them).
Must not import: the kubernetes client (these are plain documents).
"""

from __future__ import annotations

from typing import Any

from controlplane.codegen.model import RuleFile

__all__ = ["prometheus_rule", "dashboards_configmaps", "NAMESPACE"]

NAMESPACE = "monitoring"
_LABELS = {"app.kubernetes.io/name": "llm-controlplane", "app.kubernetes.io/component": "monitoring"}


def prometheus_rule(files: list[RuleFile]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "llm-controlplane",
            "namespace": NAMESPACE,
            # kube-prometheus-stack selects rules by its release label by default.
            "labels": {**_LABELS, "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": [g.to_dict() for f in files for g in f.groups]},
    }


def dashboards_configmaps(dashboards: dict[str, str]) -> list[dict[str, Any]]:
    """``dashboards`` maps a dashboard's file name to its JSON text."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{name.removesuffix('.json')}",
                "namespace": NAMESPACE,
                "labels": {**_LABELS, "grafana_dashboard": "1"},
            },
            "data": {name: text},
        }
        for name, text in sorted(dashboards.items())
    ]
