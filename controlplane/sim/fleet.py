"""The simulated fleet: replicas, their life cycle, the router and what requests saw.

Owns: one :class:`Replica` record per replica ever asked for (its engine,
life-cycle state, requests in flight, busy time and timestamps), the router
that picks a ready replica per request, scaling to a desired count, stepping
engines and collecting per-request latencies and prefix-cache totals, and the
scrape of every live replica.

Routers: ``least_outstanding`` (fewest requests in flight, first ready on
ties), ``round_robin``, and ``prefix_affinity``: among the replicas with at
most ``affinity_slack`` more requests in flight than the least loaded, the one
whose prefix cache holds the most leading blocks of the request (fewest in
flight on ties); least-outstanding when none holds any. It reads each
replica's cache exactly, as a router fed by the engines' KV-cache events does
(llm-d's precise prefix-cache scorer); a router that only remembers what it
sent where (``controlplane.loadgen.targets``) can do no better. The event loop that calls it is :func:`controlplane.sim.replay.simulate`.
Must not import: any I/O library; time is an argument.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from controlplane.capacity.engine import FINISHED, FIRST_TOKEN, ReplicaEngine
from controlplane.capacity.profile import PerformanceProfile
from controlplane.catalog import build_1_2_5_buckets
from controlplane.signals import Reading, Signals
from controlplane.sim.observe import E2E_BUCKETS, ITL_BUCKETS, TTFT_BUCKETS, Histogram, Scrape

__all__ = ["Fleet", "Replica", "ROUTERS", "STARTING", "READY", "DRAINING", "GONE", "P_READY", "P_STEP", "P_SCRAPE", "P_TICK"]

ROUTERS = ("least_outstanding", "round_robin", "prefix_affinity")
STARTING, READY, DRAINING, GONE = 0, 1, 2, 3
# heap priorities at equal times: replicas come up, engines step, then scrape, then decide
P_READY, P_STEP, P_SCRAPE, P_TICK = 0, 1, 2, 3


@dataclass(slots=True)
class Replica:
    """One replica's life: asked for at ``created``, serving from ``ready_at``, gone at ``ended``."""

    created: float
    state: int = STARTING
    engine: ReplicaEngine | None = None
    outstanding: int = 0  # requests routed here and not finished
    busy_since: float = 0.0  # when outstanding last went from 0 to 1
    busy_acc: float = 0.0  # seconds with outstanding > 0, up to the last idle moment
    busy_mark: float = 0.0  # busy seconds at the previous scrape
    ready_at: float = math.inf
    ended: float = math.nan
    next_step: float | None = None  # the engine step boundary queued on the heap


