"""The emulated replica in real time: drives a ReplicaEngine from the wall clock.

Owns the emulated clock (``time_scale`` emulated seconds per wall second, frozen
while the ``hang`` fault is on), the live requests and their wake-ups, fault
application, drain, and the translation of engine events into ``vllm:*``
metrics and JSON log lines. Knows nothing about HTTP routes (see ``app``).

All engine times and every latency recorded are emulated seconds counted from
process start; ``@timestamp`` in logs is the real wall clock.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from controlplane.capacity.engine import (
    ABORTED,
    FINISHED,
    FIRST_TOKEN,
    PREEMPTED,
    ReplicaEngine,
    RequestStats,
)
from serving.emulator.config import EmulatorConfig, Faults
from serving.emulator.logs import ERROR_MESSAGES, JsonLog
from serving.emulator.metrics import VllmMetrics

__all__ = ["Runtime", "LiveRequest", "ApiError", "EmulatedClock"]

_TICK_WALL_S = 0.02  # longest wall time between engine advances (stream smoothness)
_MIN_WAIT_WALL_S = 0.004  # shortest; later boundaries are processed in the next batch


class ApiError(Exception):
    """An HTTP error answered with a vLLM/OpenAI-style body."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.param = status, kind, message, param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.status}}


class EmulatedClock:
    """Emulated seconds since start: wall seconds x scale, with freeze/thaw for hangs."""

    def __init__(self, scale: float, wall: Callable[[], float] = time.monotonic) -> None:
        self._scale = scale
        self._wall = wall
        self._base_wall = wall()
        self._base = 0.0
        self.frozen = False

    def now(self) -> float:
        if self.frozen:
            return self._base
        return self._base + (self._wall() - self._base_wall) * self._scale

    def freeze(self) -> None:
        if not self.frozen:
            self._base = self.now()
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self._base_wall = self._wall()
            self.frozen = False


@dataclass(eq=False)
class LiveRequest:
    request_id: str
    key: int
    prompt_tokens: int
    max_tokens: int
    output_tokens: int  # max_tokens, or fewer when an EOS was sampled
    arrival: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    first_token: float = math.nan
    stats: RequestStats | None = None
    finish_reason: str | None = None

    @property
    def planned_reason(self) -> str:
        return "length" if self.output_tokens >= self.max_tokens else "stop"


