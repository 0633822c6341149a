"""Small traces and scripted autoscalers shared by the simulator tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controlplane.capacity.profile import PerformanceProfile
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Signals
from controlplane.traces.model import Trace

# A fast, round-numbered replica: prefill 1 ms/token, a step 10 ms + 0 per sequence,
# so a 100-token prompt with 1 output token takes 0.1 s (prefill) in its first step + 10 ms base.
TOY = PerformanceProfile(
    name="toy",
    model_name="toy",
    max_num_seqs=8,
    max_num_batched_tokens=1024,
    kv_cache_tokens=100_000,
    block_size=16,
    max_model_len=4096,
    prefill_s_per_token=1e-3,
    decode_base_s=10e-3,
    decode_per_seq_s=0.0,
    startup_s=30.0,
)


def poisson_trace(rate: float, duration: float, prompt: int = 100, output: int = 10, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    n = rng.poisson(rate * duration)
    t = np.sort(rng.uniform(0, duration, n))
    return Trace("poisson", t, np.full(n, prompt, dtype=np.int64), np.full(n, output, dtype=np.int64))


def fixed_trace(times: list[float], prompt: int = 100, output: int = 10) -> Trace:
    n = len(times)
    return Trace("fixed", np.asarray(times, dtype=float), np.full(n, prompt, dtype=np.int64), np.full(n, output, dtype=np.int64))


@dataclass
class Scripted:
    """Asks for ``plan[k]`` replicas from time ``k``-th breakpoint; records what it saw."""

    plan: list[tuple[float, int]]
    name: str = "scripted"
    sync_period_s: float = 5.0
    observes: str = "direct"
    seen: list[tuple[float, ReplicaStatus, Signals]] = field(default_factory=list)

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        self.seen.append((now, status, observed))
        want = self.plan[0][1]
        for at, n in self.plan:
            if now >= at:
                want = n
        return want
