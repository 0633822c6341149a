"""Baseline autoscalers as their documentation describes them, for comparison runs.

Owns: :class:`HpaAutoscaler` (Kubernetes HPA on a utilisation metric),
:class:`KedaAutoscaler` (KEDA's Prometheus trigger on the vLLM queue, which
drives an HPA) and :class:`KnativeAutoscaler` (Knative's KPA on concurrency,
with its panic window). Must not import: any I/O library.

Defaults, and where they come from:

* HPA (kubernetes.io, "Horizontal Pod Autoscaling"): desired =
  ceil(current x metric / target); no change while the ratio is within the
  0.1 tolerance (``--horizontal-pod-autoscaler-tolerance``); the controller
  syncs every 15 s (``--horizontal-pod-autoscaler-sync-period``); scale-down
  takes the highest recommendation of the last 300 s
  (``behavior.scaleDown.stabilizationWindowSeconds`` default); scale-up at
  most doubles or adds 4 pods per 15 s, whichever is more (default
  ``behavior.scaleUp.policies``). Not-yet-ready pods count as 0 % on
  scale-up, so the ratio is taken over ready pods. The metric here is GPU
  utilisation (DCGM ``DCGM_FI_DEV_GPU_UTIL``: the share of time a kernel runs,
  simulated as the share of time a replica has work) with a 70 % target.
* KEDA (keda.sh, ScaledObject spec; the vLLM production-stack tutorial
  "Autoscaling with KEDA" scales on the same metric): a Prometheus trigger on
  ``vllm:num_requests_waiting`` with a threshold of 5 per replica (this
  benchmark's setting), i.e. an HPA ``AverageValue`` target (desired =
  ceil(total / 5)) under the HPA rules above. KEDA's default
  ``pollingInterval`` is 30 s; this benchmark polls every 15 s.
  ``cooldownPeriod`` (300 s default) only applies to scaling to zero, which is
  off (minReplicaCount 1); 1 <-> N follows the HPA's 300 s down-stabilization.
  With no queue the ask is 0, so the fleet falls to the minimum once the
  window passes: the known weakness of a queue-only trigger.
* Knative KPA (knative.dev, "Additional autoscaling configuration for Knative
  Pod Autoscaler"): stable window 60 s, panic window 10 % of it (6 s), panic
  when the panic-window ask reaches 200 % of ready pods, no scale-down while
  in panic, panic ends after a stable window without the condition;
  max scale-up rate 1000, max scale-down rate 2 (config-autoscaler
  defaults); the autoscaler ticks every 2 s on concurrency it scrapes from
  the pods directly. Knative's default target is 100 concurrent requests x
  70 % utilisation; for an LLM server the target must be the concurrency one
  replica serves within SLO, so it is an argument here (see
  :func:`controlplane.sim.calibrate.knative_target`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from controlplane.protocols import ReplicaStatus
from controlplane.signals import Signals

__all__ = ["HpaRules", "HpaAutoscaler", "KedaAutoscaler", "KnativeAutoscaler"]


@dataclass
class HpaRules:
    """The HPA's tolerance, down-stabilization and default scale-up limits."""

    tolerance: float = 0.1
    scale_down_stabilization_s: float = 300.0
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0
    min_replicas: int = 1
    max_replicas: int = 64
    _history: deque[tuple[float, int]] = field(default_factory=deque)

    def recommend(self, now: float, ready: int, spec: int, usage_ratio: float | None, raw: int) -> int:
        """From the usage ratio (metric / target) and the raw ask, the replica count to set."""
        if usage_ratio is None:
            return spec  # metrics unavailable: the HPA leaves the scale alone
        if abs(usage_ratio - 1.0) <= self.tolerance and ready > 0:
            raw = spec
        raw = max(self.min_replicas, min(self.max_replicas, raw))
        self._history.append((now, raw))
        while self._history and self._history[0][0] < now - self.scale_down_stabilization_s:
            self._history.popleft()
        desired = raw
        if desired < spec:
            desired = min(spec, max(r for _, r in self._history))
        if desired > spec:
            limit = spec + max(self.scale_up_pods, math.ceil(spec * self.scale_up_percent / 100.0))
            desired = min(desired, limit)
        return desired


@dataclass
class HpaAutoscaler:
    """HPA on mean GPU utilisation of ready replicas (target 0.7)."""

    target_utilization: float = 0.7
    rules: HpaRules = field(default_factory=HpaRules)
    name: str = "hpa"
    sync_period_s: float = 15.0
    observes: str = "prometheus"

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        util = observed.gpu_utilization
        if not util.ok or status.ready == 0:
            return self.rules.recommend(now, status.ready, status.spec, None, status.spec)
        assert util.value is not None
        ratio = util.value / self.target_utilization
        raw = math.ceil(status.ready * ratio - 1e-9)
        return self.rules.recommend(now, status.ready, status.spec, ratio, raw)


@dataclass
class KedaAutoscaler:
    """KEDA Prometheus trigger: sum(vllm:num_requests_waiting), threshold per replica."""

    threshold: float = 5.0
    rules: HpaRules = field(default_factory=HpaRules)
    name: str = "keda"
    sync_period_s: float = 15.0
    observes: str = "prometheus"

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        waiting = observed.waiting_requests
        if not waiting.ok:
            return self.rules.recommend(now, status.ready, status.spec, None, status.spec)
        assert waiting.value is not None
        per_replica = waiting.value / max(1, status.ready)
        raw = math.ceil(waiting.value / self.threshold - 1e-9)
        return self.rules.recommend(now, status.ready, status.spec, per_replica / self.threshold, raw)


@dataclass
class KnativeAutoscaler:
    """Knative KPA on in-flight requests (running + waiting), stable and panic windows."""

    target_concurrency: float = 10.0
    stable_s: float = 60.0
    panic_s: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    min_replicas: int = 1
    max_replicas: int = 64
    name: str = "knative"
    sync_period_s: float = 2.0
    observes: str = "direct"
    _samples: deque[tuple[float, float]] = field(default_factory=deque)
    _panic_since: float | None = None
    _panic_last: float | None = None
    _panic_desired: int = 0

    def _mean(self, now: float, window: float) -> float:
        vals = [v for t, v in self._samples if t > now - window]
        return sum(vals) / len(vals) if vals else 0.0

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        running, waiting = observed.running_requests, observed.waiting_requests
        if not (running.ok and waiting.ok):
            return status.spec
        assert running.value is not None and waiting.value is not None
        self._samples.append((now, running.value + waiting.value))
        while self._samples and self._samples[0][0] <= now - self.stable_s:
            self._samples.popleft()
        stable = math.ceil(self._mean(now, self.stable_s) / self.target_concurrency - 1e-9)
        panic = math.ceil(self._mean(now, self.panic_s) / self.target_concurrency - 1e-9)
        ready = max(1, status.ready)
        if panic / ready >= self.panic_threshold:
            if self._panic_since is None:
                self._panic_since = now
            self._panic_last = now
        elif self._panic_last is not None and now - self._panic_last >= self.stable_s:
            self._panic_since = self._panic_last = None
            self._panic_desired = 0
        if self._panic_since is not None:
            # In panic the KPA never scales down: the highest panic ask holds.
            self._panic_desired = max(self._panic_desired, panic, status.spec)
            desired = self._panic_desired
        else:
            desired = stable
        desired = min(desired, math.ceil(ready * self.max_scale_up_rate))
        desired = max(desired, math.floor(ready / self.max_scale_down_rate))
        return max(self.min_replicas, min(self.max_replicas, desired))

    @property
    def in_panic(self) -> bool:
        return self._panic_since is not None
