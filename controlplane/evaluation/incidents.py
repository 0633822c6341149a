"""Serving incidents for the anomaly benchmark: seeded faults and bursts, a replayed fleet, per-tick signals.

Owns: :class:`Fault` and :class:`Burst` (what happens when), :func:`plan`
(seeded random times, kinds and sizes), :func:`with_bursts` (extra arrivals
for unlabelled load bursts), :func:`replay` (a fixed fleet of
:class:`~controlplane.capacity.engine.ReplicaEngine` replicas driven by the
arrivals, with the faults applied, observed once a tick as the
:class:`~controlplane.signals.Signals` the anomaly advisor reads) and
:func:`score_onsets` (time to detect, false alerts, NAB score). Pure: no I/O,
no clock; the advisor is driven by the caller.

How each fault of the emulator (:class:`serving.emulator.config.Faults`)
shows in the signals here, one replica affected:

* ``latency``: every engine step takes ``size`` times longer (the engine's
  slowdown), so latencies and the queue grow.
* ``errors``: a share ``size`` of the requests routed to the replica is
  answered with an error at arrival (counted as finished with reason
  ``error``, one error log line each).
* ``hang``: the engine stops and its ``/metrics`` no longer answers (its gauges
  are missing); requests routed to it never finish. Readiness fails after
  ``READINESS_S``, after which no more traffic is routed to it; at the end of
  the fault it is restarted (a cold start of the profile's ``startup_s``).
* ``crash``: the process exits: its running and waiting requests are lost (one
  ``engine_dead`` log line, one error line per lost request), it is out of
  rotation at once and back after ``RESTART_S`` plus a cold start.
* ``kv_leak``: the replica loses KV-cache tokens at a steady rate, ``size``
  of its capacity by the end of the fault; lost tokens count as used in its
  KV-cache usage (as the emulator reports them) and come back at the end (a
  restart).

Signals are computed as the Prometheus source would over ``window_s``: rates
from the requests finished in the window, latency p95 with Prometheus'
``histogram_quantile`` over vLLM's buckets (inter-token latency observed once
per token gap, as vLLM does, with the request's mean gap), gauges (waiting, running, KV usage)
from the replicas whose metrics answer. A reading with no data is missing,
never zero.

When a fault first shows (``replay(..., exposed=)``): a latency fault when the
slowed replica holds or receives its first request, an error fault at its first
failed request, a hang, crash or KV leak at once (gauges, readiness and the
replica count show them with no traffic). A fault on a replica that no request
reaches (a gap in the traffic) cannot show in any metric until one does;
:func:`detection_delays` measures from that moment too.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.capacity.engine import ABORTED, FINISHED, FIRST_TOKEN, ReplicaEngine
from controlplane.capacity.profile import PerformanceProfile
from controlplane.evaluation import nab
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals
from controlplane.sim.observe import E2E_BUCKETS, ITL_BUCKETS, TTFT_BUCKETS, histogram_quantile

__all__ = ["FAULT_KINDS", "Fault", "Burst", "plan", "with_bursts", "Tick", "replay", "Outcome", "score_onsets",
           "detection_delays"]

FAULT_KINDS = ("latency", "errors", "hang", "crash", "kv_leak")
READINESS_S = 30.0  # three failed 10 s probes
RESTART_S = 10.0  # the kubelet restarts a crashed container after a short back-off


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault on ``replica`` from ``start_s`` for ``duration_s`` (trace seconds)."""

    kind: str
    start_s: float
    duration_s: float
    size: float
    replica: int = 0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Burst:
    """Unlabelled extra load: the arrival rate times ``factor`` for ``duration_s``."""

    start_s: float
    duration_s: float
    factor: float


