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


def test_anomaly_state_survives_a_controller_restart(tmp_path: Path) -> None:
    # a controller that learned for a while saves its anomaly state on stop; the next one
    # starts from it (the detectors' day of learning is not started over), and a corrupt
    # state file is ignored, not fatal
    from controlplane.advisors.anomaly_wiring import SAVE_S
    from controlplane.protocols import ReplicaStatus
    from controlplane.signals import Reading, Signals
    from tests.policy.build import T0, policy

    cfg = _config(tmp_path, alertmanager={"url": "http://127.0.0.1:9"})
    first = build_controller(cfg, policies=[])
    assert any(job[0] == "anomaly-state-save" and job[2] == SAVE_S for job in first.jobs)
    adv = next(a for a in first.loop.advisors if isinstance(a, AnomalyAdvisor))
    p = policy()
    for i in range(40):
        sig = Signals("default/vllm", T0 + 15 * i, ttft_p95=Reading.of(0.4), request_rate=Reading.of(3.0),
                      running_requests=Reading.of(4.0), kv_cache_usage_max=Reading.of(0.04))
        adv.advise(p, sig, ReplicaStatus(2, 2, 0), T0 + 15 * i)
    learned = adv.state()
    first.stop()
    saved = tmp_path / "forecast-state" / "anomaly.json"
    assert saved.exists()

    second = build_controller(cfg, policies=[])
    try:
        again = next(a for a in second.loop.advisors if isinstance(a, AnomalyAdvisor))
        assert again.state() == learned
        assert learned["targets"][p.target_key]["seen"] == 40
    finally:
        second.stop()

    saved.write_text("{not json")
    third = build_controller(cfg, policies=[])
    try:
        fresh = next(a for a in third.loop.advisors if isinstance(a, AnomalyAdvisor))
        assert fresh.state()["targets"] == {}
    finally:
        third.stop()
