"""One vLLM replica as an event-driven model of continuous batching (pure: no I/O, no clock).

Owns the scheduling maths shared by the real-time emulator (``serving.emulator``)
and the trace simulator: a FIFO waiting queue, admission bounded by
``max_num_seqs`` and KV-cache room, chunked prefill sharing a per-step token
budget with decode, and recompute preemption when the KV cache would overflow.
It must not import anything but the standard library and
:mod:`controlplane.capacity.profile`; time is always an argument.

How time moves
--------------
The engine runs *steps*. A step's duration is the profile's
``step_time(batch, prefill_tokens, prefill_context)``: ``decode_base_s +
decode_per_seq_s * batch + prefill_s_per_token * prefill_tokens +
prefill_s_per_context_token * prefill_context``, where ``batch`` counts every
sequence in the step (decoding ones and those receiving a prefill chunk) and
``prefill_context`` sums the positions of the step's prompt tokens (a chunk
late in a long prompt costs more than the first). Every decoding sequence
gains one token per step.

Steps without prefill work are identical until something changes (a request
finishes, the KV cache fills, or a new arrival could be admitted), so they are
run as one *segment* of ``k`` steps in O(1): a per-replica virtual token clock
``V`` counts decode steps, and each decoding request finishes when ``V``
reaches its virtual finish, kept in a heap. Steps that carry a prefill chunk
are segments of one step. An arrival during a segment cuts it at the next step
boundary (a request can only join a batch between steps, as in vLLM).

The scheduler runs at a step boundary (in :meth:`ReplicaEngine.advance`), in
the order of vLLM's V1 scheduler:

1. the decode tokens of this step must fit in the KV cache, else the most
   recently admitted running request is preempted (recompute: it returns to
   the front of the waiting queue, keeps the tokens it already streamed, and
   must prefill ``prompt + generated`` again on re-admission);
2. if nothing was preempted, waiting requests are admitted in FIFO order while
   fewer than ``max_num_seqs`` run and the KV cache has room for
   ``prompt + generated + 1`` tokens;
3. the step's token budget ``max_num_batched_tokens`` minus one token per
   decoding sequence goes to prefill chunks, oldest admission first.

KV usage is counted in tokens (``prompt + generated`` per running request, the
prompt reserved in full at admission); block rounding is ignored.

Prefix caching
--------------
With ``prefix_caching`` (vLLM V1's default) a request may carry the ids of its
prompt's ``block_tokens``-token blocks (:mod:`controlplane.capacity.prefix_cache`
says what an id stands for). At admission the longest run of leading ids
in the replica's cache is the request's hit, at most ``prompt + generated - 1``
tokens (vLLM always computes the last token): those tokens are not
prefilled (the first chunk starts at that position) and the blocks are
shared, counted once in KV usage however many running requests use them.
Each full block a prefill chunk completes joins the cache. Blocks nobody uses
stay cached in the free part of the KV cache and are evicted, least recently
released first, when admissions or decode growth need the room; an evicted
block is recomputed by the next request that needs it. Every admission counts
``prompt + generated`` tokens queried and the hit tokens (vLLM's
``prefix_cache_queries`` / ``prefix_cache_hits``). Requests without ids, or an
engine built with ``prefix_caching=False``, behave as without a cache.

Driving it
----------
Call :meth:`submit` for each arrival, :meth:`advance` to move to ``now`` (it
returns the :class:`RequestEvent` s that happened, each with its exact time),
and :meth:`next_event_time` to learn when to call :meth:`advance` next. A
request submitted at a time when a step boundary is also due joins that step if
it is submitted before ``advance`` reaches the boundary; so a driver that
submits every arrival ``<= next_event_time()`` before advancing batches
simultaneous arrivals together::

    while pending or engine.next_event_time() is not None:
        t_next = engine.next_event_time()
        if pending and (t_next is None or pending[0].t <= t_next):
            r = pending.popleft()
            engine.submit(r.id, r.t, r.prompt, r.max_tokens)
        else:
            for ev in engine.advance(t_next):
                ...
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from controlplane.capacity.prefix_cache import PrefixCache
from controlplane.capacity.profile import PerformanceProfile

__all__ = ["ReplicaEngine", "RequestEvent", "RequestStats", "FIRST_TOKEN", "FINISHED", "PREEMPTED", "ABORTED"]

FIRST_TOKEN = "first_token"
FINISHED = "finished"
PREEMPTED = "preempted"
ABORTED = "aborted"

_WAITING, _PREFILL, _DECODE, _DONE = 0, 1, 2, 3
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class RequestStats:
    """Timestamps (engine time, seconds) and counts of one request, as vLLM records them."""

    arrival: float
    admitted: float  # first time it was scheduled (vLLM's end of the WAITING phase)
    first_token: float  # time the first output token was produced (NaN if none)
    finished: float
    prompt_tokens: int
    generation_tokens: int
    preemptions: int
    cached_tokens: int = 0  # prompt tokens found in the prefix cache at first admission

    @property
    def queue_time(self) -> float:
        return self.admitted - self.arrival

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival

    @property
    def prefill_time(self) -> float:
        return self.first_token - self.admitted

    @property
    def decode_time(self) -> float:
        return self.finished - self.first_token

    @property
    def inference_time(self) -> float:
        return self.finished - self.admitted

    @property
    def e2e(self) -> float:
        return self.finished - self.arrival

    @property
    def time_per_output_token(self) -> float:
        """Mean inter-token latency after the first token (0 for single-token outputs)."""
        n = self.generation_tokens - 1
        return self.decode_time / n if n > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """Something observable that happened to one request at ``time``.

    ``kind`` is one of ``first_token``, ``finished``, ``preempted``, ``aborted``;
    ``stats`` is set for ``finished`` and ``aborted``.
    """

    kind: str
    req_id: Hashable
    time: float
    stats: RequestStats | None = None
    cached_tokens: int = 0  # first_token: prompt tokens the prefix cache supplied


class _Req:
    __slots__ = (
        "rid", "prompt", "max_tokens", "arrival", "admitted", "first_token", "state",
        "gen", "v_join", "prefill_left", "heap_seq", "preemptions", "kv_reserved", "blocks", "held", "cached",
    )

    def __init__(self, rid: Hashable, arrival: float, prompt: int, max_tokens: int,
                 blocks: tuple[Hashable, ...]) -> None:
        self.rid = rid
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.arrival = arrival
        self.admitted = math.nan
        self.first_token = math.nan
        self.state = _WAITING
        self.gen = 0  # tokens generated when it last joined decode (or so far, if not decoding)
        self.v_join = 0  # virtual clock value when it joined decode
        self.prefill_left = 0
        self.heap_seq = -1
        self.preemptions = 0
        self.kv_reserved = 0  # KV tokens of its own held while prefilling (cached blocks not included)
        self.blocks = blocks  # ids of its full prompt blocks, for the prefix cache
        self.held = 0  # leading blocks it references in the prefix cache
        self.cached = -1  # prompt tokens found cached at first admission (-1: not admitted yet)


class ReplicaEngine:
    """One replica's continuous-batching scheduler; see the module docstring for semantics."""

    def __init__(self, profile: PerformanceProfile, kv_cache_tokens: int | None = None, *,
                 prefix_caching: bool = True, block_tokens: int | None = None) -> None:
        self.profile = profile
        self._cap = int(profile.kv_cache_tokens if kv_cache_tokens is None else kv_cache_tokens)
        if self._cap < 1:
            raise ValueError("kv_cache_tokens: must be >= 1")
        self._bt = profile.block_size if block_tokens is None else int(block_tokens)
        self._cache = PrefixCache(self._bt) if prefix_caching else None
        self._reqs: dict[Hashable, _Req] = {}
        self._waiting: deque[_Req] = deque()
        self._n_waiting = 0
        self._running: dict[Hashable, _Req] = {}  # admission order: last is most recent
        self._prefilling: deque[_Req] = deque()
        self._heap: list[tuple[int, int, _Req]] = []
        self._seq = 0
        self._v = 0
        self._n_decode = 0
        self._kv_used = 0
        self._aborts: list[_Req] = []
        self._out: list[RequestEvent] = []
        self._t = -math.inf  # time of the last step boundary processed
        # in-flight segment: start time, steps, step duration, prefill chunks (req, tokens)
        self._seg_t = 0.0
        self._seg_k = 0
        self._seg_s = 0.0
        self._seg_chunks: list[tuple[_Req, int]] = []
        self._plan_at: float | None = None  # boundary where the scheduler must run next
        self._slowdown = 1.0
        self.total_preemptions = 0
        self.total_prompt_tokens = 0  # prefill tokens computed (recomputation included)
        self.total_generation_tokens = 0
        self.total_steps = 0
        self.prefix_queried_tokens = 0  # tokens looked up in the prefix cache at admissions
        self.prefix_hit_tokens = 0  # of those, found cached

    # ----------------------------------------------------------------- gauges
    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return self._n_waiting

    @property
    def kv_cache_usage(self) -> float:
        """Fraction (0-1) of KV-cache tokens held at the last step boundary."""
        return min(1.0, self._kv_used / self._cap)

    @property
    def kv_cache_tokens(self) -> int:
        return self._cap

    @property
    def kv_used_tokens(self) -> int:
        return self._kv_used

    def __contains__(self, req_id: Hashable) -> bool:
        return req_id in self._reqs

    @property
    def prefix_caching(self) -> bool:
        return self._cache is not None

    @property
    def block_tokens(self) -> int:
        """Tokens per prefix-cache block (the unit of the block ids given to :meth:`submit`)."""
        return self._bt

    @property
    def cached_blocks(self) -> int:
        """Blocks held by the prefix cache, referenced or not."""
        return len(self._cache) if self._cache is not None else 0

    @property
    def evicted_blocks(self) -> int:
        return self._cache.evicted_blocks if self._cache is not None else 0

    def cached_prefix_blocks(self, blocks: Sequence[Hashable]) -> int:
        """How many of these leading block ids this replica's prefix cache holds now."""
        return self._cache.match(blocks) if self._cache is not None else 0

    # ------------------------------------------------------------------- API
    def submit(self, req_id: Hashable, now: float, prompt_tokens: int, max_tokens: int,
               blocks: Sequence[Hashable] = ()) -> None:
        """Queue a request that arrived at ``now``; raises ValueError naming a bad field.

        ``blocks``: ids of the prompt's consecutive ``block_tokens``-token blocks, each
        standing for its block and all before it; ids past the prompt's last full block
        are ignored (only full blocks are cached)."""
        if req_id in self._reqs:
            raise ValueError(f"req_id: {req_id!r} is already in the engine")
        if prompt_tokens < 1:
            raise ValueError(f"prompt_tokens: must be >= 1, got {prompt_tokens}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens: must be >= 1, got {max_tokens}")
        limit = self.profile.max_model_len
        if prompt_tokens + max_tokens > limit:
            raise ValueError(
                f"max_tokens: prompt_tokens + max_tokens = {prompt_tokens + max_tokens} "
                f"exceeds max_model_len {limit}"
            )
        self._run(now, inclusive=False)
        full = tuple(blocks[: int(prompt_tokens) // self._bt]) if self._cache is not None else ()
        r = _Req(req_id, now, int(prompt_tokens), int(max_tokens), full)
        self._reqs[req_id] = r
        could_admit = self._n_waiting == 0 and len(self._running) < self.profile.max_num_seqs
        self._waiting.append(r)
        self._n_waiting += 1
        if could_admit:
            self._wake(now)

    def abort(self, req_id: Hashable, now: float) -> bool:
        """Drop a request (client gone). A waiting one leaves at once; a running one
        at the next step boundary, with an ``aborted`` event. False if unknown or done."""
        r = self._reqs.get(req_id)
        if r is None or r.state == _DONE:
            return False
        self._run(now, inclusive=False)
        if r.state == _WAITING:
            r.state = _DONE
            self._n_waiting -= 1
            del self._reqs[req_id]
            self._out.append(RequestEvent(ABORTED, req_id, now, self._stats(r, now, r.gen)))
            return True
        self._aborts.append(r)
        self._wake(now)
        return True

    def set_kv_capacity(self, kv_cache_tokens: int, now: float) -> None:
        """Change KV capacity (e.g. a simulated leak); takes effect at the next step boundary.

        Below one request's ``prompt + generated + 1`` that request can never be
        re-admitted: the engine then idles (``next_event_time()`` is None) with
        ``num_waiting > 0`` until capacity grows again."""
        if kv_cache_tokens < 1:
            raise ValueError("kv_cache_tokens: must be >= 1")
        self._run(now, inclusive=False)
        self._cap = int(kv_cache_tokens)
        self._wake(now)

    def set_slowdown(self, factor: float, now: float) -> None:
        """Multiply every step's duration by ``factor`` (a degraded replica) from the next
        step boundary on."""
        if not factor > 0:
            raise ValueError(f"factor: must be > 0, got {factor!r}")
        self._run(now, inclusive=False)
        self._slowdown = float(factor)
        self._wake(now)

    def generated(self, req_id: Hashable, now: float | None = None) -> int:
        """Output tokens produced so far (0 if unknown). With ``now``, steps of the
        current segment completed by ``now`` are counted too (for smooth streaming)."""
        r = self._reqs.get(req_id)
        if r is None:
            return 0
        if r.state != _DECODE:
            return r.gen
        n = r.gen + self._v - r.v_join
        if now is not None and self._seg_k > 1:
            done = int((now - self._seg_t) / self._seg_s + _EPS)
            n += max(0, min(done, self._seg_k))
        return min(n, r.max_tokens)

    def next_event_time(self) -> float | None:
        """Time of the next step boundary (where events or scheduling happen), None if idle."""
        if self._seg_k:
            return self._seg_t + self._seg_k * self._seg_s
        return self._plan_at

    def advance(self, now: float) -> list[RequestEvent]:
        """Run every step boundary up to and including ``now``; return the events, in time order."""
        self._run(now, inclusive=True)
        out, self._out = self._out, []
        return out

    # -------------------------------------------------------------- internals
    def _wake(self, now: float) -> None:
        """Make the scheduler run at the first step boundary at or after ``now``."""
        if self._seg_k > 1:
            k = max(1, math.ceil((now - self._seg_t) / self._seg_s - _EPS))
            if k < self._seg_k:
                self._seg_k = k
        elif not self._seg_k and (self._plan_at is None or self._plan_at > now):
            self._plan_at = max(now, self._t)

    def _run(self, now: float, inclusive: bool) -> None:
        while True:
            if self._seg_k:
                end = self._seg_t + self._seg_k * self._seg_s
                if end > now or (end == now and not inclusive):
                    return
                self._finish_segment(end)
                self._plan(end)
            elif self._plan_at is not None:
                at = self._plan_at
                if at > now or (at == now and not inclusive):
                    return
                self._plan(at)
            else:
                return

    def _finish_segment(self, end: float) -> None:
        k = self._seg_k
        self._seg_k = 0
        self.total_steps += k
        nd = self._n_decode
        self._v += k
        self._kv_used += nd * k
        self.total_generation_tokens += nd * k
        cache = self._cache
        for r, chunk in self._seg_chunks:
            r.prefill_left -= chunk
            self.total_prompt_tokens += chunk
            if cache is not None and r.held < len(r.blocks):
                self._adopt_blocks(r, cache)
            if r.prefill_left == 0:
                self._prefilling.popleft()
                r.gen += 1
                self.total_generation_tokens += 1
                if r.first_token != r.first_token:  # NaN: first time
                    r.first_token = end
                    self._out.append(RequestEvent(FIRST_TOKEN, r.rid, end, None, max(0, r.cached)))
                r.kv_reserved = 0
                if r.gen >= r.max_tokens:
                    self._release(r, r.prompt + r.gen - r.held * self._bt)
                    self._finish(r, end, r.gen)
                else:
                    self._join_decode(r)
        self._seg_chunks = []
        heap = self._heap
        v = self._v
        while heap and heap[0][0] <= v:
            _, seq, r = heapq.heappop(heap)
            if r.heap_seq != seq or r.state != _DECODE:
                continue
            self._leave_decode(r)
            self._release(r, r.prompt + r.gen - r.held * self._bt)
            self._finish(r, end, r.gen)

    def _join_decode(self, r: _Req) -> None:
        r.state = _DECODE
        r.v_join = self._v
        self._seq += 1
        r.heap_seq = self._seq
        heapq.heappush(self._heap, (self._v + r.max_tokens - r.gen, self._seq, r))
        self._n_decode += 1

    def _leave_decode(self, r: _Req) -> None:
        """Freeze a decoding request's token count (r.gen becomes current)."""
        r.gen += self._v - r.v_join
        r.heap_seq = -1
        self._n_decode -= 1

    def _adopt_blocks(self, r: _Req, cache: PrefixCache) -> None:
        """Put the request's newly computed full prompt blocks in the prefix cache."""
        full = min(len(r.blocks), (r.prompt + r.gen - r.prefill_left) // self._bt)
        while r.held < full:
            self._kv_used += cache.adopt(r.blocks[r.held])
            r.kv_reserved -= self._bt
            r.held += 1

    def _release(self, r: _Req, kv: int) -> None:
        """Free a request's own ``kv`` tokens and its references to cached blocks."""
        self._kv_used -= kv
        if r.held:
            assert self._cache is not None
            self._kv_used -= self._cache.release(r.blocks[: r.held])
            r.held = 0
        del self._running[r.rid]

    def _finish(self, r: _Req, t: float, gen: int) -> None:
        r.state = _DONE
        del self._reqs[r.rid]
        self._out.append(RequestEvent(FINISHED, r.rid, t, self._stats(r, t, gen)))

    def _stats(self, r: _Req, t: float, gen: int) -> RequestStats:
        admitted = t if r.admitted != r.admitted else r.admitted
        return RequestStats(r.arrival, admitted, r.first_token, t, r.prompt, gen, r.preemptions, max(0, r.cached))

    def _kv_of(self, r: _Req) -> int:
        if r.state == _DECODE:
            return r.prompt + r.gen + self._v - r.v_join - r.held * self._bt
        return r.kv_reserved

    def _remove_running(self, r: _Req) -> int:
        """Take a running request out of the batch; returns its tokens generated so far."""
        kv = self._kv_of(r)
        if r.state == _DECODE:
            self._leave_decode(r)
        else:
            self._prefilling.remove(r)
            r.kv_reserved = 0
        self._release(r, kv)
        return r.gen

    def _plan(self, t: float) -> None:
        """Scheduler at step boundary ``t``: aborts, preemption, admission, prefill chunks."""
        self._plan_at = None
        self._t = t
        p = self.profile
        if self._aborts:
            for r in self._aborts:
                if r.state in (_PREFILL, _DECODE):
                    gen = self._remove_running(r)
                    r.state = _DONE
                    del self._reqs[r.rid]
                    self._out.append(RequestEvent(ABORTED, r.rid, t, self._stats(r, t, gen)))
            self._aborts = []
        cache = self._cache
        if cache is not None:
            cache.evict_to(self._cap - self._kv_used)
        running = self._running
        preempted = False
        while running and self._kv_used + self._n_decode > self._cap:
            victim = running[next(reversed(running))]
            self._remove_running(victim)
            victim.state = _WAITING
            victim.preemptions += 1
            self.total_preemptions += 1
            self._waiting.appendleft(victim)
            self._n_waiting += 1
            self._out.append(RequestEvent(PREEMPTED, victim.rid, t))
            preempted = True
        if not preempted:
            waiting = self._waiting
            while waiting and len(running) < p.max_num_seqs:
                r = waiting[0]
                if r.state != _WAITING:
                    waiting.popleft()
                    continue
                total = r.prompt + r.gen
                hit = 0
                if cache is not None:
                    # at least one token is computed, so a fully cached prompt recomputes its last block
                    hit = cache.match(r.blocks, (total - 1) // self._bt)
                    revive = cache.revive_tokens(r.blocks[:hit])
                else:
                    revive = 0
                need = total + 1 - hit * self._bt
                if self._kv_used + self._n_decode + need + revive > self._cap:
                    break
                waiting.popleft()
                self._n_waiting -= 1
                r.state = _PREFILL
                if r.admitted != r.admitted:
                    r.admitted = t
                if cache is not None:
                    self._kv_used += cache.acquire(r.blocks[:hit])
                    r.held = hit
                    self.prefix_queried_tokens += total
                    self.prefix_hit_tokens += hit * self._bt
                if r.cached < 0:
                    r.cached = hit * self._bt
                r.prefill_left = total - hit * self._bt
                r.kv_reserved = need
                self._kv_used += need
                running[r.rid] = r
                self._prefilling.append(r)
            if cache is not None:
                cache.evict_to(self._cap - self._kv_used)
        nd = self._n_decode
        budget = p.max_num_batched_tokens - nd
        chunks: list[tuple[_Req, int]] = []
        ptoks = 0
        pctx = 0
        if budget > 0:
            for r in self._prefilling:
                c = min(r.prefill_left, budget)
                chunks.append((r, c))
                ptoks += c
                start = r.prompt + r.gen - r.prefill_left
                pctx += c * start + c * (c - 1) // 2
                budget -= c
                if budget == 0:
                    break
        if chunks:
            self._seg_t = t
            self._seg_k = 1
            self._seg_s = p.step_time(nd + len(chunks), ptoks, pctx) * self._slowdown
            self._seg_chunks = chunks
            return
        if nd == 0:
            return
        k = self._heap_min() - self._v
        room = (self._cap - self._kv_used) // nd
        if room < k:
            k = max(1, room)
        self._seg_t = t
        self._seg_k = k
        self._seg_s = p.step_time(nd, 0) * self._slowdown

    def _heap_min(self) -> int:
        heap = self._heap
        while True:
            v, seq, r = heap[0]
            if r.heap_seq == seq and r.state == _DECODE:
                return v
            heapq.heappop(heap)
