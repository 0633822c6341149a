"""The control plane's own /metrics: what it decided, how long each step took, what failed.

Owns: the controller's Prometheus metrics on an injectable registry (tests build a
fresh one), and serving them over HTTP. Metric names come from the catalog so the
generated dashboards and alert rules query exactly these series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from controlplane import catalog
from controlplane.policy.decision import Decision
from controlplane.protocols import ReplicaStatus, ScaleResult
from controlplane.signals import Signals

__all__ = ["ControllerMetrics", "serve_metrics"]

_TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _metric(name: str, registry: CollectorRegistry, buckets: tuple[float, ...] = _TICK_BUCKETS):  # type: ignore[no-untyped-def]
    """Build the client metric exactly as the catalog declares it (name, help, labels)."""
    fam = catalog.CONTROLPLANE[name]
    if fam.type == "counter":
        # prometheus_client adds the _total suffix itself.
        return Counter(fam.name.removesuffix("_total"), fam.help, fam.labels, registry=registry)
    if fam.type == "histogram":
        return Histogram(fam.name, fam.help, fam.labels, buckets=buckets, registry=registry)
    return Gauge(fam.name, fam.help, fam.labels, registry=registry)


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, identity: str = "local") -> None:
        self.registry = r = registry or CollectorRegistry()
        self.identity = identity
        self.desired = _metric("controlplane_desired_replicas", r)
        self.current = _metric("controlplane_current_replicas", r)
        self.ready = _metric("controlplane_ready_replicas", r)
        self.pending = _metric("controlplane_pending_replicas", r)
        self.valid = _metric("controlplane_decision_valid", r)
        self.signal_missing = _metric("controlplane_signal_missing", r)
        self.binding = _metric("controlplane_binding_constraint", r)
        self.decisions = _metric("controlplane_decisions_total", r)
        self.scale_events = _metric("controlplane_scale_events_total", r)
        self.owner_conflict = _metric("controlplane_owner_conflict", r)
        self.step_duration = _metric("controlplane_tick_duration_seconds", r)
        self.step_errors = _metric("controlplane_step_errors_total", r)
        self.ticks = _metric("controlplane_ticks_total", r)
        self.last_tick = _metric("controlplane_last_tick_timestamp_seconds", r)
        self.leader = _metric("controlplane_leader", r).labels(identity)
        self.min_replicas = _metric("controlplane_min_replicas", r)
        self.max_replicas = _metric("controlplane_max_replicas", r)
        self.anomaly_score = _metric("controlplane_anomaly_score", r)
        self.forecast = _metric("controlplane_forecast_request_rate", r)
        self.forecast_error = _metric("controlplane_forecast_error_ratio", r)
        self._bindings: dict[tuple[str, str], str] = {}

    def tick_timer(self):  # type: ignore[no-untyped-def]
        """Times a whole tick as the step ``tick``."""
        return self.step_duration.labels("tick").time()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except Exception:
            self.step_errors.labels(name).inc()
            raise
        finally:
            self.step_duration.labels(name).observe(time.perf_counter() - start)

    def observe(
        self, decision: Decision, status: ReplicaStatus, result: ScaleResult | None, signals: Signals | None = None
    ) -> None:
        lv = (decision.policy, decision.target)
        self.current.labels(*lv).set(status.spec)
        self.ready.labels(*lv).set(status.ready)
        self.pending.labels(*lv).set(status.pending)
        self.valid.labels(*lv).set(1 if decision.valid else 0)
        self.owner_conflict.labels(*lv).set(1 if status.owner_conflict else 0)
        if decision.valid:
            self.desired.labels(*lv).set(decision.desired)
        if decision.bounds != (0, 0):
            self.min_replicas.labels(*lv).set(decision.bounds[0])
            self.max_replicas.labels(*lv).set(decision.bounds[1])
        self.decisions.labels(*lv, "true" if decision.valid else "false").inc()
        previous = self._bindings.get(lv)
        if previous is not None and previous != decision.binding:
            self.binding.remove(*lv, previous)
        self.binding.labels(*lv, decision.binding).set(1)
        self._bindings[lv] = decision.binding
        if signals is not None:
            for name, reading in signals.readings().items():
                self.signal_missing.labels(*lv, name).set(0 if reading.ok else 1)
        if result is not None and result.patched:
            direction = "up" if result.replicas > status.spec else "down"
            self.scale_events.labels(*lv, direction).inc()


def serve_metrics(metrics: ControllerMetrics, port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr, registry=metrics.registry)
