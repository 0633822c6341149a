"""The generated Alertmanager config passes the real ``amtool check-config``, routes by severity,
and inhibits as intended inside a real prometheus-alertmanager."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from harness.alertmanager import AlertmanagerServer


def test_amtool_check_config(amtool: str, generated_dir: Path) -> None:
    out = subprocess.run(
        [amtool, "check-config", str(generated_dir / "alert_rules" / "alertmanager.yaml")],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.parametrize(
    "labels, receiver",
    [
        pytest.param(["alertname=VllmTtftBudgetBurnFast", "severity=page"], "page", id="page"),
        pytest.param(["alertname=VllmKvCachePressure", "severity=ticket"], "ticket", id="ticket"),
        pytest.param(["alertname=GpuUnderUtilised", "severity=info"], "info", id="info"),
        pytest.param(["alertname=Unlabelled"], "ticket", id="default"),
    ],
)
def test_routes_by_severity(amtool: str, generated_dir: Path, labels: list[str], receiver: str) -> None:
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={generated_dir / 'alert_rules' / 'alertmanager.yaml'}",
         *labels],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receiver


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    body = [{"labels": labels, "annotations": {"summary": labels["alertname"]}} for labels in alerts]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5, trust_env=False).raise_for_status()


def test_real_alertmanager_routes_and_inhibits(generated: dict[str, str], webhook: Any, tmp_path: Path) -> None:
    """The generated config in the real prometheus-alertmanager, receivers pointed at a local
    webhook and group_wait shortened to 1 s; everything else as generated."""
    config = yaml.safe_load(generated["alert_rules/alertmanager.yaml"])
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        receiver["webhook_configs"][0]["url"] = f"{webhook.url}/{receiver['name']}"
    server = AlertmanagerServer(tmp_path, webhook.url)
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    server.start()
    try:
        model = {"namespace": "serving", "model_name": "chat"}
        _post(server.url, [
            {"alertname": "VllmTtftBudgetBurnFast", "severity": "page", **model},
            {"alertname": "VllmQueueSaturated", "severity": "ticket", **model},
            {"alertname": "VllmMetricsAbsent", "severity": "page"},
            {"alertname": "ControlplaneDecisionInvalid", "severity": "ticket", "target": "serving/chat"},
            {"alertname": "ControlplaneReplicasPending", "severity": "ticket", "target": "serving/chat"},
        ])
        _t, page = webhook.wait_for(lambda a: a["labels"]["alertname"] == "VllmTtftBudgetBurnFast", timeout_s=20)
        webhook.wait_for(lambda a: a["labels"]["alertname"] == "ControlplaneReplicasPending", timeout_s=20)
        state = {a["labels"]["alertname"]: a["status"] for a in server.alerts()}
        # The model's page silences its own ticket...
        assert state["VllmQueueSaturated"]["state"] == "suppressed"
        # ...no vLLM metrics silences the invalid decisions they cause...
        assert state["ControlplaneDecisionInvalid"]["state"] == "suppressed"
        # ...but a page without namespace and model does not silence unrelated tickets.
        assert state["ControlplaneReplicasPending"]["state"] == "active"
        assert state["VllmTtftBudgetBurnFast"]["state"] == "active"
        receivers = {n["receiver"] for _t, n in webhook.notifications}
        assert receivers == {"page", "ticket"}
        by_alert = {a["labels"]["alertname"]: n["receiver"] for _t, n in webhook.notifications for a in n["alerts"]}
        assert by_alert["VllmTtftBudgetBurnFast"] == "page"
        assert by_alert["ControlplaneReplicasPending"] == "ticket"
        assert "VllmQueueSaturated" not in by_alert
    finally:
        server.stop()