def plan(duration_s: float, seed: int, faults_per_day: float = 6.0, bursts_per_day: float = 8.0,
         warmup_s: float = 4 * 3600.0, gap_s: float = 2 * 3600.0) -> tuple[list[Fault], list[Burst]]:
    """Seeded faults (kinds in turn, times, sizes) and bursts; none in the first ``warmup_s``.

    Faults are at least ``gap_s`` apart, so each incident is scored on its own;
    bursts fall anywhere after the warm-up, also next to faults.
    """
    rng = np.random.default_rng(seed)
    days = duration_s / 86400.0
    usable = duration_s - warmup_s - gap_s
    if usable <= 0:
        raise ValueError(f"duration_s: {duration_s:g} s leaves no room after the {warmup_s:g} s warm-up")
    # Each fault starts in its own slot, at least gap_s before the slot ends.
    n_faults = max(1, min(round(faults_per_day * days), int(usable // gap_s)))
    slot = usable / n_faults
    kinds = [FAULT_KINDS[i % len(FAULT_KINDS)] for i in range(n_faults)]
    rng.shuffle(kinds)
    faults = []
    for i, kind in enumerate(kinds):
        start = warmup_s + i * slot + rng.uniform(0.0, max(0.0, slot - gap_s))  # next slot starts >= gap_s later
        duration = float(rng.uniform(600.0, 1800.0))
        size = {"latency": rng.uniform(2.0, 8.0), "errors": rng.uniform(0.1, 0.6),
                "kv_leak": rng.uniform(0.5, 0.9)}.get(kind, 1.0)
        if kind == "crash":
            duration = RESTART_S
        faults.append(Fault(kind, float(start), duration, float(size), int(rng.integers(0, 2))))
    bursts = []
    for _ in range(max(0, round(bursts_per_day * days))):
        bursts.append(Burst(float(rng.uniform(warmup_s, duration_s - 900.0)), float(rng.uniform(120.0, 600.0)),
                            float(rng.uniform(2.0, 4.0))))
    return faults, sorted(bursts, key=lambda b: b.start_s)


def with_bursts(arrival_s: np.ndarray, prompt: np.ndarray, output: np.ndarray, bursts: Sequence[Burst],
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrivals with each burst's extra ``factor - 1`` copies of the requests inside it (jittered)."""
    rng = np.random.default_rng(seed)
    extra_t, extra_p, extra_o = [arrival_s], [prompt], [output]
    for b in bursts:
        inside = np.flatnonzero((arrival_s >= b.start_s) & (arrival_s < b.start_s + b.duration_s))
        copies = rng.poisson(b.factor - 1.0, inside.size)
        idx = np.repeat(inside, copies)
        extra_t.append(np.minimum(arrival_s[idx] + rng.uniform(0, 1.0, idx.size), b.start_s + b.duration_s))
        extra_p.append(prompt[idx])
        extra_o.append(output[idx])
    t = np.concatenate(extra_t)
    order = np.argsort(t, kind="stable")
    return t[order], np.concatenate(extra_p)[order], np.concatenate(extra_o)[order]


@dataclass(frozen=True, slots=True)
class Tick:
    """What the control loop sees at ``now`` (trace seconds plus the epoch of the run)."""

    now: float
    signals: Signals
    status: ReplicaStatus


class _Replica:
    def __init__(self, profile: PerformanceProfile, ready_at: float) -> None:
        self.engine = ReplicaEngine(profile)
        self.ready_at = ready_at  # serving (in rotation, metrics answer) from this time on
        self.hung_since: float | None = None
        self.down = False  # crashed or restarting: no process
        self.leaked = 0  # KV-cache tokens lost to a leak: counted as used, as the emulator reports them

    def kv_usage(self) -> float:
        return min(1.0, (self.engine.kv_used_tokens + self.leaked) / (self.engine.kv_cache_tokens + self.leaked))


def replay(arrival_s: np.ndarray, prompt: np.ndarray, output: np.ndarray, faults: Sequence[Fault],
           profile: PerformanceProfile, replicas: int = 2, tick_s: float = 15.0, window_s: float = 60.0,
           epoch: float = 0.0, seed: int = 0, exposed: dict[int, float] | None = None) -> Iterator[Tick]:
    """Drive a fixed fleet with the arrivals and faults; yield one :class:`Tick` per ``tick_s``.
    ``exposed``, when given, is filled with ``faults[k]``'s first showing (trace seconds) under key ``k``
    (module docstring); a fault that never shows has no key."""
    if replicas < 1:
        raise ValueError("replicas: must be >= 1")
    rng = np.random.default_rng(seed)
    limit = profile.max_model_len
    fleet = [_Replica(profile, 0.0) for _ in range(replicas)]
    by_replica: dict[int, list[tuple[int, Fault]]] = {}
    for k, f in enumerate(faults):
        if f.kind not in FAULT_KINDS:
            raise ValueError(f"fault.kind: {f.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 0 <= f.replica < replicas:
            raise ValueError(f"fault.replica: {f.replica} is not in 0..{replicas - 1}")
        by_replica.setdefault(f.replica, []).append((k, f))
    shown = exposed if exposed is not None else {}
    slowed: dict[int, int] = {}  # replica -> index of its latency fault until it shows
    events: deque[tuple[float, str, float]] = deque()  # (time, kind, value) for the window
    arrived: dict[Hashable, float] = {}
    next_rid = 0
    rr = 0
    i = 0
    n = len(arrival_s)
    end = float(arrival_s[-1]) if n else 0.0
    steps = int(end // tick_s) + 1
    started: set[int] = set()
    ended: set[int] = set()
    for k in range(1, steps + 1):
        now = k * tick_s
        # Fault starts and ends due in this tick, applied at the tick's start.
        for r, fs in by_replica.items():
            rep = fleet[r]
            for fk, f in fs:
                key = id(f)
                if key not in started and f.start_s < now:
                    started.add(key)
                    t0 = max(f.start_s, now - tick_s)
                    if f.kind in ("hang", "crash", "kv_leak"):
                        shown.setdefault(fk, t0)
                    if f.kind == "latency":
                        rep.engine.set_slowdown(f.size, t0)
                        if rep.engine.num_running + rep.engine.num_waiting:
                            shown.setdefault(fk, t0)
                        else:
                            slowed[r] = fk
                    elif f.kind == "hang":
                        rep.hung_since = t0
                    elif f.kind == "crash":
                        lost = rep.engine.num_running + rep.engine.num_waiting
                        events.append((t0, "log", 1.0 + lost))
                        rep.down = True
                if key in started and key not in ended and f.end_s < now:
                    ended.add(key)
                    t1 = max(f.end_s, now - tick_s)
                    if f.kind == "latency":
                        rep.engine.set_slowdown(1.0, t1)
                        slowed.pop(r, None)
                    elif f.kind == "kv_leak":
                        rep.leaked = 0
                        rep.engine.set_kv_capacity(profile.kv_cache_tokens, t1)
                    elif f.kind in ("hang", "crash"):
                        fleet[r] = _Replica(profile, t1 + profile.startup_s)
                if f.kind == "kv_leak" and key in started and key not in ended:
                    share = f.size * min(1.0, max(0.0, now - tick_s - f.start_s) / f.duration_s)
                    rep.leaked = min(profile.kv_cache_tokens - 1, int(profile.kv_cache_tokens * share))
                    rep.engine.set_kv_capacity(profile.kv_cache_tokens - rep.leaked, max(now - tick_s, f.start_s))
        failing = {f.replica: (fk, f) for fk, f in enumerate(faults)
                   if f.kind == "errors" and f.start_s < now <= f.end_s}
        # Arrivals of this tick, round-robin over the replicas in rotation.
        while i < n and arrival_s[i] <= now:
            t = float(arrival_s[i])
            in_rotation = [j for j, rep in enumerate(fleet) if _in_rotation(rep, t)]
            if in_rotation:
                j = in_rotation[rr % len(in_rotation)]
                rr += 1
                rep = fleet[j]
                if j in failing and rng.random() < failing[j][1].size:
                    # the tick applies the fault to all its arrivals: it shows from its start at the earliest
                    shown.setdefault(failing[j][0], max(t, failing[j][1].start_s))
                    events.append((t, "error", 0.0))
                    events.append((t, "log", 1.0))
                elif rep.hung_since is None:
                    if j in slowed:
                        fk = slowed.pop(j)
                        shown.setdefault(fk, max(t, faults[fk].start_s))
                    p = int(min(prompt[i], limit - 1))
                    rep.engine.submit(next_rid, t, p, int(max(1, min(output[i], limit - p))))
                    arrived[next_rid] = t
                    next_rid += 1
            i += 1
        for j, rep in enumerate(fleet):
            if rep.hung_since is None and not rep.down:
                for ev in rep.engine.advance(now):
                    if ev.kind == FIRST_TOKEN:
                        events.append((ev.time, f"ttft@{j}", ev.time - arrived[ev.req_id]))
                    elif ev.kind == FINISHED and ev.stats is not None:
                        del arrived[ev.req_id]
                        events.append((ev.time, "e2e", ev.stats.e2e))
                        if ev.stats.generation_tokens > 1:
                            # vLLM observes every gap between tokens: the request's mean gap, once per gap.
                            events.append((ev.time, "itl", ev.stats.time_per_output_token))
                            events.append((ev.time, "itl_n", float(ev.stats.generation_tokens - 1)))
                    elif ev.kind == ABORTED:
                        arrived.pop(ev.req_id, None)
                        events.append((ev.time, "error", 0.0))
        while events and events[0][0] <= now - window_s:
            events.popleft()
        yield Tick(epoch + now, _signals(epoch + now, fleet, events, now, window_s),
                   ReplicaStatus(replicas, sum(1 for rep in fleet if _ready(rep, now)), 0, observed_at=epoch + now))


def _ready(rep: _Replica, t: float) -> bool:
    return not rep.down and rep.hung_since is None and t >= rep.ready_at


def _in_rotation(rep: _Replica, t: float) -> bool:
    if rep.down or t < rep.ready_at:
        return False
    return rep.hung_since is None or t - rep.hung_since < READINESS_S


def _quantile(values: list[float], bounds: tuple[float, ...], weights: list[float] | None = None) -> float:
    counts = [0] * (len(bounds) + 1)
    for k, v in enumerate(values):
        counts[bisect.bisect_left(bounds, v)] += int(weights[k]) if weights is not None else 1
    return histogram_quantile(0.95, bounds, counts)


def _signals(at: float, fleet: list[_Replica], events: deque[tuple[float, str, float]], now: float,
             window_s: float) -> Signals:
    by: dict[str, list[float]] = {"e2e": [], "itl": [], "itl_n": [], "error": [], "log": []}
    for _, kind, value in events:
        by.setdefault(kind, []).append(value)
    ttft = {k: v for k, v in by.items() if k.startswith("ttft@")}  # first tokens by replica
    per_replica = [q for q in (_quantile(v, TTFT_BUCKETS) for v in ttft.values()) if math.isfinite(q)]
    finished = len(by["e2e"]) + len(by["error"])
    up = [rep for rep in fleet if not rep.down and rep.hung_since is None and now >= rep.ready_at]

    def reading(value: float, reason: str) -> Reading:
        return Reading.of(value, at) if math.isfinite(value) else Reading.missing(reason, at)

    none = "no requests in the window"
    silent = "no replica answers /metrics"
    kv = [rep.kv_usage() for rep in up]
    return Signals(
        "bench/incidents", at,
        request_rate=Reading.of(finished / window_s, at),
        error_ratio=reading(len(by["error"]) / finished if finished else math.nan, none),
        ttft_p95=reading(_quantile([x for v in ttft.values() for x in v], TTFT_BUCKETS), none),
        ttft_p95_fastest_replica=reading(min(per_replica) if per_replica else math.nan, none),
        e2e_p95=reading(_quantile(by["e2e"], E2E_BUCKETS), none),
        itl_p95=reading(_quantile(by["itl"], ITL_BUCKETS, by["itl_n"]), none),
        waiting_requests=reading(float(sum(rep.engine.num_waiting for rep in up)) if up else math.nan, silent),
        running_requests=reading(float(sum(rep.engine.num_running for rep in up)) if up else math.nan, silent),
        kv_cache_usage_mean=reading(float(np.mean(kv)) if kv else math.nan, silent),
        kv_cache_usage_max=reading(max(kv) if kv else math.nan, silent),
        log_error_rate=Reading.of(sum(by["log"]) / window_s, at),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """Alerts against the incidents: per fault the delay to the first alert (None: missed)."""

    delays: tuple[float | None, ...]
    false_alerts: int
    days: float
    nab: dict[str, float]

    @property
    def false_per_day(self) -> float:
        return self.false_alerts / self.days if self.days else math.nan


def detection_delays(faults: Sequence[Fault], delays: Sequence[float | None],
                     exposed: dict[int, float]) -> list[float | None]:
    """Per fault (``delays[k]`` from ``faults[k]``'s start, None: missed), the delay from its first
    showing instead (``exposed`` as :func:`replay` fills it): an alert before the fault showed
    counts as 0; a fault that never showed gives None."""
    out: list[float | None] = []
    for k, (f, d) in enumerate(zip(faults, delays, strict=True)):
        if d is None or k not in exposed:
            out.append(None)
        else:
            out.append(max(0.0, f.start_s + d - exposed[k]))
    return out


def score_onsets(ticks: Sequence[float], onsets: Sequence[bool], faults: Sequence[Fault], epoch: float,
                 profiles: Sequence[nab.CostProfile], grace_s: float = 300.0) -> Outcome:
    """Score alert onsets (``onsets[k]`` True: an alert started at ``ticks[k]``).

    An incident's window runs from its start to ``grace_s`` after it ends (a
    restarted replica needs its cold start, and alerts about the recovery
    belong to the incident). An onset inside a window detects it; any other
    onset is a false alert. The NAB profiles score the same onsets over these
    windows (a binary score, so no threshold is searched).
    """
    t = np.asarray(ticks, dtype=float) - epoch
    fired = np.asarray(onsets, dtype=bool)
    rows: list[tuple[int, int]] = []
    delays: list[float | None] = []
    inside = np.zeros(t.size, dtype=bool)
    for f in sorted(faults, key=lambda x: x.start_s):
        lo = int(np.searchsorted(t, f.start_s, side="right"))
        hi = int(np.searchsorted(t, f.end_s + grace_s, side="right")) - 1
        if hi < lo:
            raise ValueError(f"fault at {f.start_s:g} s: its window covers no tick")
        if rows and lo <= rows[-1][1]:
            lo = rows[-1][1] + 1
        rows.append((lo, hi))
        inside[lo:hi + 1] = True
        hits = np.flatnonzero(fired[lo:hi + 1])
        delays.append(float(t[lo + hits[0]] - f.start_s) if hits.size else None)
    false_alerts = int((fired & ~inside).sum())
    swept = nab.sweep_file(t.size, rows, "incidents")
    scores = fired.astype(float)
    figures = {p.name: nab.score_corpus([(swept, scores)], p, threshold=1.0).normalised for p in profiles}
    return Outcome(tuple(delays), false_alerts, (t[-1] - t[0]) / 86400.0 if t.size > 1 else 0.0, figures)
