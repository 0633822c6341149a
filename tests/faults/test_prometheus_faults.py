"""Fault matrix (a)-(d): Prometheus down, slow, answering NaN, and data gone stale.

Each case warms the controller on the healthy rig, injects the fault, then drops
min_replicas to 1 -- the moment the baseline (test_baseline.py) scales 2 -> 1 --
and checks that nothing is patched, every decision is invalid with the reason
named, and the controller's own metrics say so.
"""

from __future__ import annotations

import pytest

from controlplane.policy.decision import Decision
from tests.faults.conftest import group
from tests.faults.rig import (
    DelayProxy,
    controller,
    metric,
    policy,
    tick_until,
    ticks_after_floor_drop,
    wait_for,
    warm,
)

# Bounded: a case that hangs fails at 90 s instead of holding the suite (all run in CI, none opt-in).
pytestmark = pytest.mark.timeout(90)


def _held(decisions: list[Decision], kube, deployment: str, reason: str) -> None:
    for d in decisions:
        assert not d.valid and d.desired == d.current == 2, (d.binding, d.reasons)
        assert d.binding.startswith("invalid:")
        assert any(reason in r for r in d.reasons), d.reasons
    assert kube.replicas(deployment) == 2
    assert kube.requests("PATCH") == [], "nothing may be patched on invalid data"


def _alarm(ctl, deployment: str, signal: str = "waiting_requests") -> None:
    lv = {"policy": deployment, "target": f"default/{deployment}"}
    assert metric(ctl, "controlplane_decision_valid", **lv) == 0
    assert metric(ctl, "controlplane_signal_missing", **lv, signal=signal) == 1
    assert (metric(ctl, "controlplane_decisions_total", **lv, valid="false") or 0) >= 3
    assert metric(ctl, "controlplane_scale_events_total", **lv, direction="down") is None


def test_a_prometheus_down(world, kube, prometheus_factory, tmp_path) -> None:
    """A Prometheus of its own (stopped by PID mid-case) scraping the shared emulator."""
    prom = prometheus_factory()
    prom.set_target_groups("vllm", [group(world.emulators[0].target, "chat", "e0")])
    prom.wait_for_up("vllm", 1, timeout_s=30)
    ctl = controller(kube.url, prom.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl)
        prom.stop()
        decisions = ticks_after_floor_drop(ctl, "chat")
        _held(decisions, kube, "chat", "connection refused")
        _alarm(ctl, "chat")
    finally:
        ctl.stop()


def test_b_prometheus_slow(world, kube, tmp_path) -> None:
    """A proxy delays every answer 3 s; the source's timeout is 1 s."""
    with DelayProxy(world.prometheus.url) as proxy:
        ctl = controller(kube.url, proxy.url, tmp_path / "cp.db", [policy("chat")], prom_timeout_s=1.0)
        try:
            warm(ctl)
            proxy.set_delay(3.0)
            before = proxy.requests
            decisions = ticks_after_floor_drop(ctl, "chat")
            _held(decisions, kube, "chat", "timeout after 1 s")
            # The first timeout ends the tick's collection: one slow request per tick, not one per signal.
            assert proxy.requests - before == len(decisions)
            _alarm(ctl, "chat")
        finally:
            ctl.stop()


def test_c_prometheus_returns_nan(world, kube, tmp_path) -> None:
    """A second scrape target of Deployment nanchat reports its queue gauge as NaN, so sum() is NaN."""
    base = [group(world.emulators[0].target, "chat", "e0"), group(world.emulators[0].target, "nanchat", "e0")]
    stale = [group(world.emulators[1].target, "stalechat", "e1")]
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("nanchat")])
    try:
        warm(ctl)
        world.prometheus.set_target_groups("vllm", [*base, group(world.nan.target, "nanchat", "n0"), *stale])
        tick_until(ctl, "the NaN to reach the decision", lambda d: not d.valid, ticks=30)
        decisions = ticks_after_floor_drop(ctl, "nanchat")
        _held(decisions, kube, "nanchat", "waiting_requests missing: NaN")
        _alarm(ctl, "nanchat")
    finally:
        world.prometheus.set_target_groups("vllm", [*base, *stale])
        ctl.stop()


def test_d_stale_data(world, kube, tmp_path) -> None:
    """The only replica of stalechat is stopped (SIGTERM by PID): its series go stale and vanish."""
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("stalechat")])
    try:
        warm(ctl)
        world.emulators[1].stop()
        wait_for(
            "Prometheus to mark the target down",
            lambda: world.prometheus.value('up{pod="stalechat-7d9f8-e1"}') == 0,
            timeout_s=10,
        )
        decisions = ticks_after_floor_drop(ctl, "stalechat")
        _held(decisions, kube, "stalechat", "no recent sample")
        _alarm(ctl, "stalechat")
    finally:
        ctl.stop()
