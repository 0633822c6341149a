"""The generated rules pass the real ``promtool check rules`` and ``promtool test rules``,
and every alert has a silent-before-``for`` case and a firing case with exact labels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from controlplane.codegen.config import CodegenConfig, duration_seconds
from controlplane.codegen.rules import all_alerts, all_recordings, rule_files

CFG = CodegenConfig()
RULE_FILES = [f.name for f in rule_files(CFG)]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", RULE_FILES)
def test_promtool_check_rules(promtool: str, generated_dir: Path, name: str) -> None:
    out = _run(promtool, "check", "rules", str(generated_dir / "alert_rules" / f"{name}.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.parametrize("name", RULE_FILES)
def test_promtool_test_rules(promtool: str, generated_dir: Path, name: str) -> None:
    out = _run(promtool, "test", "rules", str(generated_dir / "alert_rules" / "tests" / f"{name}.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_silent_before_for_and_fires_after(generated: dict[str, str]) -> None:
    alerts = {a.name: a for a in all_alerts(CFG)}
    silent: set[str] = set()
    firing: set[str] = set()
    for name in RULE_FILES:
        doc = yaml.safe_load(generated[f"alert_rules/tests/{name}.yaml"])
        for group in doc["tests"]:
            pending = {t["eval_time"] for t in group.get("promql_expr_test", [])}
            for t in group["alert_rule_test"]:
                alert = alerts[t["alertname"]]
                if t["exp_alerts"] and t["exp_alerts"][0]["exp_labels"]["severity"] == alert.severity:
                    firing.add(alert.name)
                    assert t["exp_alerts"][0]["exp_annotations"]["runbook_url"].endswith(f"/{alert.name}.md")
                elif t["eval_time"] in pending:
                    # Silent while pending: the silence comes from ``for``, not from the data.
                    assert duration_seconds(t["eval_time"]) > 0
                    silent.add(alert.name)
    assert firing == set(alerts), set(alerts) - firing
    assert silent == set(alerts), set(alerts) - silent


def test_an_alert_with_for_zero_would_fail_its_silent_case(promtool: str, tmp_path: Path, generated: dict[str, str]) -> None:
    # The checks bite: drop ``for`` from one alert and its pending/silent expectations fail.
    for rel, text in generated.items():
        if rel.startswith("alert_rules/"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
    rules = tmp_path / "alert_rules" / "serving.yaml"
    doc = yaml.safe_load(rules.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "VllmKvCachePressure":
                rule["for"] = "0s"
    rules.write_text(yaml.safe_dump(doc))
    out = _run(promtool, "test", "rules", str(tmp_path / "alert_rules" / "tests" / "serving.yaml"))
    assert out.returncode != 0
    assert "VllmKvCachePressure" in out.stdout + out.stderr


def test_rule_names_follow_conventions() -> None:
    for rec in all_recordings(CFG):
        level, metric, ops = rec.record.split(":")
        assert level and metric and ops, rec.record
    for alert in all_alerts(CFG):
        assert alert.name[0].isupper() and "_" not in alert.name
        assert alert.severity in ("page", "ticket", "info")
        rule = alert.to_rule()
        assert set(rule["annotations"]) >= {"summary", "description", "runbook_url"}


def test_example_config_generates_rules_whose_tests_pass(promtool: str, tmp_path: Path) -> None:
    # The promtool cases are derived from the config, so they must hold for any valid config.
    from controlplane.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "codegen.yaml"
    assert main(["generate", "--config", str(example), "--out", str(tmp_path)]) == 0
    slo = (tmp_path / "alert_rules" / "slo.yaml").read_text()
    # 2.5 s is a bucket bound; budget 0.5%, so the 14.4x page threshold is 0.072.
    assert 'le="2.5"' in slo and "> 0.072\n" in slo
    for name in RULE_FILES:
        out = _run(promtool, "test", "rules", str(tmp_path / "alert_rules" / "tests" / f"{name}.yaml"))
        assert out.returncode == 0, out.stdout + out.stderr


SHIFTED = {
    # Every threshold and hold moved from its default: the generated cases follow.
    "thresholds": {
        "queue_waiting_per_replica": {"value": 2.5, "for": "3m", "reason": "a small batch that queues early"},
        "kv_cache_usage": {"value": 0.8, "for": "20m", "reason": "leave room for long prompts"},
        "replicas_pending": {"value": 1, "for": "30m", "reason": "one replica may lag on a slow node"},
        "at_max_burn_factor": {"value": 2, "for": "5m", "reason": "act at a gentler burn at the ceiling"},
        "metrics_absent": {"for": "2m", "reason": "no rolling restarts expected here"},
        "not_reconciling": {"for": "15m", "reason": "the loop may pause during upgrades"},
        "decision_invalid": {"for": "5m", "reason": "invalid decisions must be seen quickly"},
        "step_errors_per_s": {"value": 0.5, "for": "10m", "reason": "tolerate an occasional failure"},
        "forecast_error_ratio": {"value": 0.6, "for": "1h", "reason": "a noisy workload forecasts badly"},
        "gpu_under_utilised_percent": {"value": 40, "for": "2h", "reason": "batch jobs idle in between"},
        "gpu_over_utilised_percent": {"value": 99.5, "for": "3h", "reason": "saturation is the plan here"},
        "daily_cost_increase_ratio": {"value": 1.75, "for": "4h", "reason": "only a big jump is news here"},
    },
    "burn_for": {"page": "5m", "ticket": "1h"},
    "gpu_price_per_hour": 1.37,
}


def test_shifted_thresholds_generate_rules_whose_tests_pass(promtool: str, tmp_path: Path) -> None:
    from controlplane.codegen.config import parse_config
    from controlplane.codegen.generate import generate, write

    write(generate(parse_config(SHIFTED)), tmp_path)
    assert "avg by (namespace, model_name) (vllm:num_requests_waiting) > 2.5" in (
        tmp_path / "alert_rules" / "serving.yaml").read_text()
    for name in RULE_FILES:
        out = _run(promtool, "test", "rules", str(tmp_path / "alert_rules" / "tests" / f"{name}.yaml"))
        assert out.returncode == 0, out.stdout + out.stderr
