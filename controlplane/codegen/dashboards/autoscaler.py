"""The autoscaler dashboard: replicas, decisions, forecast against load, anomalies, cost.

Owns: the panels and annotations of ``autoscaler.json``.
Must not import: subprocess or any HTTP library.

The forecast is published for the replica lead time ahead, so the band is drawn
``offset`` by that lead time: at each moment it shows what was predicted for it.
"""

from __future__ import annotations

from typing import Any

from grafanalib import core as g

from controlplane.codegen import names
from controlplane.codegen.capacity_alerts import COST_1D, GPU_COUNT, GPU_HOURS_1D
from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.dashboards.panels import (
    DS,
    Layout,
    Query,
    dashboard,
    query_var,
    steps,
    variables,
)
from controlplane.codegen.dashboards.serving import VLLM_SEL
from controlplane.codegen.model import AUTOSCALER_UID

__all__ = ["autoscaler_dashboard", "CP_SEL", "dashboard_annotations"]

CP_SEL = '{target=~"$target"}'
_RATE = "[$__rate_interval]"
_VALID_MAP = [{"type": "value", "options": {"0": {"text": "invalid", "color": "red"}, "1": {"text": "valid", "color": "green"}}}]


def dashboard_annotations(cfg: CodegenConfig) -> list[dict[str, Any]]:
    """Anomalies above the score threshold and firing alerts, as Grafana annotations."""
    return [
        {
            "name": "Anomalies",
            "datasource": DS,
            "enable": True,
            "iconColor": "orange",
            "expr": f"max by (target, signal, detector) ({names.CP_ANOMALY}{CP_SEL}) > {cfg.anomaly_score_threshold:g}",
            "step": "60s",
            "titleFormat": "anomaly: {{signal}}",
            "textFormat": "{{detector}} on {{target}}",
        },
        {
            "name": "Alerts",
            "datasource": DS,
            "enable": True,
            "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing", namespace=~"$namespace"}',
            "step": "60s",
            "titleFormat": "{{alertname}}",
            "textFormat": "{{severity}}",
        },
    ]


def autoscaler_dashboard(cfg: CodegenConfig) -> g.Dashboard:
    lay = Layout()
    lay.row("Replicas and decisions")
    lay.timeseries(
        "Replicas: desired, current, ready",
        [
            Query(f"{names.CP_DESIRED}{CP_SEL}", "desired {{target}}"),
            Query(f"{names.CP_CURRENT}{CP_SEL}", "current {{target}}"),
            Query(f"{names.CP_READY}{CP_SEL}", "ready {{target}}"),
            Query(f"{names.CP_MAX}{CP_SEL}", "max {{target}}"),
            Query(f"{names.CP_MIN}{CP_SEL}", "min {{target}}"),
        ],
        "short", steps(("green", None)),
        "What the control plane asked for, the spec, and what serves; min and max are the policy bounds.",
    )
    lay.timeline(
        "Decision validity", [Query(f"{names.CP_VALID}{CP_SEL}", "{{target}}")], _VALID_MAP,
        steps(("red", None), ("green", 1)),
        "Invalid decisions hold the replica count (missing data never scales down).",
    )
    lay.table(
        "Binding constraint and missing signals",
        [
            Query(f"max by (target, constraint) ({names.CP_BINDING}{CP_SEL})", instant=True),
            Query(f"max by (target, signal) ({names.CP_SIGNAL_MISSING}{CP_SEL})", instant=True),
        ],
        "none", steps(("green", None), ("red", 1)),
        "Which constraint set the last decision (1), and which signals were missing on the last tick (1).",
    )
    lay.timeseries(
        "Scale events",
        [Query(f"sum by (target, direction) (increase({names.CP_SCALE_EVENTS}{CP_SEL}{_RATE}))",
               "{{direction}} {{target}}")],
        "short", steps(("green", None)), "Replica changes patched, up and down.", draw="bars",
    )
    lay.row("Forecast and anomalies")
    lead = cfg.forecast_lead
    actual = f"sum(rate({names.REQUEST_SUCCESS}{VLLM_SEL}{_RATE}))"
    lay.timeseries(
        "Forecast band against actual load",
        [
            Query(actual, "actual"),
            *[
                Query(f'{names.CP_FORECAST_RATE}{{target=~"$target", quantile="{q}"}} offset {lead}',
                      f"forecast q{q} {{{{target}}}}")
                for q in cfg.forecast_quantiles
            ],
        ],
        "reqps", steps(("green", None)),
        f"Request rate, and the forecast made {lead} earlier for this moment (the replica lead time).",
    )
    lay.timeseries(
        "Forecast error and anomaly score",
        [
            Query(f"{names.CP_FORECAST_ERROR}{CP_SEL}", "forecast error {{target}}"),
            Query(f"max by (target, signal) ({names.CP_ANOMALY}{CP_SEL})", "anomaly {{signal}}"),
        ],
        "percentunit", steps(("green", None), ("red", cfg.thresholds.forecast_error_ratio.value)),
        "Recent forecast error (red line: predictive floor switched off above it) and anomaly scores.",
        line=True,
    )
    lay.row("GPU-hours and cost")
    price = cfg.gpu_price_per_hour
    lay.stat(
        "GPU-hours, last 24 h", [Query(f'sum({GPU_HOURS_1D}{{namespace=~"$namespace"}})')], "h",
        steps(("green", None)), "Mean DCGM GPU count over the last day x 24.", w=8,
    )
    lay.stat(
        "GPU cost, last 24 h", [Query(f'sum({COST_1D}{{namespace=~"$namespace"}})')], "currencyUSD",
        steps(("green", None)), f"GPU-hours x {price:g} USD per GPU-hour (gpu_price_per_hour).", w=8, decimals=2,
    )
    per_million = (
        f'sum({GPU_COUNT}{{namespace=~"$namespace"}}) * {price:g}\n/\n'
        f"(sum(rate({names.GENERATION_TOKENS}{VLLM_SEL}[1h])) * 3600 / 1e6)"
    )
    lay.stat(
        "Cost per million generated tokens", [Query(per_million)], "currencyUSD", steps(("green", None)),
        "GPUs held now x price per hour, over the last hour's generated tokens per hour, in millions.",
        w=8, decimals=2,
    )
    templates = variables(
        query_var("target", "Target", f'label_values({names.CP_DESIRED}{{target=~"($namespace)/.*"}}, target)'),
        model_metric=names.RUNNING,
    )
    return dashboard(
        cfg, AUTOSCALER_UID, "LLM autoscaler",
        "Decisions of the control plane, forecast against load, anomalies and cost. Generated by controlplane generate.",
        lay, templates, dashboard_annotations(cfg),
    )
