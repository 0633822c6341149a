"""Trace replay: requests through N simulated vLLM replicas under an autoscaler.

Owns: the event loop over arrivals, engine step boundaries, replica start-ups,
scrapes and autoscaler ticks; the router; the replica life cycle (starting ->
ready -> draining -> gone) and its replica-seconds. Must not import: any I/O
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from controlplane.capacity.profile import PerformanceProfile
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals
from controlplane.sim.autoscaler import Autoscaler
from controlplane.sim.engine import FINISHED, FIRST_TOKEN, ReplicaEngine
from controlplane.sim.observe import (
    E2E_BUCKETS,
    ITL_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
    PromView,
    Scrape,
    ScrapeConfig,
)
from controlplane.sim.results import RunResult
from controlplane.traces.model import Trace

__all__ = ["ColdStart", "SimConfig", "simulate", "ROUTERS"]

ROUTERS = ("least_outstanding", "round_robin")
_STARTING, _READY, _DRAINING, _GONE = 0, 1, 2, 3
# heap priorities at equal times: replicas come up, engines step, then scrape, then decide
_P_READY, _P_STEP, _P_SCRAPE, _P_TICK = 0, 1, 2, 3


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
    cold = config.cold_start.sampler(profile, rng)
    arr: list[float] = trace.arrival_s.tolist()
    n = len(arr)
    prompt, output, clipped = _clip_sizes(trace, profile.max_model_len)
    ttft = [math.nan] * n
    e2e = [math.nan] * n
    itl = [math.nan] * n
    served_by = [-1] * n
    finished_events = 0
    h_ttft, h_itl, h_e2e = Histogram(TTFT_BUCKETS), Histogram(ITL_BUCKETS), Histogram(E2E_BUCKETS)
    fin_count = fin_prompt = fin_gen = 0

    engines: list[ReplicaEngine | None] = []
    state: list[int] = []
    outstanding: list[int] = []
    busy_since: list[float] = []
    busy_acc: list[float] = []
    busy_mark: list[float] = []
    created: list[float] = []
    ready_at: list[float] = []
    ended: list[float] = []
    nxt: list[float | None] = []
    routable: list[int] = []
    alive: set[int] = set()  # ready or draining: scraped, and counted until gone
    starting: list[int] = []  # in start order
    counts = {"starting": 0, "ready": 0}
    replica_log: list[tuple[float, int, int]] = []
    scale_events: list[tuple[float, int, int]] = []
    held: deque[int] = deque()
    heap: list[tuple[float, int, int, int]] = []
    seq = 0
    in_flight = 0
    rr = 0
    retired_preemptions = 0
    peak_waiting = 0.0
    last_t = 0.0

    def log(t: float) -> None:
        replica_log.append((t, counts["starting"] + len(alive), counts["ready"]))

    def new_replica(t: float, ready: bool) -> None:
        nonlocal seq
        rid = len(state)
        engines.append(None)
        state.append(_STARTING)
        outstanding.append(0)
        busy_since.append(0.0)
        busy_acc.append(0.0)
        busy_mark.append(0.0)
        created.append(t)
        ready_at.append(math.inf)
        ended.append(math.nan)
        nxt.append(None)
        counts["starting"] += 1
        starting.append(rid)
        if ready:
            become_ready(rid, t)
        else:
            heapq.heappush(heap, (t + cold(), _P_READY, seq, rid))
            seq += 1

    def become_ready(rid: int, t: float) -> None:
        state[rid] = _READY
        starting.remove(rid)
        alive.add(rid)
        counts["starting"] -= 1
        counts["ready"] += 1
        engines[rid] = ReplicaEngine(profile)
        ready_at[rid] = t
        routable.append(rid)
        while held:
            submit(held.popleft(), t)

    def retire(rid: int, t: float) -> None:
        nonlocal retired_preemptions
        eng = engines[rid]
        if eng is not None:
            retired_preemptions += eng.total_preemptions
        state[rid] = _GONE
        alive.discard(rid)
        ended[rid] = t
        engines[rid] = None
        nxt[rid] = None

    def scale_to(desired: int, t: float) -> None:
        spec = counts["starting"] + counts["ready"]
        if desired > spec:
            for _ in range(desired - spec):
                new_replica(t, ready=False)
        elif desired < spec:
            k = spec - desired
            while k and starting:
                counts["starting"] -= 1
                retire(starting.pop(), t)
                k -= 1
            for rid in sorted(routable, key=outstanding.__getitem__)[:k]:
                routable.remove(rid)
                counts["ready"] -= 1
                if outstanding[rid] == 0:
                    retire(rid, t)
                else:
                    state[rid] = _DRAINING
        log(t)

    def submit(i: int, t: float) -> None:
        nonlocal seq, in_flight, rr
        if config.router == "round_robin":
            rid = routable[rr % len(routable)]
            rr += 1
        else:
            rid = min(routable, key=outstanding.__getitem__)
        eng = engines[rid]
        assert eng is not None
        eng.submit(i, t, prompt[i], output[i])
        served_by[i] = rid
        if outstanding[rid] == 0:
            busy_since[rid] = t
        outstanding[rid] += 1
        in_flight += 1
        nt = eng.next_event_time()
        if nt is not None and nt != nxt[rid]:
            nxt[rid] = nt
            heapq.heappush(heap, (nt, _P_STEP, seq, rid))
            seq += 1

    def step_engine(rid: int, t: float) -> None:
        nonlocal seq, in_flight, fin_count, fin_prompt, fin_gen, last_t, finished_events
        eng = engines[rid]
        assert eng is not None
        nxt[rid] = None
        for ev in eng.advance(t):
            i: int = ev.req_id  # type: ignore[assignment]  # ids are trace indexes
            if ev.kind == FIRST_TOKEN:
                v = ev.time - arr[i]
                ttft[i] = v
                h_ttft.observe(v)
            elif ev.kind == FINISHED:
                st = ev.stats
                assert st is not None
                e = ev.time - arr[i]
                e2e[i] = e
                h_e2e.observe(e)
                gen = st.generation_tokens
                gap = (ev.time - st.first_token) / (gen - 1) if gen > 1 else 0.0
                itl[i] = gap
                if gen > 1:
                    h_itl.observe(gap, gen - 1)
                fin_count += 1
                finished_events += 1
                fin_prompt += st.prompt_tokens
                fin_gen += gen
                in_flight -= 1
                last_t = ev.time
                outstanding[rid] -= 1
                if outstanding[rid] == 0:
                    busy_acc[rid] += ev.time - busy_since[rid]
                    if state[rid] == _DRAINING:
                        retire(rid, ev.time)
                        log(ev.time)
                        return
        nt = eng.next_event_time()
        if nt is not None:
            nxt[rid] = nt
            heapq.heappush(heap, (nt, _P_STEP, seq, rid))
            seq += 1

    def live() -> list[int]:
        return sorted(alive)

    def scrape(t: float) -> Scrape:
        nonlocal peak_waiting
        waiting = float(len(held))
        running = 0.0
        kv: list[float] = []
        utils: list[float] = []
        pre = retired_preemptions
        interval = config.scrape.scrape_interval_s
        for r in live():
            eng = engines[r]
            assert eng is not None
            waiting += eng.num_waiting
            running += eng.num_running
            pre += eng.total_preemptions
            kv.append(eng.kv_cache_usage)
            busy = busy_acc[r] + (t - busy_since[r] if outstanding[r] else 0.0)
            span = min(interval, t - ready_at[r])
            if span > 0:
                utils.append(min(1.0, (busy - busy_mark[r]) / span))
            busy_mark[r] = busy
        peak_waiting = max(peak_waiting, waiting)
        return Scrape(
            t, fin_count, 0, fin_prompt, fin_gen, pre,
            tuple(h_ttft.counts), tuple(h_itl.counts), tuple(h_e2e.counts),
            waiting, running,
            sum(kv) / len(kv) if kv else None, max(kv) if kv else None,
            sum(utils) / len(utils) if utils else None, counts["ready"],
        )

    def direct(t: float) -> Signals:
        at = config.epoch + t
        waiting, running = float(len(held)), 0.0
        for r in live():
            eng = engines[r]
            assert eng is not None
            waiting += eng.num_waiting
            running += eng.num_running
        return Signals(
            target=config.target, collected_at=at, waiting_requests=Reading.of(waiting, at),
            running_requests=Reading.of(running, at), ready_replicas=Reading.of(counts["ready"], at),
        )

    window = config.scrape.window_s or config.window_s
    view = PromView(config.scrape, window, config.epoch, config.target)
    for _ in range(config.initial_replicas):
        new_replica(0.0, ready=True)
    log(0.0)
    sync = autoscaler.sync_period_s
    heapq.heappush(heap, (0.0, _P_SCRAPE, -2, -1))
    heapq.heappush(heap, (sync, _P_TICK, -1, -1))
    stop_at = (arr[-1] if n else 0.0) + config.drain_timeout_s
    report_every = max(1, n // 200)
    i = 0
    inf = math.inf
    while True:
        t_arr = arr[i] if i < n else inf
        t_ev = heap[0][0] if heap else inf
        if t_arr <= t_ev and i < n:
            if routable:
                submit(i, t_arr)
            else:
                held.append(i)
            i += 1
            if progress is not None and i % report_every == 0:
                progress(i)
            continue
        if i >= n and in_flight == 0 and not held:
            break
        t, prio, _, rid = heapq.heappop(heap)
        if t > stop_at:
            break
        if prio == _P_STEP:
            if state[rid] != _GONE and nxt[rid] == t:
                step_engine(rid, t)
        elif prio == _P_READY:
            if state[rid] == _STARTING:
                become_ready(rid, t)
                log(t)
        elif prio == _P_SCRAPE:
            view.record(scrape(t))
            heapq.heappush(heap, (t + config.scrape.scrape_interval_s, _P_SCRAPE, -2, -1))
        else:
            observed = view.signals(t) if autoscaler.observes == "prometheus" else direct(t)
            spec = counts["starting"] + counts["ready"]
            status = ReplicaStatus(spec, counts["ready"], counts["starting"], None, config.epoch + t)
            desired = max(0, min(config.max_replicas, int(autoscaler.step(config.epoch + t, observed, status))))
            if desired != spec:
                scale_events.append((t, spec, desired))
                scale_to(desired, t)
            heapq.heappush(heap, (t + sync, _P_TICK, -1, -1))
    horizon = max(last_t, arr[-1] if n else 0.0)
    if progress is not None:
        progress(n)
    return RunResult.build(
        name=autoscaler.name,
        arrival_s=trace.arrival_s,
        ttft=np.asarray(ttft),
        e2e=np.asarray(e2e),
        itl=np.asarray(itl),
        created=np.asarray(created),
        ended=np.asarray(ended),
        horizon=horizon,
        replica_log=replica_log,
        scale_events=scale_events,
        peak_waiting=peak_waiting,
        clipped=clipped,
        served_by=np.asarray(served_by, dtype=np.int32),
        finished_events=finished_events,
    )
