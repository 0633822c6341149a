"""Per-replica figures derived from a profile and a trace, shared by the oracle and baselines.

Owns: the lower-bound cost of a request on one replica, static peak
provisioning's replica count, and Knative's per-replica concurrency target.
Must not import: any I/O library.

Lower-bound cost. In the engine model a step costs
``decode_base_s + decode_per_seq_s * batch`` plus its prompt tokens' cost,
and a batch holds at most ``max_num_seqs`` sequences, so a request with
``P`` prompt and ``O`` output tokens occupies a replica for at least
the profile's ``prefill_s(P)`` (prefill, attention over the context included) plus
``O * (decode_base_s / max_num_seqs + decode_per_seq_s)`` (its share of ``O``
steps at the fullest batch). No schedule does the work in less replica time.
"""

from __future__ import annotations

import math

import numpy as np

from controlplane.capacity.profile import PerformanceProfile
from controlplane.traces.model import Trace

__all__ = ["prefill_work", "decode_work", "static_replicas", "knative_target", "PLANNING_UTILIZATION"]

# Share of a replica's saturated capacity planned for: the HPA and Knative
# defaults both aim at 70 %.
PLANNING_UTILIZATION = 0.7


def prefill_work(profile: PerformanceProfile, prompt_tokens: np.ndarray) -> np.ndarray:
    """Replica-seconds of prefill per request (lower bound)."""
    p = prompt_tokens.astype(np.float64)
    return p * profile.prefill_s_per_token + profile.prefill_s_per_context_token * p * (p - 1) / 2


def decode_work(profile: PerformanceProfile, output_tokens: np.ndarray) -> np.ndarray:
    """Replica-seconds of decode per request at the fullest batch (lower bound)."""
    per_token = profile.decode_base_s / profile.max_num_seqs + profile.decode_per_seq_s
    return output_tokens.astype(np.float64) * per_token


def static_replicas(
    trace: Trace, profile: PerformanceProfile, bucket_s: float = 60.0, utilization: float = PLANNING_UTILIZATION
) -> int:
    """Replicas for the busiest ``bucket_s`` of the trace at ``utilization`` of saturated capacity.

    The saturated rate is the profile's ``max_requests_per_s`` for that bucket's
    mean request size; a static fleet sized so is "provisioned for the peak".
    """
    if not len(trace):
        return 1
    idx = (trace.arrival_s // bucket_s).astype(np.int64)
    count = np.bincount(idx)
    busy = count > 0
    mean_p = np.bincount(idx, weights=trace.prompt_tokens)[busy] / count[busy]
    mean_o = np.bincount(idx, weights=trace.output_tokens)[busy] / count[busy]
    best = 1
    for n, p, o in zip(count[busy].tolist(), mean_p.tolist(), mean_o.tolist(), strict=True):
        cap = profile.max_requests_per_s(p, o) * utilization
        best = max(best, math.ceil(n / bucket_s / cap - 1e-9))
    return best


def knative_target(trace: Trace, profile: PerformanceProfile, utilization: float = PLANNING_UTILIZATION) -> float:
    """In-flight requests per replica at ``utilization`` of its saturated rate (Little's law).

    Rate: ``max_requests_per_s`` for the trace's mean request; time in system:
    the unloaded latency of that request (its prefill plus ``O`` single-sequence
    steps). The result is what Knative's container-concurrency target should be
    for this model and traffic (at least 1).
    """
    if not len(trace):
        return 1.0
    p, o = float(trace.prompt_tokens.mean()), float(trace.output_tokens.mean())
    rate = profile.max_requests_per_s(p, o) * utilization
    latency = profile.prefill_s(p) + o * profile.step_time(1)
    return max(1.0, rate * latency)
