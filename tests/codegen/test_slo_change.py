"""One source of truth: changing an SLO moves both the alert thresholds and the dashboards' SLO lines."""

from __future__ import annotations

import json
from typing import Any

import yaml

from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.generate import generate
from controlplane.policy.model import SLO


def _panel(files: dict[str, str], board: str, title: str) -> dict[str, Any]:
    panels = json.loads(files[f"dashboards/{board}"])["panels"]
    return next(p for p in panels if p["title"] == title)


def _red_line(panel: dict[str, Any]) -> float:
    return next(s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["color"] == "red")


def _records(files: dict[str, str]) -> dict[str, str]:
    doc = yaml.safe_load(files["alert_rules/slo.yaml"])
    return {r.get("record") or r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def test_ttft_slo_moves_rules_and_dashboard_line() -> None:
    before = generate(CodegenConfig())
    after = generate(CodegenConfig(slo=SLO(ttft_p95_s=5.0)))
    # 2.0 s rounds down to the 1.0 s bucket; 5.0 s is a bucket bound itself.
    assert 'le="1.0"' in _records(before)["namespace_model:vllm_ttft_slo_errors:ratio_rate5m"]
    assert 'le="5.0"' in _records(after)["namespace_model:vllm_ttft_slo_errors:ratio_rate5m"]
    assert _red_line(_panel(before, "serving-overview.json", "Time to first token")) == 2.0
    assert _red_line(_panel(after, "serving-overview.json", "Time to first token")) == 5.0
    # The e2e rules did not move.
    assert _records(before)["namespace_model:vllm_e2e_slo_errors:ratio_rate1h"] == _records(after)[
        "namespace_model:vllm_e2e_slo_errors:ratio_rate1h"
    ]


def test_objective_moves_burn_thresholds_and_budget_line() -> None:
    # 99% -> budget 1%: the 14.4x page fires above 0.144. 99.9% -> budget 0.1%: above 0.0144.
    before = generate(CodegenConfig())
    after = generate(CodegenConfig(slo=SLO(objective=0.999)))
    assert "ratio_rate1h > 0.144\n" in _records(before)["VllmTtftBudgetBurnFast"]
    assert "ratio_rate1h > 0.0144\n" in _records(after)["VllmTtftBudgetBurnFast"]
    title = "Time to first token SLO error ratio"
    steps = _panel(after, "serving-overview.json", title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.001, 0.001 * 14.4]


def test_e2e_slo_moves_rules_and_dashboard_line() -> None:
    after = generate(CodegenConfig(slo=SLO(e2e_p95_s=30.0)))
    assert 'le="30.0"' in _records(after)["namespace_model:vllm_e2e_slo_errors:ratio_rate5m"]
    assert _red_line(_panel(after, "serving-overview.json", "End-to-end latency")) == 30.0
    # The PrometheusRule carries the same expression as the rule file.
    assert 'le="30.0"' in after["serving/monitoring/prometheusrule.yaml"]


def test_price_moves_cost_rule_and_panel() -> None:
    after = generate(CodegenConfig(gpu_price_per_hour=2.0))
    assert "namespace:gpu_hours:sum1d * 2\n" in after["alert_rules/capacity.yaml"]
    expr = _panel(after, "autoscaler.json", "Cost per million generated tokens")["targets"][0]["expr"]
    assert "* 2\n/" in expr
