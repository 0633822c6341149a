"""/healthz beside /metrics: healthy while ticks keep finishing, 503 when they stop.

Worked numbers: tick 15 s -> stale after 3 x 15 + 30 = 75 s.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from controlplane.health import TickHealth, serve_metrics_and_health
from controlplane.ports import free_port


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("label", "ticked_at", "now", "healthy", "detail"),
    [
        ("starting, within the limit", None, 1074.0, True, "starting"),
        ("never ticked past the limit", None, 1075.0, False, "no tick"),
        ("ticked 74 s ago", 1001.0, 1075.0, True, "ok: last tick 74 s ago"),
        ("ticked 75 s ago", 1001.0, 1076.0, False, "last tick 75 s ago"),
    ],
)
def test_tick_health(label: str, ticked_at: float | None, now: float, healthy: bool, detail: str) -> None:
    clock = _Clock()
    health = TickHealth(15.0, monotonic=clock)
    assert health.stale_after_s == 75.0
    if ticked_at is not None:
        clock.t = ticked_at
        health.ticked()
    clock.t = now
    ok, text = health.check()
    assert ok is healthy and detail in text


def test_served_over_http_beside_the_metrics() -> None:
    clock = _Clock()
    health = TickHealth(1.0, monotonic=clock)  # stale after 33 s
    registry = CollectorRegistry()
    Counter("controlplane_ticks", "Control ticks completed.", registry=registry).inc()
    port = free_port()
    stop = serve_metrics_and_health(registry, health, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
            assert "controlplane_ticks_total 1.0" in http.get("/metrics").text
            clock.t += 40.0
            r = http.get("/healthz")
            assert r.status_code == 503 and "no tick" in r.text
    finally:
        stop()