class Fleet:
    """Replicas behind one router, driven by the event heap in :attr:`heap`.

    ``heap`` holds ``(time, priority, seq, replica id)``; the fleet pushes its own
    start-ups (``P_READY``) and engine steps (``P_STEP``), the event loop the rest.
    Requests are trace indexes into ``arrival``, ``prompt``, ``output`` and ``blocks``
    (prompt block ids of ``block_tokens`` tokens, None when the trace has none).
    """

    def __init__(self, profile: PerformanceProfile, router: str, cold_start: Callable[[], float],
                 arrival: list[float], prompt: list[int], output: list[int], *,
                 blocks: Sequence[Sequence[Hashable]] | None = None, block_tokens: int | None = None,
                 prefix_caching: bool = True, affinity_slack: int = 8) -> None:
        if router not in ROUTERS:
            raise ValueError(f"router: expected one of {ROUTERS}, got {router!r}")
        if affinity_slack < 0:
            raise ValueError(f"affinity_slack: must be >= 0, got {affinity_slack}")
        self.profile = profile
        self.router = router
        self._cold_start = cold_start
        self.arrival, self.prompt, self.output = arrival, prompt, output
        self.blocks = blocks
        self._block_tokens = block_tokens
        self._prefix_caching = prefix_caching
        self.affinity_slack = affinity_slack
        self.prefix_queried = self.prefix_hits = 0  # tokens, of replicas already gone
        n = len(arrival)
        self.ttft = [math.nan] * n
        self.e2e = [math.nan] * n
        self.itl = [math.nan] * n
        self.served_by = [-1] * n
        self.h_ttft, self.h_itl, self.h_e2e = Histogram(TTFT_BUCKETS), Histogram(ITL_BUCKETS), Histogram(E2E_BUCKETS)
        tokens = tuple(float(b) for b in build_1_2_5_buckets(profile.max_model_len))
        self.h_prompt, self.h_output = Histogram(tokens), Histogram(tokens)
        self.finished = self.finished_prompt = self.finished_gen = 0
        self.replicas: list[Replica] = []
        self.routable: list[int] = []  # ready, in the order they became ready
        self.alive: set[int] = set()  # ready or draining: scraped, and counted until gone
        self.starting: list[int] = []  # in start order
        self.n_starting = 0
        self.n_ready = 0
        self.replica_log: list[tuple[float, int, int]] = []
        self.held: deque[int] = deque()  # arrivals waiting for a ready replica
        self.heap: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self.in_flight = 0
        self._rr = 0
        self._retired_preemptions = 0
        self.peak_waiting = 0.0
        self.last_finish = 0.0

    # ------------------------------------------------------------ life cycle
    @property
    def spec(self) -> int:
        """Replicas asked for and not being removed: starting + ready."""
        return self.n_starting + self.n_ready

    def log(self, t: float) -> None:
        self.replica_log.append((t, self.n_starting + len(self.alive), self.n_ready))

    def _push(self, t: float, priority: int, rid: int) -> None:
        heapq.heappush(self.heap, (t, priority, self._seq, rid))
        self._seq += 1

    def add(self, t: float, ready: bool) -> None:
        """Ask for a replica at ``t``; ``ready`` skips the cold start (the service at t=0)."""
        rid = len(self.replicas)
        self.replicas.append(Replica(created=t))
        self.n_starting += 1
        self.starting.append(rid)
        if ready:
            self.become_ready(rid, t)
        else:
            self._push(t + self._cold_start(), P_READY, rid)

    def become_ready(self, rid: int, t: float) -> None:
        rep = self.replicas[rid]
        rep.state = READY
        self.starting.remove(rid)
        self.alive.add(rid)
        self.n_starting -= 1
        self.n_ready += 1
        rep.engine = ReplicaEngine(self.profile, prefix_caching=self._prefix_caching,
                                   block_tokens=self._block_tokens)
        rep.ready_at = t
        self.routable.append(rid)
        while self.held:
            self.submit(self.held.popleft(), t)

    def _retire(self, rid: int, t: float) -> None:
        rep = self.replicas[rid]
        if rep.engine is not None:
            self._retired_preemptions += rep.engine.total_preemptions
            self.prefix_queried += rep.engine.prefix_queried_tokens
            self.prefix_hits += rep.engine.prefix_hit_tokens
        rep.state = GONE
        self.alive.discard(rid)
        rep.ended = t
        rep.engine = None
        rep.next_step = None

    def scale_to(self, desired: int, t: float) -> None:
        """Start replicas, or cancel starting ones (newest first) then drain ready ones
        (fewest in flight first)."""
        spec = self.spec
        if desired > spec:
            for _ in range(desired - spec):
                self.add(t, ready=False)
        elif desired < spec:
            k = spec - desired
            while k and self.starting:
                self.n_starting -= 1
                self._retire(self.starting.pop(), t)
                k -= 1
            for rid in sorted(self.routable, key=lambda r: self.replicas[r].outstanding)[:k]:
                self.routable.remove(rid)
                self.n_ready -= 1
                if self.replicas[rid].outstanding == 0:
                    self._retire(rid, t)
                else:
                    self.replicas[rid].state = DRAINING
        self.log(t)

    # ------------------------------------------------------------ requests
    def arrive(self, i: int, t: float) -> None:
        """Request ``i`` arrives: to a ready replica, or held at the router until one is."""
        if self.routable:
            self.submit(i, t)
        else:
            self.held.append(i)

    def _route(self, blocks: Sequence[Hashable]) -> int:
        if self.router == "round_robin":
            rid = self.routable[self._rr % len(self.routable)]
            self._rr += 1
            return rid
        least = min(self.routable, key=lambda r: self.replicas[r].outstanding)
        if self.router != "prefix_affinity" or not blocks:
            return least
        bound = self.replicas[least].outstanding + self.affinity_slack
        best, best_key = least, (0, 0)
        for rid in self.routable:
            rep = self.replicas[rid]
            if rep.outstanding > bound:
                continue
            assert rep.engine is not None
            key = (rep.engine.cached_prefix_blocks(blocks), -rep.outstanding)
            if key[0] and key > best_key:
                best, best_key = rid, key
        return best

    def submit(self, i: int, t: float) -> None:
        blocks = self.blocks[i] if self.blocks is not None else ()
        rid = self._route(blocks)
        rep = self.replicas[rid]
        eng = rep.engine
        assert eng is not None
        eng.submit(i, t, self.prompt[i], self.output[i], blocks)
        self.served_by[i] = rid
        if rep.outstanding == 0:
            rep.busy_since = t
        rep.outstanding += 1
        self.in_flight += 1
        nt = eng.next_event_time()
        if nt is not None and nt != rep.next_step:
            rep.next_step = nt
            self._push(nt, P_STEP, rid)

    def step(self, rid: int, t: float) -> None:
        """Advance replica ``rid``'s engine to ``t`` if that boundary is still its next one."""
        rep = self.replicas[rid]
        if rep.state == GONE or rep.next_step != t:
            return
        eng = rep.engine
        assert eng is not None
        rep.next_step = None
        arrival = self.arrival
        for ev in eng.advance(t):
            i: int = ev.req_id  # type: ignore[assignment]  # ids are trace indexes
            if ev.kind == FIRST_TOKEN:
                v = ev.time - arrival[i]
                self.ttft[i] = v
                self.h_ttft.observe(v)
            elif ev.kind == FINISHED:
                st = ev.stats
                assert st is not None
                e = ev.time - arrival[i]
                self.e2e[i] = e
                self.h_e2e.observe(e)
                gen = st.generation_tokens
                gap = (ev.time - st.first_token) / (gen - 1) if gen > 1 else 0.0
                self.itl[i] = gap
                if gen > 1:
                    self.h_itl.observe(gap, gen - 1)
                self.finished += 1
                self.finished_prompt += st.prompt_tokens
                self.h_prompt.observe(st.prompt_tokens)
                self.h_output.observe(gen)
                self.finished_gen += gen
                self.in_flight -= 1
                self.last_finish = ev.time
                rep.outstanding -= 1
                if rep.outstanding == 0:
                    rep.busy_acc += ev.time - rep.busy_since
                    if rep.state == DRAINING:
                        self._retire(rid, ev.time)
                        self.log(ev.time)
                        return
        nt = eng.next_event_time()
        if nt is not None:
            rep.next_step = nt
            self._push(nt, P_STEP, rid)

    # ------------------------------------------------------------ observation
    def prefix_totals(self) -> tuple[int, int]:
        """Prompt tokens looked up in prefix caches and found there, over every replica so far."""
        queried, hits = self.prefix_queried, self.prefix_hits
        for _, eng in self._live_engines():
            queried += eng.prefix_queried_tokens
            hits += eng.prefix_hit_tokens
        return queried, hits

    def _live_engines(self) -> list[tuple[int, ReplicaEngine]]:
        out = []
        for rid in sorted(self.alive):
            eng = self.replicas[rid].engine
            assert eng is not None
            out.append((rid, eng))
        return out

    def scrape(self, t: float, interval_s: float) -> Scrape:
        """What Prometheus would scrape at ``t`` (engine utilisation over the last ``interval_s``)."""
        waiting = float(len(self.held))
        running = 0.0
        kv: list[float] = []
        utils: list[float] = []
        pre = self._retired_preemptions
        for rid, eng in self._live_engines():
            rep = self.replicas[rid]
            waiting += eng.num_waiting
            running += eng.num_running
            pre += eng.total_preemptions
            kv.append(eng.kv_cache_usage)
            busy = rep.busy_acc + (t - rep.busy_since if rep.outstanding else 0.0)
            span = min(interval_s, t - rep.ready_at)
            if span > 0:
                utils.append(min(1.0, (busy - rep.busy_mark) / span))
            rep.busy_mark = busy
        self.peak_waiting = max(self.peak_waiting, waiting)
        queried, hits = self.prefix_totals()
        return Scrape(
            t, self.finished, 0, self.finished_prompt, self.finished_gen, pre,
            tuple(self.h_ttft.counts), tuple(self.h_itl.counts), tuple(self.h_e2e.counts),
            waiting, running,
            sum(kv) / len(kv) if kv else None, max(kv) if kv else None,
            sum(utils) / len(utils) if utils else None, self.n_ready, queried, hits,
            tuple(self.h_prompt.counts), tuple(self.h_output.counts), self.h_prompt.bounds,
        )

    def direct(self, target: str, at: float) -> Signals:
        """Queue and replica counts read straight from the engines (no scrape lag)."""
        waiting, running = float(len(self.held)), 0.0
        for _, eng in self._live_engines():
            waiting += eng.num_waiting
            running += eng.num_running
        return Signals(
            target=target, collected_at=at, waiting_requests=Reading.of(waiting, at),
            running_requests=Reading.of(running, at), ready_replicas=Reading.of(self.n_ready, at),
        )
