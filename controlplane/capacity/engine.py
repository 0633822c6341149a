"""One vLLM replica as an event-driven model of continuous batching (pure: no I/O, no clock).

Owns the scheduling maths shared by the real-time emulator (``serving.emulator``)
and the trace simulator: a FIFO waiting queue, admission bounded by
``max_num_seqs`` and KV-cache room, chunked prefill sharing a per-step token
budget with decode, and recompute preemption when the KV cache would overflow.
It must not import anything but the standard library and
:mod:`controlplane.capacity.profile`; time is always an argument.

How time moves
--------------
The engine runs *steps*. A step's duration is
``decode_base_s + decode_per_seq_s * batch + prefill_s_per_token * prefill_tokens``
where ``batch`` counts every sequence in the step (decoding ones and those
receiving a prefill chunk). Every decoding sequence gains one token per step.

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
from collections.abc import Hashable
from dataclasses import dataclass

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


class _Req:
    __slots__ = (
        "rid", "prompt", "max_tokens", "arrival", "admitted", "first_token", "state",
        "gen", "v_join", "prefill_left", "heap_seq", "preemptions", "kv_reserved",
    )

    def __init__(self, rid: Hashable, arrival: float, prompt: int, max_tokens: int) -> None:
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
        self.kv_reserved = 0  # KV tokens held while prefilling


class ReplicaEngine:
    """One replica's continuous-batching scheduler; see the module docstring for semantics."""

    def __init__(self, profile: PerformanceProfile, kv_cache_tokens: int | None = None) -> None:
        self.profile = profile
        self._cap = int(profile.kv_cache_tokens if kv_cache_tokens is None else kv_cache_tokens)
        if self._cap < 1:
            raise ValueError("kv_cache_tokens: must be >= 1")
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

    # ------------------------------------------------------------------- API
    def submit(self, req_id: Hashable, now: float, prompt_tokens: int, max_tokens: int) -> None:
        """Queue a request that arrived at ``now``; raises ValueError naming a bad field."""
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
        r = _Req(req_id, now, int(prompt_tokens), int(max_tokens))
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
        for r, chunk in self._seg_chunks:
            r.prefill_left -= chunk
            self.total_prompt_tokens += chunk
            if r.prefill_left == 0:
                self._prefilling.popleft()
                r.gen += 1
                self.total_generation_tokens += 1
                if r.first_token != r.first_token:  # NaN: first time
                    r.first_token = end
                    self._out.append(RequestEvent(FIRST_TOKEN, r.rid, end))
                r.kv_reserved = 0
                if r.gen >= r.max_tokens:
                    self._release(r, r.prompt + r.gen)
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
            self._release(r, r.prompt + r.gen)
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

    def _release(self, r: _Req, kv: int) -> None:
        self._kv_used -= kv
        del self._running[r.rid]

    def _finish(self, r: _Req, t: float, gen: int) -> None:
        r.state = _DONE
        del self._reqs[r.rid]
        self._out.append(RequestEvent(FINISHED, r.rid, t, self._stats(r, t, gen)))

    def _stats(self, r: _Req, t: float, gen: int) -> RequestStats:
        admitted = t if r.admitted != r.admitted else r.admitted
        return RequestStats(r.arrival, admitted, r.first_token, t, r.prompt, gen, r.preemptions)

    def _kv_of(self, r: _Req) -> int:
        if r.state == _DECODE:
            return r.prompt + r.gen + self._v - r.v_join
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
                need = r.prompt + r.gen + 1
                if self._kv_used + self._n_decode + need > self._cap:
                    break
                waiting.popleft()
                self._n_waiting -= 1
                r.state = _PREFILL
                if r.admitted != r.admitted:
                    r.admitted = t
                r.prefill_left = r.prompt + r.gen
                r.kv_reserved = need
                self._kv_used += need
                running[r.rid] = r
                self._prefilling.append(r)
        nd = self._n_decode
        budget = p.max_num_batched_tokens - nd
        chunks: list[tuple[_Req, int]] = []
        ptoks = 0
        if budget > 0:
            for r in self._prefilling:
                c = min(r.prefill_left, budget)
                chunks.append((r, c))
                ptoks += c
                budget -= c
                if budget == 0:
                    break
        if chunks:
            self._seg_t = t
            self._seg_k = 1
            self._seg_s = p.step_time(nd + len(chunks), ptoks) * self._slowdown
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
