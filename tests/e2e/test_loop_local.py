"""End to end: real Prometheus (Debian binary) scraping emulator replicas that the
local actuator starts as processes, with the real control loop deciding on what
Prometheus reports. Ticks are driven by the test (1 s apart) so each assertion
names a tick; everything runs on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controlplane.actuate.local import LocalActuator, emulator_command
from controlplane.local.demo import _bootstrap
from controlplane.local.prometheus import PrometheusServer
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.sources.prometheus import PrometheusSource
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary")


def _policy(group: str, **kw: object) -> ScalingPolicy:
    doc: dict[str, object] = {
        "name": group,
        "target": {"kind": "local", "group": group, "model_name": "e2e", "profile": "cpu-tiny"},
        "min_replicas": 1,
        "max_replicas": 3,
        "slo": {"ttft_p95_s": 5.0, "itl_p95_s": 1.0, "e2e_p95_s": 60.0},
        "signals": {"waiting_requests": 2.0, "kv_cache_usage": None, "running_requests": 3.0},
        "windows": {"stable_s": 6.0, "panic_s": 2.0, "scale_down_stabilization_s": 8.0},
        "steps": {"max_up_pods": 2, "max_down_pods": 1},
        "startup_s": 3.0,
        "max_signal_age_s": 10.0,
    }
    doc.update(kw)
    return ScalingPolicy.model_validate(doc)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[dict]:
    actuator = LocalActuator(tmp_path / "local", command_for=emulator_command(["--startup-s", "1"]), drain_grace_s=5.0)
    prom = PrometheusServer(tmp_path / "prom", file_sd_globs=[str(actuator.targets_dir / "*.json")]).start()
    try:
        yield {"actuator": actuator, "prom": prom, "db": Database(tmp_path / "cp.db")}
    finally:
        actuator.close()
        prom.stop()


def _loop(rig: dict, policy: ScalingPolicy) -> ControlLoop:
    return ControlLoop(
        policies=StaticPolicies([policy]),
        source=PrometheusSource(rig["prom"].url, timeout_s=2.0, window_s=4.0),
        actuator=rig["actuator"],
        log=DecisionLog(rig["db"]),
        metrics=ControllerMetrics(),
    )


def _burst(url: str, n: int, max_tokens: int) -> threading.Thread:
    """n concurrent long completions: with max_num_seqs 4, n - 4 of them queue."""

    def one() -> None:
        try:
            httpx.post(
                f"{url}/v1/completions",
                json={"model": "e2e", "prompt": "x " * 40, "max_tokens": max_tokens, "ignore_eos": True},
                timeout=60,
            )
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()

    def join_all() -> None:
        for t in threads:
            t.join(timeout=60)

    waiter = threading.Thread(target=join_all, daemon=True)
    waiter.start()
    return waiter


def _warm(loop: ControlLoop, ticks: int) -> None:
    for _ in range(ticks):
        loop.tick()
        time.sleep(1.0)


def test_burst_scales_up_within_two_ticks_then_down_after_stabilization(rig: dict) -> None:
    policy = _policy("burst")
    _bootstrap(rig["actuator"], policy)
    loop = _loop(rig, policy)
    _warm(loop, 4)
    replica = rig["actuator"].replicas("burst")[0]
    # 24 requests x 400 tokens (max_model_len 512) at ~4 ms a step hold 4 slots for ~10 s: waiting ~20 -> ceil(20/2) = 10 -> max 3.
    burst_at = time.time()
    waiter = _burst(replica.url, 24, 400)
    time.sleep(1.5)  # one scrape interval for Prometheus to see the queue
    patched_at = None
    for tick in range(1, 3):
        d = loop.tick()[0]
        if d.valid and d.desired > d.current:
            patched_at, reaction_tick = time.time(), tick
            break
        time.sleep(1.0)
    assert patched_at is not None, f"no scale-up within 2 ticks; last decision: {d.binding} {d.reasons}"
    print(f"reaction time burst->patch: {patched_at - burst_at:.1f} s (tick {reaction_tick})")
    waiter.join(timeout=60)
    # Quiet now. Down-stabilization (8 s) keeps the highest recommendation: no scale-down before it passes.
    quiet_from = time.time()
    downs = []
    while time.time() - quiet_from < 25:
        d = loop.tick()[0]
        if d.valid and d.desired < d.current:
            downs.append(time.time() - quiet_from)
        time.sleep(1.0)
    assert downs, "never scaled down after the quiet period"
    assert downs[0] >= 8.0 - 1.0, f"scaled down {downs[0]:.1f} s into the quiet, before the 8 s window"


def test_prometheus_down_keeps_replicas_and_invalidates(rig: dict) -> None:
    policy = _policy("blind", min_replicas=1, windows={"stable_s": 6.0, "panic_s": 2.0, "scale_down_stabilization_s": 0.0})
    _bootstrap(rig["actuator"], policy)
    loop = _loop(rig, policy)
    _warm(loop, 2)
    before = rig["actuator"].status(policy, time.time()).spec
    rig["prom"].stop()
    decisions = [loop.tick()[0] for _ in range(3)]
    assert all(not d.valid for d in decisions)
    assert all(d.binding.startswith("invalid") for d in decisions)
    assert all(any("refused" in r or "unreachable" in r.lower() for r in d.reasons) for d in decisions), decisions[0].reasons
    assert rig["actuator"].status(policy, time.time()).spec == before


def test_restart_is_cautious_and_shadow_never_patches(rig: dict) -> None:
    policy = _policy("restart", min_replicas=1)
    actuator = rig["actuator"]
    _bootstrap(actuator, policy)
    # Two replicas running and no load: a warmed-up controller would scale down after 8 s.
    boot2 = Decision(target=policy.target_key, policy=policy.name, at=time.time(), valid=True, current=1, desired=2,
                     binding="test", reasons=("second replica",))
    actuator.scale(policy, boot2, time.time())
    deadline = time.time() + 30
    while actuator.status(policy, time.time()).ready < 2 and time.time() < deadline:
        time.sleep(0.3)
    # A fresh loop (a restarted controller) holds no window of data: no scale-down for its first window.
    loop = _loop(rig, policy)
    first = []
    for _ in range(4):
        first.append(loop.tick()[0])
        time.sleep(1.0)
    assert all(d.desired >= d.current for d in first), [(d.desired, d.current, d.binding) for d in first]
    assert actuator.status(policy, time.time()).spec == 2
    # Shadow mode: the same situation, decided and recorded, never applied.
    shadow = _policy("restart", min_replicas=1, mode="shadow")
    sloop = _loop(rig, shadow)
    for _ in range(14):
        sloop.tick()
        time.sleep(1.0)
    records = sloop.log.list(target=shadow.target_key, limit=14)
    assert any(r.decision.desired < r.decision.current for r in records), "shadow should still decide to scale down"
    assert not any(r.patched for r in records)
    assert actuator.status(policy, time.time()).spec == 2
