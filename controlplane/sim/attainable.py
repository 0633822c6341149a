"""The attainable SLO share: which requests could meet the TTFT SLO at any scale.

Owns: :func:`idle_ttft` (a request's TTFT alone on an idle replica) and
:func:`attainable_share`. Must not import: any I/O library.

A request alone on an idle replica is admitted at once and prefilled in chunks
of at most ``max_num_batched_tokens`` tokens, one per engine step; its first
token comes at the end of the last chunk. No fleet, however large, serves it
sooner (adding replicas removes queueing, not prefill), so the share of
requests whose idle TTFT is within the SLO is the most any policy can reach.

The time is measured by running the simulator's own engine
(:class:`~controlplane.capacity.engine.ReplicaEngine`) on the request, so whatever
prefill cost the profile and engine model (per token, per chunk, per context
length) is counted exactly as in a replay, without a second copy of the
formula. Prompts are clipped to ``max_model_len - 1`` as the replay clips them;
a prompt whose KV footprint exceeds the cache never starts (TTFT infinite).
"""

from __future__ import annotations

import numpy as np

from controlplane.capacity.fleet import idle_ttft_s
from controlplane.capacity.profile import PerformanceProfile
from controlplane.traces.model import Trace

__all__ = ["idle_ttft", "attainable_share", "attainable_mask"]


def idle_ttft(profile: PerformanceProfile, prompt_tokens: np.ndarray) -> np.ndarray:
    """TTFT (s) of each prompt alone on an idle replica of ``profile``; inf if it never starts."""
    prompts = np.minimum(np.asarray(prompt_tokens, dtype=np.int64), profile.max_model_len - 1)
    if np.any(prompts < 1):
        raise ValueError("prompt_tokens: must be >= 1")
    sizes, inverse = np.unique(prompts, return_inverse=True)
    times = np.array([idle_ttft_s(profile, int(p)) for p in sizes.tolist()], dtype=np.float64)
    return times[inverse.reshape(-1)]


def attainable_mask(trace: Trace, profile: PerformanceProfile, ttft_slo_s: float) -> np.ndarray:
    """True for the requests whose idle-replica TTFT is within ``ttft_slo_s``."""
    if not ttft_slo_s > 0:
        raise ValueError(f"ttft_slo_s: must be > 0, got {ttft_slo_s!r}")
    if not len(trace):
        return np.zeros(0, dtype=bool)
    return idle_ttft(profile, trace.prompt_tokens) <= ttft_slo_s


def attainable_share(trace: Trace, profile: PerformanceProfile, ttft_slo_s: float) -> float:
    """Share of the trace's requests that meet ``ttft_slo_s`` on an idle replica (1.0 if empty)."""
    mask = attainable_mask(trace, profile, ttft_slo_s)
    return float(mask.mean()) if len(mask) else 1.0
