"""build_controller wires the anomaly advisor, the log source and the notifier from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.advisors.anomaly import AnomalyAdvisor
from controlplane.config import ControllerConfig
from controlplane.controller import build_controller
from controlplane.notify.dispatch import BackgroundNotifier
from controlplane.sources.logs import LogEnrichedSource
from controlplane.sources.prometheus import PrometheusSource


def _config(tmp_path: Path, **sections: dict) -> ControllerConfig:
    return ControllerConfig.model_validate(
        {"loop": {"database": str(tmp_path / "cp.db"), "metrics_port": 0}, "api": {"enabled": False}, **sections}
    )


@pytest.mark.parametrize(
    "sections,logs,alerts",
    [
        ({}, False, False),
        ({"alertmanager": {"url": "http://127.0.0.1:9"}}, False, True),
        ({"elasticsearch": {"url": "http://127.0.0.1:9", "flavour": "opensearch"}}, True, False),
        ({"alertmanager": {"url": "http://127.0.0.1:9"}, "elasticsearch": {"url": "http://127.0.0.1:9"}}, True, True),
    ],
    ids=["neither", "alertmanager only", "opensearch only", "both"],
)
def test_wiring_follows_the_settings(tmp_path: Path, sections: dict, logs: bool, alerts: bool) -> None:
    controller = build_controller(_config(tmp_path, **sections), policies=[])
    try:
        loop = controller.loop
        anomaly = [a for a in loop.advisors if isinstance(a, AnomalyAdvisor)]
        assert len(anomaly) == (1 if logs or alerts else 0)
        assert isinstance(loop.source, LogEnrichedSource) == logs
        if logs:
            assert isinstance(loop.source.inner, PrometheusSource)  # type: ignore[attr-defined]
        if anomaly:
            assert isinstance(anomaly[0].notifier, BackgroundNotifier) == alerts
            assert (anomaly[0].logs is not None) == logs
    finally:
        controller.stop()
