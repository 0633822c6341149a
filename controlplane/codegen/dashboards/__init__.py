"""Grafana dashboards built with grafanalib: serving overview, autoscaler, control-plane health."""

from __future__ import annotations

from grafanalib import core as g

from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.dashboards.autoscaler import autoscaler_dashboard
from controlplane.codegen.dashboards.health import health_dashboard
from controlplane.codegen.dashboards.serving import serving_dashboard

__all__ = ["dashboards"]


def dashboards(cfg: CodegenConfig) -> dict[str, g.Dashboard]:
    """File name under dashboards/ -> dashboard."""
    return {
        "serving-overview.json": serving_dashboard(cfg),
        "autoscaler.json": autoscaler_dashboard(cfg),
        "controlplane-health.json": health_dashboard(cfg),
    }
