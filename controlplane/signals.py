"""Per-deployment signals with units, and the explicit "no data" value.

Owns: the :class:`Reading` value (a number, or missing with the reason), the
:class:`Signals` bundle that every source fills and every pure stage reads, and
:class:`ReplicaStatus`, what the actuator observes of a target's replicas.
Must not import: any HTTP, Kubernetes, Elasticsearch or web library.

Missing data is never zero. A source that cannot read a series returns
``Reading.missing(reason)``; the decider treats any missing input it needs as an
invalid decision, and an invalid decision never scales down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["Reading", "Signals", "SIGNAL_UNITS", "SIZE_HISTOGRAMS", "ReplicaStatus"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value, or the reason it could not be measured.

    ``value`` is None exactly when ``reason`` is set. ``at`` is the sample time
    (Unix seconds) of the newest data behind the value, when known.
    """

    value: float | None
    reason: str | None = None
    at: float | None = None

    @staticmethod
    def of(value: float, at: float | None = None) -> Reading:
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return Reading(None, f"value is {v}", at)
        return Reading(v, None, at)

    @staticmethod
    def missing(reason: str, at: float | None = None) -> Reading:
        return Reading(None, reason, at)

    @property
    def ok(self) -> bool:
        return self.value is not None

    def stale(self, now: float, max_age_s: float) -> bool:
        return self.at is not None and now - self.at > max_age_s

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason, "at": self.at}


def _missing() -> Reading:
    return Reading.missing("not collected")


# Histogram fields of Signals (cumulative requests/s per bucket bound) -> the vLLM family behind each
SIZE_HISTOGRAMS: dict[str, str] = {
    "prompt_size_buckets": "vllm:request_prompt_tokens",
    "output_size_buckets": "vllm:request_generation_tokens",
}

# Units of every signal field, for display, dashboards and the decision log.
SIGNAL_UNITS: dict[str, str] = {
    "request_rate": "requests/s",
    "prompt_tokens_rate": "tokens/s",
    "generation_tokens_rate": "tokens/s",
    "waiting_requests": "requests",
    "running_requests": "requests",
    "kv_cache_usage_mean": "ratio 0-1",
    "kv_cache_usage_max": "ratio 0-1",
    "ttft_p50": "s",
    "ttft_p95": "s",
    "ttft_p99": "s",
    "ttft_p95_fastest_replica": "s",
    "itl_p95": "s",
    "e2e_p95": "s",
    "error_ratio": "ratio 0-1",
    "preemption_rate": "preemptions/s",
    "prefix_cache_hit_ratio": "ratio 0-1",
    "gpu_utilization": "ratio 0-1",
    "gpu_memory_used_bytes": "bytes",
    "ready_replicas": "replicas",
    "log_error_rate": "errors/s",
}


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything one tick knows about one serving deployment.

    Totals are summed over the deployment's replicas; per-replica figures are
    derived by the consumer from ``ready_replicas`` so that both stay consistent.
    ``collected_at`` is the evaluation time the source used.
    """

    target: str
    collected_at: float
    request_rate: Reading = field(default_factory=_missing)
    prompt_tokens_rate: Reading = field(default_factory=_missing)
    generation_tokens_rate: Reading = field(default_factory=_missing)
    waiting_requests: Reading = field(default_factory=_missing)
    running_requests: Reading = field(default_factory=_missing)
    kv_cache_usage_mean: Reading = field(default_factory=_missing)
    kv_cache_usage_max: Reading = field(default_factory=_missing)
    ttft_p50: Reading = field(default_factory=_missing)
    ttft_p95: Reading = field(default_factory=_missing)
    ttft_p99: Reading = field(default_factory=_missing)
    # the lowest per-replica TTFT p95: whether any replica still serves at its usual latency
    ttft_p95_fastest_replica: Reading = field(default_factory=_missing)
    itl_p95: Reading = field(default_factory=_missing)
    e2e_p95: Reading = field(default_factory=_missing)
    error_ratio: Reading = field(default_factory=_missing)
    preemption_rate: Reading = field(default_factory=_missing)
    prefix_cache_hit_ratio: Reading = field(default_factory=_missing)  # prompt tokens found cached / looked up
    gpu_utilization: Reading = field(default_factory=_missing)
    gpu_memory_used_bytes: Reading = field(default_factory=_missing)
    ready_replicas: Reading = field(default_factory=_missing)
    log_error_rate: Reading = field(default_factory=_missing)
    # vLLM's prompt-size histogram over the rate window: (bucket upper bound in tokens, requests/s
    # at or under it), cumulative, +Inf last; empty when not collected or no request finished
    prompt_size_buckets: tuple[tuple[float, float], ...] = ()
    # the same for vLLM's output-size histogram (vllm:request_generation_tokens)
    output_size_buckets: tuple[tuple[float, float], ...] = ()

    def readings(self) -> dict[str, Reading]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in SIGNAL_UNITS}

    def with_readings(self, **readings: Reading) -> Signals:
        return replace(self, **readings)  # type: ignore[arg-type]  # only Reading fields are passed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "collected_at": self.collected_at}
        for name, r in self.readings().items():
            out[name] = r.to_dict()
        # JSON has no Infinity: the +Inf bound is written as the string "+Inf", as Prometheus does
        for name in SIZE_HISTOGRAMS:
            out[name] = [["+Inf" if math.isinf(le) else le, v] for le, v in getattr(self, name)]
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Signals:
        kwargs: dict[str, Any] = {"target": data["target"], "collected_at": float(data["collected_at"])}
        for name in SIGNAL_UNITS:
            if name in data and data[name] is not None:
                d = data[name]
                kwargs[name] = Reading(d.get("value"), d.get("reason"), d.get("at"))
        for name in SIZE_HISTOGRAMS:
            buckets = data.get(name) or ()
            try:
                kwargs[name] = tuple((float(le), float(v)) for le, v in buckets)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: expected [[le, requests/s], ...], got {buckets!r}") from exc
        return Signals(**kwargs)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """What the actuator sees of a target: spec, ready and still-starting replicas.

    ``owner_conflict`` is set when something else also scales the target (an HPA,
    or a replica count changed by someone since our last patch).
    """

    spec: int
    ready: int
    pending: int
    owner_conflict: str | None = None
    observed_at: float = 0.0
