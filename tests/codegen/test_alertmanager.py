"""The generated Alertmanager config passes the real ``amtool check-config`` and routes by severity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


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
