"""The embedded demo: the whole control loop on one machine, in a few minutes.

Starts a real Prometheus, emulator replicas through the local actuator, and the
controller (ticking every 2 s); drives a time-compressed synthetic workload (or a
trace file) through the replicas; then prints a summary table and writes a chart,
the decision log and the raw timeline to the output folder.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.actuate.local import LocalActuator, emulator_command
from controlplane.clock import SystemClock
from controlplane.controller import Controller, local_config, wire_advisors
from controlplane.local.prometheus import PrometheusServer
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.ports import free_port
from controlplane.protocols import ScaleResult
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics, serve_metrics
from controlplane.traces.model import Trace

__all__ = ["DemoSettings", "demo_policy", "run_demo", "TimelinePoint"]


def demo_policy(max_replicas: int = 4) -> ScalingPolicy:
    """A policy sized for the ``cpu-tiny`` emulator profile and a 2 s tick.

    Windows are shortened in proportion to the compressed workload: a 20 s stable
    window, 4 s panic window and a 40 s down-stabilization instead of 60/6/300.
    The running-requests target is half of the profile's 4 batch slots, leaving
    headroom for the replica start-up the workload cannot wait for.
    """
    return ScalingPolicy.model_validate(
        {
            "name": "demo",
            "target": {"kind": "local", "group": "demo", "model_name": "demo-llm", "profile": "cpu-tiny"},
            "min_replicas": 1,
            "max_replicas": max_replicas,
            "slo": {"ttft_p95_s": 0.5, "itl_p95_s": 0.05, "e2e_p95_s": 10.0},
            "signals": {"waiting_requests": 1.0, "kv_cache_usage": 0.75, "running_requests": 2.0},
            "windows": {"stable_s": 20.0, "panic_s": 4.0, "scale_down_stabilization_s": 40.0},
            "steps": {"max_up_pods": 2, "max_down_pods": 1},
            "startup_s": 5.0,
            "max_signal_age_s": 10.0,
        }
    )


@dataclass
class DemoSettings:
    out_dir: Path = Path("demo-out")
    trace: Path | None = None
    load_seconds: float = 150.0
    tail_seconds: float = 45.0
    tick_s: float = 2.0
    replica_startup_s: float = 3.0
    max_replicas: int = 4
    seed: int = 7
    max_requests: int = 6000


@dataclass
class TimelinePoint:
    t: float
    spec: int
    ready: int
    desired: int
    valid: bool
    binding: str
    ttft_p95: float | None
    request_rate: float | None


@dataclass
class _Recorder:
    start: float
    points: list[TimelinePoint] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    echo: Any = print

    def __call__(self, decision: Decision, result: ScaleResult | None) -> None:
        sig = decision.inputs.get("signals", {})
        status = decision.inputs.get("status", {})
        self.points.append(
            TimelinePoint(
                t=decision.at - self.start,
                spec=int(status.get("spec", decision.current)),
                ready=int(status.get("ready", 0)),
                desired=decision.desired,
                valid=decision.valid,
                binding=decision.binding,
                ttft_p95=sig.get("ttft_p95"),
                request_rate=sig.get("request_rate"),
            )
        )
        if result is not None and result.patched:
            reason = decision.reasons[-1] if decision.reasons else decision.binding
            self.events.append(f"t={decision.at - self.start:5.0f}s  {decision.current} -> {decision.desired}  ({reason})")
            self.echo(f"scale {decision.current} -> {decision.desired}: binding {decision.binding}; {reason}")




def _bootstrap(actuator: LocalActuator, policy: ScalingPolicy, timeout_s: float = 60.0) -> None:
    """Start min_replicas before the loop: with no replica there is no data to decide on."""
    now = time.time()
    boot = Decision(
        target=policy.target_key,
        policy=policy.name,
        at=now,
        valid=True,
        current=0,
        desired=policy.min_replicas,
        binding="bootstrap",
        reasons=("start min_replicas",),
    )
    actuator.scale(policy, boot, now)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if actuator.status(policy, time.time()).ready >= policy.min_replicas:
            return
        time.sleep(0.3)
    raise TimeoutError("demo replicas did not become ready within 60 s; see the replica logs")


def run_demo(settings: DemoSettings, trace: Trace, drive_load: Any, echo: Any = print) -> dict[str, Any]:
    """Run the demo; ``drive_load(trace, targets_file, seconds)`` returns per-request results."""
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    work = out / "run"
    policy = demo_policy(settings.max_replicas)
    actuator = LocalActuator(
        work, command_for=emulator_command(["--startup-s", str(settings.replica_startup_s)]), drain_grace_s=10.0
    )
    metrics_port = free_port()
    prom = PrometheusServer(
        work / "prometheus",
        file_sd_globs=[str(actuator.targets_dir / "*.json")],
        static_targets={"controlplane": [f"127.0.0.1:{metrics_port}"]},
        scrape_interval_s=1.0,
    )
    db_path = out / "decisions.db"
    db_path.unlink(missing_ok=True)
    shutil.rmtree(work / "forecast-state", ignore_errors=True)  # a fresh run learns afresh
    db = Database(db_path)
    recorder = _Recorder(start=time.time(), echo=echo)
    controller: Controller | None = None
    try:
        prom.start()
        echo(f"prometheus ready at {prom.url}")
        _bootstrap(actuator, policy)
        echo(f"{policy.min_replicas} emulator replica(s) ready; controller ticking every {settings.tick_s:g} s")
        from controlplane.sources.prometheus import PrometheusSource

        metrics = ControllerMetrics()
        serve_metrics(metrics, metrics_port)
        store = StaticPolicies([policy])
        wiring = wire_advisors(
            local_config(settings.tick_s, db_path, work / "forecast-state"), source=PrometheusSource(prom.url, timeout_s=2.0),
            db=db, clock=SystemClock(), metrics=metrics, store=store, local=actuator,
        )
        loop = ControlLoop(
            policies=store,
            source=wiring.source,
            actuator=actuator,
            log=DecisionLog(db),
            metrics=metrics,
            on_decision=recorder,
            advisors=wiring.advisors,
        )
        controller = Controller(
            loop=loop, tick_s=settings.tick_s, jobs=wiring.jobs, tick_triggers=wiring.tick_triggers,
            on_stop=wiring.on_stop,
        ).start()
        recorder.start = time.time()
        requests = drive_load(trace, actuator.targets_dir / "demo.json", settings.load_seconds)
        echo(f"load finished; watching {settings.tail_seconds:g} s more for the scale-down")
        time.sleep(settings.tail_seconds)
    finally:
        if controller is not None:
            controller.stop()
        actuator.close()
        prom.stop()
    summary = summarize(policy, requests, recorder, settings)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "timeline.json").write_text(json.dumps([p.__dict__ for p in recorder.points], indent=1))
    from controlplane.local.demo_report import write_chart

    write_chart(out / "demo.png", policy, requests, recorder.points, recorder.start)
    db.close()
    summary["events"] = recorder.events
    return summary


def summarize(policy: ScalingPolicy, requests: list[dict[str, Any]], recorder: _Recorder, s: DemoSettings) -> dict[str, Any]:
    import numpy as np

    ok = [r for r in requests if r.get("ok")]
    ttft = np.array([r["ttft_s"] for r in ok if r.get("ttft_s") is not None], dtype=float)
    slo = policy.slo.ttft_p95_s
    pts = recorder.points
    replica_s = 0.0
    for a, b in zip(pts, pts[1:], strict=False):
        replica_s += a.spec * (b.t - a.t)
    ups = sum(1 for a, b in zip(pts, pts[1:], strict=False) if b.spec > a.spec)
    downs = sum(1 for a, b in zip(pts, pts[1:], strict=False) if b.spec < a.spec)
    return {
        "requests": len(requests),
        "ok": len(ok),
        "errors": len(requests) - len(ok),
        "ttft_slo_s": slo,
        "share_within_ttft_slo": float(np.mean(ttft <= slo)) if len(ttft) else None,
        "ttft_p50_s": float(np.percentile(ttft, 50)) if len(ttft) else None,
        "ttft_p95_s": float(np.percentile(ttft, 95)) if len(ttft) else None,
        "replica_seconds": round(replica_s, 1),
        "peak_replicas": max((p.spec for p in pts), default=0),
        "scale_ups": ups,
        "scale_downs": downs,
        "decisions": len(pts),
        "invalid_decisions": sum(1 for p in pts if not p.valid),
    }
