"""End to end, alerts: a REAL Alertmanager (Debian prometheus-alertmanager) routing to a
webhook receiver in the test, a real Prometheus scraping an emulator replica started by
the local actuator, and the live controller from ``build_controller`` (APScheduler
ticking every 1 s, the anomaly advisor wired because ``alertmanager.url`` is set).

A light steady load runs against the replica. Then, one after the other: a latency
fault (``latency_multiplier``) and an error burst (``error_ratio``) are injected with
``PUT /admin/faults``; each must reach the webhook as a firing alert within a few ticks,
show on the decisions as an anomaly, and reach it again as "resolved" after the fault is
removed. Every process is started on 127.0.0.1 free ports and stopped by PID.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.actuate.local import LocalActuator, emulator_command
from controlplane.config import ControllerConfig
from controlplane.controller import Controller, build_controller
from controlplane.local.demo import _bootstrap
from controlplane.local.prometheus import PrometheusServer
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import ScaleResult
from tests.harness.alertmanager import AlertmanagerServer, WebhookReceiver

pytestmark = [
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary"),
    pytest.mark.timeout(150),
]

POLICY = {
    "name": "alerts",
    "target": {"kind": "local", "group": "alerts", "model_name": "e2e", "profile": "cpu-tiny"},
    "min_replicas": 1,
    "max_replicas": 1,
    # cpu-tiny answers a 20-token prompt in ~10 ms: 0.1 s is far above it, and a 50x slowdown (~0.4 s) far above 0.1 s.
    "slo": {"ttft_p95_s": 0.1, "itl_p95_s": 1.0, "e2e_p95_s": 60.0},
    "signals": {"waiting_requests": 2.0, "kv_cache_usage": None, "running_requests": 3.0},
    "windows": {"stable_s": 5.0, "panic_s": 2.0, "scale_down_stabilization_s": 8.0},
    "startup_s": 3.0,
    "max_signal_age_s": 10.0,
}


class Load:
    """One client in a loop, 0.1 s apart: about 8 requests/s when healthy, never more than
    one in flight (so a slow replica is slow without load). Bounded in count and time."""

    def __init__(self, url: str, max_requests: int = 2000, max_s: float = 120.0) -> None:
        self.url, self.max_requests, self.max_s = url, max_requests, max_s
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        end = time.monotonic() + self.max_s
        body = {"model": "e2e", "prompt": "x " * 20, "max_tokens": 4, "ignore_eos": True}
        with httpx.Client(timeout=30, trust_env=False) as http:
            while not self.stop.is_set() and self.sent < self.max_requests and time.monotonic() < end:
                try:
                    http.post(f"{self.url}/v1/completions", json=body)
                except httpx.HTTPError:
                    pass
                self.sent += 1
                self.stop.wait(0.1)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(35)


@pytest.fixture
def rig(tmp_path: Path, alertmanager: AlertmanagerServer, webhook: WebhookReceiver) -> Iterator[dict[str, Any]]:
    actuator = LocalActuator(tmp_path / "local", command_for=emulator_command(["--startup-s", "0"]), drain_grace_s=2.0)
    prom = PrometheusServer(tmp_path / "prom", file_sd_globs=[str(actuator.targets_dir / "*.json")]).start()
    parts: dict[str, Any] = {"actuator": actuator, "prom": prom, "am": alertmanager, "webhook": webhook}
    try:
        yield parts
    finally:
        for name in ("load", "controller"):
            part = parts.get(name)
            if part is not None:
                part.close() if name == "load" else part.stop()
        actuator.close()
        prom.stop()


def _faults(url: str, **faults: Any) -> None:
    httpx.put(f"{url}/admin/faults", json=faults, timeout=5, trust_env=False).raise_for_status()


def _phase(rig: dict[str, Any], decisions: list[Decision], url: str, fault: dict[str, Any], names: set[str],
           clear: dict[str, Any]) -> tuple[str, float, float]:
    """Inject ``fault``; wait for a firing alert named in ``names``; remove it; wait for
    that alert's "resolved". Returns (alert name, arrival s after injection, resolve s after removal)."""
    hook: WebhookReceiver = rig["webhook"]
    injected = time.time()
    _faults(url, **fault)
    try:
        arrived, firing = hook.wait_for(
            lambda a: a["status"] == "firing" and a["labels"]["alertname"] in names
            and a["labels"]["target"] == "local/alerts", timeout_s=25)
    except AssertionError as exc:
        seen = [(round(d.at - injected, 1), d.inputs.get("signals"), d.anomalies) for d in decisions[-4:]]
        raise AssertionError(f"{exc}; last decisions: {seen}") from None
    name = firing["labels"]["alertname"]
    assert firing["labels"]["deployment"] == "alerts" and firing["labels"]["severity"] in ("page", "ticket")
    assert firing["annotations"]["runbook_url"].endswith(f"/runbooks/{name}.md")
    assert firing["annotations"]["evidence"]
    # The decisions made while it fired carry it as an anomaly (the tick records its decision
    # after handing the alert over: allow it a moment).
    deadline = time.monotonic() + 5
    while not any(a.startswith(name) for d in list(decisions) if d.at >= injected for a in d.anomalies):
        assert time.monotonic() < deadline, (name, [(round(d.at - injected, 1), d.anomalies) for d in decisions[-5:]])
        time.sleep(0.2)
    removed = time.time()
    _faults(url, **clear)
    resolved_at, resolved = hook.wait_for(
        lambda a: a["status"] == "resolved" and a["labels"]["alertname"] == name and a["endsAt"] > firing["startsAt"],
        timeout_s=30)
    assert resolved["labels"] == firing["labels"]
    return name, arrived - injected, resolved_at - removed


