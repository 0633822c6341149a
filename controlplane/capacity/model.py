"""Sustainable load per replica at the SLO, from the performance profile, corrected online.

Owns: :func:`capacity_at_slo` (the modelled capacity), :func:`simulate_latency`
(one measurement it bisects on) and :class:`CapacityEstimator` (the online
correction from observed latency against load).
Must not import: any I/O library (pure core); the engine model is pure too.

Modelled capacity -- method and assumptions
-------------------------------------------
The capacity is the largest Poisson arrival rate of identical requests (mean
prompt ``P`` and output ``O`` tokens) at which one replica, as modelled by
:class:`~controlplane.capacity.engine.ReplicaEngine` (continuous batching, chunked
prefill, KV-cache admission and preemption), keeps the TTFT p95 and the ITL
p95 under the SLO. It is found by bisection on the rate between 0 and the
saturated throughput ``profile.max_requests_per_s(P, O)``:

* each probe replays ``n_requests`` seeded Poisson arrivals and drops the
  first 10 % (warm-up) from the percentiles;
* ITL per request is its mean time per output token (vLLM's
  ``time_per_output_token``); the p95 is over requests, which under-states
  token-level spikes when a long prefill chunk lands in a decode step;
* sizes are fixed at the means: real size spread raises the TTFT tail, which
  the online correction below is there to learn;
* latency is assumed to grow with rate (it does in this model), so the
  feasible rates form an interval starting at 0;
* the search stops at ``max_utilization`` (90 %) of saturation: near
  saturation the queue's steady state takes far longer to reach than any
  probe runs, so a probe there would report latencies it cannot sustain.

Results are cached per (profile, sizes, SLO, probe settings): the bisection
costs about ``12 x n_requests`` engine requests, tens of milliseconds.

Online correction
-----------------
:class:`CapacityEstimator` holds ``capacity = modelled x factor``, the factor
bounded in [``min_factor``, ``max_factor``], and is fed per-replica load with
the observed TTFT p95 (and optionally ITL p95):

* SLO missed at a load ``L`` below the capacity ``C`` (and above
  ``evidence_load`` x C, so a miss at near-idle -- a cold start, one huge
  prompt -- is not blamed on capacity): the true capacity is at most about
  L, so ``C <- max(L, C x (1 - down_step))``;
* SLO met at a load ``L`` above ``C``: the replica sustained L, so
  ``C <- min(L, C x (1 + up_step))`` -- up more slowly than down;
* anything else (met below C, missed above C) agrees with the model: no change.
Missing observations change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from controlplane.capacity.engine import FINISHED, ReplicaEngine
from controlplane.capacity.profile import PerformanceProfile

__all__ = ["Workload", "LatencySample", "ReplicaCapacity", "simulate_latency", "capacity_at_slo",
           "CapacityEstimator"]


@dataclass(frozen=True)
class Workload:
    """Mean request size in tokens."""

    prompt_tokens: float
    output_tokens: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.prompt_tokens) and self.prompt_tokens >= 1):
            raise ValueError(f"prompt_tokens: must be >= 1, got {self.prompt_tokens!r}")
        if not (math.isfinite(self.output_tokens) and self.output_tokens >= 1):
            raise ValueError(f"output_tokens: must be >= 1, got {self.output_tokens!r}")

    @staticmethod
    def from_rates(request_rate: float | None, prompt_tokens_rate: float | None,
                   generation_tokens_rate: float | None) -> Workload | None:
        """Mean sizes from observed rates (tokens/s over requests/s); None when any is missing or idle."""
        rates = (request_rate, prompt_tokens_rate, generation_tokens_rate)
        if any(r is None or not math.isfinite(r) for r in rates):
            return None
        assert request_rate is not None and prompt_tokens_rate is not None and generation_tokens_rate is not None
        if request_rate <= 0:
            return None
        return Workload(max(1.0, prompt_tokens_rate / request_rate), max(1.0, generation_tokens_rate / request_rate))


@dataclass(frozen=True)
class LatencySample:
    rate: float  # requests/s offered
    ttft_p95_s: float
    itl_p95_s: float
    completed: int


@dataclass(frozen=True)
class ReplicaCapacity:
    """Load one replica sustains at the SLO, in requests/s and the matching tokens/s."""

    requests_per_s: float
    prompt_tokens_per_s: float
    generation_tokens_per_s: float
    binding: str  # "ttft_p95", "itl_p95", "saturation" or "unreachable"
    at: LatencySample | None
    saturation_requests_per_s: float
    detail: str

    def per_replica(self, unit: str) -> float:
        """Capacity in the unit of a demand series: requests/s, prompt_tokens/s or generation_tokens/s."""
        key = {"requests/s": "requests_per_s", "prompt_tokens/s": "prompt_tokens_per_s",
               "generation_tokens/s": "generation_tokens_per_s"}.get(unit)
        if key is None:
            raise ValueError(f"unit: expected requests/s, prompt_tokens/s or generation_tokens/s, got {unit!r}")
        return float(getattr(self, key))


def simulate_latency(profile: PerformanceProfile, workload: Workload, rate: float,
                     n_requests: int = 1500, seed: int = 0) -> LatencySample:
    """TTFT p95 and ITL p95 of one replica under a seeded Poisson stream at ``rate`` requests/s."""
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate: must be > 0 requests/s, got {rate!r}")
    if n_requests < 20:
        raise ValueError("n_requests: at least 20 are needed for a p95")
    p = int(round(workload.prompt_tokens))
    o = int(round(workload.output_tokens))
    if p + o > profile.max_model_len:
        raise ValueError(f"prompt_tokens: {p} + output {o} exceeds max_model_len {profile.max_model_len}")
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n_requests)).tolist()
    engine = ReplicaEngine(profile)
    warm = n_requests // 10
    ttft: list[float] = []
    itl: list[float] = []
    k = 0
    while k < n_requests or engine.next_event_time() is not None:
        nxt = engine.next_event_time()
        if k < n_requests and (nxt is None or arrivals[k] <= nxt):
            engine.submit(k, arrivals[k], p, o)
            k += 1
            continue
        assert nxt is not None
        for ev in engine.advance(nxt):
            if ev.kind == FINISHED and ev.stats is not None and int(ev.req_id) >= warm:  # type: ignore[call-overload]
                ttft.append(ev.stats.ttft)
                itl.append(ev.stats.time_per_output_token)
    return LatencySample(rate, float(np.quantile(ttft, 0.95)), float(np.quantile(itl, 0.95)), len(ttft))


def _ok(sample: LatencySample, ttft_slo: float, itl_slo: float) -> bool:
    return sample.ttft_p95_s <= ttft_slo and sample.itl_p95_s <= itl_slo


@lru_cache(maxsize=128)
def capacity_at_slo(profile: PerformanceProfile, workload: Workload, ttft_p95_s: float, itl_p95_s: float,
                    *, n_requests: int = 1500, seed: int = 0, rel_tol: float = 0.01,
                    max_utilization: float = 0.9) -> ReplicaCapacity:
    """Largest Poisson rate meeting both p95 targets (bisection; see the module docstring)."""
    if not ttft_p95_s > 0:
        raise ValueError("ttft_p95_s: must be > 0")
    if not itl_p95_s > 0:
        raise ValueError("itl_p95_s: must be > 0")
    if not 0 < max_utilization < 1:
        raise ValueError("max_utilization: must be in (0, 1)")
    sat = profile.max_requests_per_s(workload.prompt_tokens, workload.output_tokens)

    def result(rate: float, binding: str, at: LatencySample | None, why: str) -> ReplicaCapacity:
        return ReplicaCapacity(rate, rate * workload.prompt_tokens, rate * workload.output_tokens, binding, at,
                               sat, why)

    top = simulate_latency(profile, workload, max_utilization * sat, n_requests, seed)
    if _ok(top, ttft_p95_s, itl_p95_s):
        return result(top.rate, "saturation", top,
                      f"SLO met at {max_utilization:.0%} of saturation {sat:.4g} req/s, the most planned for: "
                      f"throughput, not latency, binds ({top.rate:.4g} req/s)")
    lo_rate = sat * 1e-3
    low = simulate_latency(profile, workload, lo_rate, n_requests, seed)
    if not _ok(low, ttft_p95_s, itl_p95_s):
        return result(0.0, "unreachable", low,
                      f"SLO missed even at {lo_rate:.3g} req/s: TTFT p95 {low.ttft_p95_s:.3g}s, "
                      f"ITL p95 {low.itl_p95_s:.3g}s against {ttft_p95_s:g}s / {itl_p95_s:g}s")
    good, bad = low, top
    while (bad.rate - good.rate) > rel_tol * good.rate:
        mid = simulate_latency(profile, workload, (good.rate + bad.rate) / 2.0, n_requests, seed)
        if _ok(mid, ttft_p95_s, itl_p95_s):
            good = mid
        else:
            bad = mid
    binding = "ttft_p95" if bad.ttft_p95_s > ttft_p95_s else "itl_p95"
    return result(good.rate, binding, good,
                  f"{good.rate:.4g} req/s keeps TTFT p95 {good.ttft_p95_s:.3g}s <= {ttft_p95_s:g}s and ITL p95 "
                  f"{good.itl_p95_s * 1e3:.3g}ms <= {itl_p95_s * 1e3:g}ms; {bad.rate:.4g} req/s breaks {binding}"
                  f" ({good.rate / sat:.0%} of saturation {sat:.4g} req/s)")


class CapacityEstimator:
    """Modelled capacity corrected by observed latency against load (see the module docstring)."""

    def __init__(self, modelled: float, ttft_slo_s: float, itl_slo_s: float | None = None, *,
                 min_factor: float = 0.5, max_factor: float = 1.5, down_step: float = 0.1,
                 up_step: float = 0.02, evidence_load: float = 0.3, factor: float = 1.0) -> None:
        if not (math.isfinite(modelled) and modelled > 0):
            raise ValueError(f"modelled: capacity must be > 0, got {modelled!r}")
        if not ttft_slo_s > 0:
            raise ValueError("ttft_slo_s: must be > 0")
        if itl_slo_s is not None and not itl_slo_s > 0:
            raise ValueError("itl_slo_s: must be > 0")
        if not 0 < min_factor <= 1 <= max_factor:
            raise ValueError("min_factor: need 0 < min_factor <= 1 <= max_factor")
        if not (0 < down_step < 1 and 0 < up_step < 1):
            raise ValueError("down_step: down_step and up_step must be in (0, 1)")
        if not 0 <= evidence_load < 1:
            raise ValueError("evidence_load: must be in [0, 1)")
        self.modelled = float(modelled)
        self.ttft_slo_s, self.itl_slo_s = float(ttft_slo_s), itl_slo_s
        self.min_factor, self.max_factor = float(min_factor), float(max_factor)
        self.down_step, self.up_step, self.evidence_load = float(down_step), float(up_step), float(evidence_load)
        self.factor = min(self.max_factor, max(self.min_factor, float(factor)))
        self.last_change = "none yet"

    @property
    def capacity(self) -> float:
        return self.modelled * self.factor

    def _set(self, capacity: float, why: str) -> str:
        self.factor = min(self.max_factor, max(self.min_factor, capacity / self.modelled))
        self.last_change = f"{why} -> capacity {self.capacity:.4g} (factor {self.factor:.3f})"
        return self.last_change

    def observe(self, load_per_replica: float | None, ttft_p95_s: float | None,
                itl_p95_s: float | None = None) -> str:
        """Feed one (per-replica load, observed p95s) pair; returns what it did, for the decision log."""
        vals = (load_per_replica, ttft_p95_s)
        if any(v is None or not math.isfinite(v) for v in vals):
            return "no change: load or TTFT p95 missing"
        assert load_per_replica is not None and ttft_p95_s is not None
        cap = self.capacity
        missed = ttft_p95_s > self.ttft_slo_s
        if self.itl_slo_s is not None and itl_p95_s is not None and math.isfinite(itl_p95_s):
            missed = missed or itl_p95_s > self.itl_slo_s
        load = float(load_per_replica)
        if missed and self.evidence_load * cap <= load < cap:
            return self._set(max(load, cap * (1 - self.down_step)), f"SLO missed at load {load:.4g} < capacity {cap:.4g}")
        if not missed and load > cap:
            return self._set(min(load, cap * (1 + self.up_step)), f"SLO met at load {load:.4g} > capacity {cap:.4g}")
        return "no change: observation agrees with the capacity"

    def to_dict(self) -> dict[str, Any]:
        return {"modelled": self.modelled, "ttft_slo_s": self.ttft_slo_s, "itl_slo_s": self.itl_slo_s,
                "min_factor": self.min_factor, "max_factor": self.max_factor, "down_step": self.down_step,
                "up_step": self.up_step, "evidence_load": self.evidence_load, "factor": self.factor}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CapacityEstimator:
        return CapacityEstimator(
            float(d["modelled"]), float(d["ttft_slo_s"]), d.get("itl_slo_s"), min_factor=float(d["min_factor"]),
            max_factor=float(d["max_factor"]), down_step=float(d["down_step"]), up_step=float(d["up_step"]),
            evidence_load=float(d["evidence_load"]), factor=float(d["factor"]),
        )