class Runtime:
    def __init__(self, config: EmulatorConfig, log: JsonLog, on_exit: Callable[[int], None]) -> None:
        self.config = config
        self.profile = config.profile
        self.log = log
        self._on_exit = on_exit
        self.engine = ReplicaEngine(self.profile, prefix_caching=config.prefix_caching)
        self.metrics = VllmMetrics(self.profile, config.model_name, prefix_caching=config.prefix_caching)
        self.clock = EmulatedClock(config.time_scale)
        self.faults = Faults()
        self.draining = False
        self._live: dict[int, LiveRequest] = {}
        self._keys = itertools.count()
        self._rng = random.Random(config.seed)
        self._tick = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._leaked = 0.0
        self._leak_last = 0.0
        self._gen_seen = 0
        self._queried_seen = 0
        self._hits_seen = 0
        self._ready_logged = False
        self._timed_hang_done = False
        self._stopped = False
        self.set_faults(config.faults)

    # ------------------------------------------------------------ status
    def now(self) -> float:
        return self.clock.now()

    @property
    def ready(self) -> bool:
        return self.now() >= self.config.startup_s

    @property
    def in_flight(self) -> int:
        return len(self._live)

    async def wait_unhung(self) -> None:
        await self._unhung.wait()

    async def wait_tick(self) -> None:
        """Until the engine has next been advanced (new tokens may be there)."""
        await self._tick.wait()

    # ------------------------------------------------------------ requests
    def check_accepting(self) -> None:
        if self.draining:
            raise ApiError(503, "ServiceUnavailableError", "The server is shutting down.")
        if not self.ready:
            raise ApiError(503, "ServiceUnavailableError", "The server is starting up.")

    def submit(self, request_id: str, prompt_tokens: int, max_tokens: int, ignore_eos: bool,
               blocks: Sequence[Hashable] = ()) -> LiveRequest:
        """Admit a validated request to the engine, or raise ApiError (draining, injected error).
        ``blocks``: the prompt's block ids for the prefix cache (see ``openai``)."""
        self.check_accepting()
        now = self.now()
        if self.faults.error_ratio > 0 and self._rng.random() < self.faults.error_ratio:
            self.fail(request_id, self.faults.error_class, prompt_tokens=prompt_tokens)
        output = max_tokens
        if not ignore_eos and self.config.eos_mean_tokens > 0:
            output = min(max_tokens, 1 + int(self._rng.expovariate(1.0 / self.config.eos_mean_tokens)))
        key = next(self._keys)
        live = LiveRequest(request_id, key, prompt_tokens, max_tokens, output, now)
        self.engine.submit(key, now, prompt_tokens, output, blocks)
        self._live[key] = live
        self._wakeup.set()
        return live

    def fail(self, request_id: str, error_class: str, **fields: object) -> None:
        """Log and count an engine-side failure, then raise it as HTTP 500."""
        message = ERROR_MESSAGES[error_class]
        self.metrics.on_error()
        self.log.write(
            "request_error", message, level="ERROR", status=500, error_class=error_class,
            request_id=request_id, **fields,
        )
        raise ApiError(500, "InternalServerError", message)

    def generated(self, live: LiveRequest) -> int:
        if live.stats is not None:
            return live.stats.generation_tokens
        return self.engine.generated(live.key, self.now())

    def abort(self, live: LiveRequest) -> None:
        """The client went away before the end: drop it from the engine."""
        if live.done.is_set():
            return
        if self.engine.abort(live.key, self.now()):
            self._wakeup.set()

    # ------------------------------------------------------------ faults
    def set_faults(self, faults: Faults) -> None:
        now = self.now()
        if faults.latency_multiplier != self.faults.latency_multiplier:
            self.engine.set_slowdown(faults.latency_multiplier, now)
        if faults.kv_leak_tokens_per_s and not self.faults.kv_leak_tokens_per_s:
            self._leak_last = now
        if faults.hang:
            self.clock.freeze()
            self._unhung.clear()
        else:
            self.clock.thaw()
            self._unhung.set()
        self.faults = faults
        if faults.crash:
            asyncio.get_running_loop().call_later(0.05, self.crash)
        self._wakeup.set()

    def crash(self) -> None:
        self.log.write(
            "engine_crash", "EngineCore encountered a fatal error and exited.", level="ERROR",
            status=None, error_class="engine_dead",
        )
        self.log.close()
        os._exit(1)

    def _timed_faults(self, now: float) -> None:
        ready_at = self.config.startup_s
        if not self._ready_logged and now >= ready_at:
            self._ready_logged = True
            self.log.write("server_ready", "Application startup complete.", status=200)
        if self.config.crash_after_s is not None and now >= ready_at + self.config.crash_after_s:
            self.crash()
        hang_at = self.config.hang_after_s
        if hang_at is not None and not self._timed_hang_done and now >= ready_at + hang_at:
            self._timed_hang_done = True
            self.set_faults(self.faults.updated({"hang": True}))
        rate = self.faults.kv_leak_tokens_per_s
        if rate > 0 and now > self._leak_last:
            self._leaked += rate * (now - self._leak_last)
            self._leak_last = now
            capacity = max(1, self.profile.kv_cache_tokens - int(self._leaked))
            if capacity != self.engine.kv_cache_tokens:
                self.engine.set_kv_capacity(capacity, now)

    # ------------------------------------------------------------ drain
    def start_drain(self) -> None:
        if self.draining:
            return
        self.draining = True
        self.log.write("drain_started", f"Draining: {self.in_flight} request(s) in flight.", status=503)
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        deadline = time.monotonic() + self.config.drain_grace_s
        while self._live and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for live in list(self._live.values()):
            live.finish_reason = "abort"
            self.metrics.on_abort()
            self.log.write(
                "request_aborted", "Aborted at the end of the drain grace period.", status=503,
                request_id=live.request_id,
            )
            live.done.set()
        self._live.clear()
        self.log.write("drain_finished", "Drain complete; shutting down.", status=None)
        self._stopped = True
        self._wakeup.set()
        self._on_exit(0)

    # ------------------------------------------------------------ driver
    async def run(self) -> None:
        """Advance the engine to the emulated now, publish events, sleep until the next boundary."""
        scale = self.config.time_scale
        while not self._stopped:
            now = self.now()
            self._timed_faults(now)
            if not self.clock.frozen:
                for ev in self.engine.advance(now):
                    self._on_event(ev)
                total = self.engine.total_generation_tokens
                self.metrics.on_generation_tokens(total - self._gen_seen)
                self._gen_seen = total
                queried, hits = self.engine.prefix_queried_tokens, self.engine.prefix_hit_tokens
                self.metrics.on_prefix_cache(queried - self._queried_seen, hits - self._hits_seen)
                self._queried_seen, self._hits_seen = queried, hits
            self._publish_gauges()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            wait = _TICK_WALL_S
            nxt = self.engine.next_event_time()
            if nxt is not None and not self.clock.frozen:
                wait = min(wait, max(_MIN_WAIT_WALL_S, (nxt - now) / scale))
            if not self.ready:
                wait = min(wait, max(_MIN_WAIT_WALL_S, (self.config.startup_s - now) / scale))
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass

    def _publish_gauges(self) -> None:
        used = self.engine.kv_used_tokens + int(self._leaked)
        usage = min(1.0, used / self.profile.kv_cache_tokens)
        self.metrics.set_gauges(self.engine.num_running, self.engine.num_waiting, usage)

    def _on_event(self, ev) -> None:  # type: ignore[no-untyped-def]
        live = self._live.get(ev.req_id)
        if live is None:
            return
        if ev.kind == FIRST_TOKEN:
            live.first_token = ev.time
            self.metrics.on_first_token(live.prompt_tokens, ev.cached_tokens, ev.time - live.arrival)
        elif ev.kind == PREEMPTED:
            self.metrics.on_preemption()
        elif ev.kind == FINISHED:
            s = ev.stats
            live.stats = s
            live.finish_reason = live.planned_reason
            self.metrics.on_finished(
                live.finish_reason, prompt_tokens=s.prompt_tokens, generation_tokens=s.generation_tokens,
                max_tokens=live.max_tokens, preemptions=s.preemptions, cached_tokens=s.cached_tokens,
                e2e_s=s.e2e, queue_s=s.queue_time,
                prefill_s=s.prefill_time, decode_s=s.decode_time, inference_s=s.inference_time,
            )
            self.log.write(
                "request_finished", f"Finished request {live.request_id}.", status=200,
                request_id=live.request_id, finish_reason=live.finish_reason,
                prompt_tokens=s.prompt_tokens, completion_tokens=s.generation_tokens,
                preemptions=s.preemptions, ttft_s=round(s.ttft, 6), e2e_s=round(s.e2e, 6),
                queue_s=round(s.queue_time, 6), prefill_s=round(s.prefill_time, 6),
                decode_s=round(s.decode_time, 6), tpot_s=round(s.time_per_output_token, 6),
            )
            del self._live[ev.req_id]
            live.done.set()
        elif ev.kind == ABORTED:
            live.stats = ev.stats
            live.finish_reason = "abort"
            self.metrics.on_abort()
            self.log.write(
                "request_aborted", f"Aborted request {live.request_id}.", status=499,
                request_id=live.request_id, completion_tokens=ev.stats.generation_tokens,
                e2e_s=round(ev.stats.e2e, 6),
            )
            del self._live[ev.req_id]
            live.done.set()