def test_fault_alerts_arrive_and_resolve_through_real_alertmanager(rig: dict[str, Any], tmp_path: Path) -> None:
    policy = ScalingPolicy.model_validate(POLICY)
    actuator: LocalActuator = rig["actuator"]
    _bootstrap(actuator, policy)
    replica = actuator.replicas("alerts")[0]
    config = ControllerConfig.model_validate({
        "prometheus": {"url": rig["prom"].url, "timeout_s": 2.0},
        "alertmanager": {"url": rig["am"].url, "timeout_s": 2.0},
        "loop": {"tick_s": 1.0, "database": str(tmp_path / "cp.db"), "metrics_port": 0},
        "api": {"enabled": False},
    })
    controller: Controller = build_controller(config, policies=[policy], local=actuator)
    decisions: list[Decision] = []

    def keep(d: Decision, _: ScaleResult | None) -> None:
        decisions.append(d)

    controller.loop.on_decision = keep
    rig["load"] = Load(replica.url)
    rig["controller"] = controller.start()
    # Warm up: valid decisions with a TTFT p95, for the spike baseline (5 calm ticks).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calm = [d for d in decisions if d.valid and "ttft_p95" in d.inputs.get("signals", {})]
        if len(calm) >= 6:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"no valid decisions with a TTFT p95: {[d.reasons for d in decisions[-2:]]}")
    assert not any(d.anomalies for d in decisions), [d.anomalies for d in decisions if d.anomalies]

    latency = _phase(rig, decisions, replica.url, {"latency_multiplier": 50.0},
                     {"VllmLatencyWithoutLoad", "VllmLatencySpike"}, {"latency_multiplier": 1.0})
    errors = _phase(rig, decisions, replica.url, {"error_ratio": 0.5}, {"VllmErrorBurst"}, {"error_ratio": 0.0})
    for name, arrival, resolve in (latency, errors):
        print(f"{name}: firing at the webhook {arrival:.1f} s after the fault, resolved {resolve:.1f} s after removal")
    # The advisor exported its rule scores on the controller's own /metrics registry.
    gauge = controller.loop.metrics.registry.get_sample_value(
        "controlplane_anomaly_score",
        {"policy": "alerts", "target": "local/alerts", "signal": "VllmErrorBurst", "detector": "rule"},
    )
    assert gauge is not None
    assert all(r.valid for r in decisions[-3:])
