"""Trace replay: requests through N simulated vLLM replicas under an autoscaler.

Owns: the event loop over arrivals, engine step boundaries, replica start-ups,
scrapes and autoscaler ticks. The replicas, their life cycle (starting ->
ready -> draining -> gone), replica-seconds and the router are
:class:`controlplane.sim.fleet.Fleet`'s. Must not import: any I/O
library; time is simulated (seconds from the trace start; autoscalers see
``config.epoch + t``).

Replicas: a new replica costs replica-seconds from the moment it is asked for
and serves only after its cold start (drawn from :class:`ColdStart`, default
the profile's ``startup_s``). Scaling down first cancels replicas still
starting (newest first), then drains ready ones (fewest requests in flight
first): a draining replica takes no new requests and is gone when its last
one finishes. With no ready replica, arrivals wait at the router (as Knative's
activator holds them) and go out when one becomes ready.

Requests longer than the profile's ``max_model_len`` are clipped to fit (the
output first), as a server with ``max_tokens`` capped would; the number clipped
is reported.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from controlplane.capacity.profile import PerformanceProfile
from controlplane.protocols import ReplicaStatus
from controlplane.sim.autoscaler import Autoscaler
from controlplane.sim.fleet import P_READY, P_SCRAPE, P_STEP, P_TICK, ROUTERS, STARTING, Fleet
from controlplane.sim.observe import PromView, ScrapeConfig
from controlplane.sim.results import RunResult
from controlplane.traces.model import Trace

__all__ = ["ColdStart", "SimConfig", "simulate", "ROUTERS"]



@dataclass(frozen=True)
class ColdStart:
    """Replica start-up time (s). ``mean_s`` None uses the profile's ``startup_s``.

    ``kind``: ``fixed``; ``uniform`` on mean x (1 +- spread); ``lognormal`` with
    that mean and log-sd ``spread`` (start-ups have a long right tail).
    """

    mean_s: float | None = None
    kind: str = "fixed"
    spread: float = 0.25

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform", "lognormal"):
            raise ValueError(f"cold_start.kind: expected fixed, uniform or lognormal, got {self.kind!r}")
        if self.mean_s is not None and self.mean_s < 0:
            raise ValueError("cold_start.mean_s: must be >= 0")
        if not 0 <= self.spread < 1 and self.kind == "uniform":
            raise ValueError("cold_start.spread: must be in [0, 1) for uniform")

    def sampler(self, profile: PerformanceProfile, rng: np.random.Generator) -> Callable[[], float]:
        mean = profile.startup_s if self.mean_s is None else self.mean_s
        if self.kind == "fixed" or mean == 0:
            return lambda: mean
        if self.kind == "uniform":
            lo, hi = mean * (1 - self.spread), mean * (1 + self.spread)
            return lambda: float(rng.uniform(lo, hi))
        mu = math.log(mean) - self.spread**2 / 2
        return lambda: float(rng.lognormal(mu, self.spread))

    def bound_s(self, profile: PerformanceProfile) -> float:
        """The shortest start-up any draw can take (what the oracle may assume)."""
        mean = profile.startup_s if self.mean_s is None else self.mean_s
        if self.kind == "fixed":
            return mean
        if self.kind == "uniform":
            return mean * (1 - self.spread)
        return 0.0


@dataclass(frozen=True)
class SimConfig:
    profile: PerformanceProfile
    router: str = "least_outstanding"
    cold_start: ColdStart = field(default_factory=ColdStart)
    scrape: ScrapeConfig = field(default_factory=ScrapeConfig)
    window_s: float = 60.0  # rate/quantile window when scrape.window_s is None (the policy's stable_s)
    initial_replicas: int = 1  # ready at t=0: the replay starts from a running service
    max_replicas: int = 64  # hard cap on any autoscaler's ask (the GPU budget)
    epoch: float = 0.0  # Unix time of t=0, for time-of-day schedules
    seed: int = 0
    target: str = "sim"
    drain_timeout_s: float = 3600.0  # stop this long after the last arrival, unfinished = SLO miss
    prefix_caching: bool = True  # vLLM V1's default; only traces with block ids can hit
    affinity_slack: int = 8  # prefix_affinity: most extra requests in flight a cache hit may cost (a priori)

    def __post_init__(self) -> None:
        if self.router not in ROUTERS:
            raise ValueError(f"router: expected one of {ROUTERS}, got {self.router!r}")
        if self.initial_replicas < 0 or self.max_replicas < 1:
            raise ValueError("initial_replicas: must be >= 0 (and max_replicas >= 1)")


def _clip_sizes(trace: Trace, limit: int) -> tuple[list[int], list[int], int]:
    p = np.minimum(trace.prompt_tokens, limit - 1)
    o = np.minimum(trace.output_tokens, limit - p)
    clipped = int(np.sum((p != trace.prompt_tokens) | (o != trace.output_tokens)))
    return p.tolist(), o.tolist(), clipped


def simulate(
    trace: Trace,
    autoscaler: Autoscaler,
    config: SimConfig,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Replay ``trace`` under ``autoscaler``; ``progress(k)`` is called with arrivals done so far."""
    profile = config.profile
    rng = np.random.default_rng(config.seed)
    arr: list[float] = trace.arrival_s.tolist()
    n = len(arr)
    prompt, output, clipped = _clip_sizes(trace, profile.max_model_len)
    fleet = Fleet(profile, config.router, config.cold_start.sampler(profile, rng), arr, prompt, output,
                  blocks=trace.blocks, block_tokens=trace.block_tokens or None,
                  prefix_caching=config.prefix_caching, affinity_slack=config.affinity_slack)
    heap = fleet.heap
    scale_events: list[tuple[float, int, int]] = []
    window = config.scrape.window_s or config.window_s
    view = PromView(config.scrape, window, config.epoch, config.target)
    for _ in range(config.initial_replicas):
        fleet.add(0.0, ready=True)
    fleet.log(0.0)
    sync = autoscaler.sync_period_s
    interval = config.scrape.scrape_interval_s
    heapq.heappush(heap, (0.0, P_SCRAPE, -2, -1))
    heapq.heappush(heap, (sync, P_TICK, -1, -1))
    stop_at = (arr[-1] if n else 0.0) + config.drain_timeout_s
    report_every = max(1, n // 200)
    i = 0
    inf = math.inf
    while True:
        t_arr = arr[i] if i < n else inf
        t_ev = heap[0][0] if heap else inf
        if t_arr <= t_ev and i < n:
            fleet.arrive(i, t_arr)
            i += 1
            if progress is not None and i % report_every == 0:
                progress(i)
            continue
        if i >= n and fleet.in_flight == 0 and not fleet.held:
            break
        t, prio, _, rid = heapq.heappop(heap)
        if t > stop_at:
            break
        if prio == P_STEP:
            fleet.step(rid, t)
        elif prio == P_READY:
            if fleet.replicas[rid].state == STARTING:
                fleet.become_ready(rid, t)
                fleet.log(t)
        elif prio == P_SCRAPE:
            view.record(fleet.scrape(t, interval))
            heapq.heappush(heap, (t + interval, P_SCRAPE, -2, -1))
        else:
            at = config.epoch + t
            observed = view.signals(t) if autoscaler.observes == "prometheus" else fleet.direct(config.target, at)
            spec = fleet.spec
            status = ReplicaStatus(spec, fleet.n_ready, fleet.n_starting, None, at)
            desired = max(0, min(config.max_replicas, int(autoscaler.step(at, observed, status))))
            if desired != spec:
                scale_events.append((t, spec, desired))
                fleet.scale_to(desired, t)
            heapq.heappush(heap, (t + sync, P_TICK, -1, -1))
    horizon = max(fleet.last_finish, arr[-1] if n else 0.0)
    queried, hits = fleet.prefix_totals()
    if progress is not None:
        progress(n)
    return RunResult.build(
        name=autoscaler.name,
        arrival_s=trace.arrival_s,
        ttft=np.asarray(fleet.ttft),
        e2e=np.asarray(fleet.e2e),
        itl=np.asarray(fleet.itl),
        created=np.asarray([r.created for r in fleet.replicas]),
        ended=np.asarray([r.ended for r in fleet.replicas]),
        horizon=horizon,
        replica_log=fleet.replica_log,
        scale_events=scale_events,
        peak_waiting=fleet.peak_waiting,
        clipped=clipped,
        served_by=np.asarray(fleet.served_by, dtype=np.int32),
        finished_events=fleet.finished,
        prefix_queried_tokens=queried,
        prefix_hit_tokens=hits,
    )
